"""The ticket audit trail: one `TicketEvent` per change and, after commit, a push to open consoles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.outbox import emit
from aftersail.support.models import Ticket, TicketEvent


async def record(
    session: AsyncSession, ticket: Ticket, kind: str, actor: str, now: datetime | None = None, **data: Any
) -> None:
    """The audit row of a change and the push that tells open consoles about it (after commit)."""
    session.add(
        TicketEvent(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.id,
            kind=kind,
            actor=actor,
            data=data,
            created_at=now or utcnow(),
        )
    )
    await emit(
        session,
        "realtime.ticket.changed",
        {
            "ticket_id": ticket.id,
            "kind": kind,
            "status": ticket.status.value,
            "priority": ticket.priority.value,
        },
        tenant_id=ticket.tenant_id,
    )
