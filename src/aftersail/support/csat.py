"""CSAT: after resolution the buyer gets a one-click 1–5 rating link in their language; the rating (and an
optional comment) is kept once per ticket, the last answer winning while the ticket stays resolved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.outbox import schedule_job
from aftersail.support.audit import record
from aftersail.support.models import CsatRating, Ticket, TicketStatus
from aftersail.support.policy import support_policy

INVITE_TOPIC = "support.csat.invite"
MAX_COMMENT_CHARS = 2_000
RATEABLE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


async def do_invite(session: AsyncSession, ticket: Ticket, *, now: datetime | None = None) -> None:
    """Ask the buyer once per resolution (a reopened and re-resolved ticket asks again)."""
    if not (await support_policy(session, ticket.tenant_id)).csat_enabled:
        return
    now = now or utcnow()
    await schedule_job(
        session,
        INVITE_TOPIC,
        {"ticket_id": ticket.id},
        now,
        ticket.tenant_id,
        dedupe_key=f"support.csat:{ticket.id}:{ticket.reopen_count}",
    )


async def do_rate(
    session: AsyncSession, ticket: Ticket, *, rating: int, comment: str = "", now: datetime | None = None
) -> CsatRating:
    if ticket.status not in RATEABLE:
        raise InvalidInput("This case is still open; you can rate it once it is resolved.", field="ticket")
    if not 1 <= rating <= 5:
        raise InvalidInput("The rating is a whole number from 1 to 5.", field="rating")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"The comment is at most {MAX_COMMENT_CHARS:,} characters.", field="comment")
    now = now or utcnow()
    row = await session.get(CsatRating, ticket.id)
    if row is None:
        row = CsatRating(
            tenant_id=ticket.tenant_id, ticket_id=ticket.id, rating=rating, language=ticket.language
        )
        session.add(row)
    row.rating, row.created_at = rating, now
    if comment or not row.comment:
        row.comment = comment
    await session.flush()
    await record(session, ticket, "csat", "customer", now, rating=rating)
    return row
