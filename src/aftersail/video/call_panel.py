"""Video calls beside a ticket: the ticket's calls (state, recording) with a link to each, and the form that
starts one — or why video calls are off."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.video import service
from aftersail.video.backend import video_off_reason
from aftersail.video.models import InspectionCall
from aftersail.video.pages import PURPOSE_LABELS, RECORDING_LABELS, STATUS_LABELS
from aftersail.web.services import Services

MOST = 5


@dataclass(frozen=True)
class TicketCalls:
    calls: list[InspectionCall]
    live: InspectionCall | None  # a ticket has one live call at most
    video_off: str  # why calls cannot start here, or ""
    purposes: dict[str, str]
    statuses: dict[str, str]
    recordings: dict[str, str]


async def ticket_calls(
    session: AsyncSession, tenant_id: int, ticket_id: int, services: Services
) -> TicketCalls:
    calls = await service.calls_of_ticket(session, tenant_id, ticket_id)
    state = services.extras.get("media")
    return TicketCalls(
        calls=calls[:MOST],
        live=next((c for c in calls if c.status.value != "ended"), None),
        video_off=video_off_reason(state),
        purposes={p.value: label for p, label in PURPOSE_LABELS.items()},
        statuses={s.value: label for s, label in STATUS_LABELS.items()},
        recordings={r.value: label for r, label in RECORDING_LABELS.items()},
    )
