"""The returns an agent sees beside a ticket: those opened on it, those of the buyer's orders shown in the
panel, and those its audit trail names. Reads only; the case page and the services act."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.returns.cases import shown_signals
from aftersail.returns.models import ReturnRequest
from aftersail.returns.rules import Outcome, ReturnStatus

MOST = 10  # a buyer with more returns than this has them all on the returns list


@dataclass(frozen=True, slots=True)
class PanelReturn:
    ret: ReturnRequest
    linked: bool  # opened on (or joined to) this ticket
    signals: list[str]  # fraud signals to badge: shown, never acted on

    @property
    def needs_review(self) -> bool:
        """Sent to a person by the policy and not decided yet."""
        return self.ret.status is ReturnStatus.REQUESTED and self.ret.outcome is Outcome.MANUAL_REVIEW

    @property
    def has_label(self) -> bool:
        return bool(self.ret.label_sha256)


async def ticket_returns(
    session: AsyncSession,
    tenant_id: int,
    ticket_id: int,
    *,
    order_ids: Iterable[int] = (),
    return_ids: Iterable[int] = (),
) -> list[PanelReturn]:
    """The ticket's returns, those of `order_ids`, and `return_ids` (named by the ticket's events); the
    ticket's own first, then newest first, at most MOST."""
    wanted = [ReturnRequest.ticket_id == ticket_id]
    if orders := sorted(set(order_ids)):
        wanted.append(ReturnRequest.order_id.in_(orders))
    if named := sorted(set(return_ids)):
        wanted.append(ReturnRequest.id.in_(named))
    rows = await session.scalars(
        select(ReturnRequest)
        .where(ReturnRequest.tenant_id == tenant_id, or_(*wanted))
        .order_by(ReturnRequest.requested_at.desc(), ReturnRequest.id.desc())
        .limit(MOST + len(named))
    )
    found = [PanelReturn(ret, ret.ticket_id == ticket_id, shown_signals(ret)) for ret in rows.all()]
    found.sort(key=lambda item: not item.linked)  # stable: newest first within each group
    return found
