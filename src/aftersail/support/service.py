"""Use cases of tickets (工单): open, access, list, change status, priority and owner, merge and split.

Messages are in `messages`, SLA clocks in `sla`, routing in `routing`. Services only flush; the request or
job owns the transaction. Every change leaves a `TicketEvent` and, after commit, a `realtime.ticket.*` push.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.outbox import schedule_job
from aftersail.support import csat, routing, rules, sla
from aftersail.support.audit import record
from aftersail.support.models import (
    Attachment,
    Channel,
    Priority,
    SlaClock,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from aftersail.support.policy import support_policy

WAKE_TOPIC = "support.snooze.wake"


async def do_wake_snoozed(session: AsyncSession, ticket: Ticket, *, now: datetime | None = None) -> bool:
    """A snoozed ticket whose time has come opens again (a later snooze or a reply meanwhile wins)."""
    now = now or utcnow()
    if ticket.status is not TicketStatus.SNOOZED or ticket.snoozed_until is None:
        return False
    if as_utc(ticket.snoozed_until) > now:
        return False
    await do_change_status(session, ticket, TicketStatus.OPEN, actor="system:snooze", now=now)
    return True


async def access_ticket(session: AsyncSession, tenant_id: int, ticket_id: int) -> Ticket:
    ticket = await session.scalar(select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == ticket_id))
    if ticket is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.", ticket_id=ticket_id)
    return ticket


async def find_open_ticket_for_order(session: AsyncSession, tenant_id: int, order_id: int) -> Ticket | None:
    """The latest case about this order that is not closed (a return joins the conversation it came from)."""
    return await session.scalar(
        select(Ticket)
        .where(
            Ticket.tenant_id == tenant_id,
            Ticket.order_id == order_id,
            Ticket.status != TicketStatus.CLOSED,
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    )


async def do_open_order_case(
    session: AsyncSession,
    tenant_id: int,
    *,
    order_id: int,
    customer_id: int,
    subject: str,
    language: str,
    category: str,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """The order's open case (the conversation where the buyer last wrote about it), or a new e-mail case:
    what a return or a parcel's trouble joins, so that the buyer hears of it where they already are."""
    found = await find_open_ticket_for_order(session, tenant_id, order_id)
    if found is not None:
        return found
    return await do_open_ticket(
        session,
        tenant_id,
        customer_id=customer_id,
        channel=Channel.EMAIL,
        subject=subject,
        language=language,
        category=category,
        order_id=order_id,
        actor=actor,
        now=now,
    )


async def do_open_ticket(
    session: AsyncSession,
    tenant_id: int,
    *,
    customer_id: int,
    channel: Any,
    subject: str,
    language: str,
    category: str = "other",
    order_id: int | None = None,
    live_session_id: int | None = None,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """A new case: priority from the tenant's category map, a team and an agent by routing, its first
    response and resolution clocks started. The caller adds the first message (`messages`)."""
    now = now or utcnow()
    if category not in rules.CATEGORIES:
        raise InvalidInput(f"Unknown category {category!r}.", field="category")
    policy = await support_policy(session, tenant_id)
    ticket = Ticket(
        tenant_id=tenant_id,
        subject=subject.strip()[:300] or "(no subject)",
        status=TicketStatus.OPEN,
        priority=policy.priority_for(category),
        category=category,
        channel=channel,
        language=language,
        customer_id=customer_id,
        order_id=order_id,
        live_session_id=live_session_id,
        tags=[],
        email_thread={},
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    await record(session, ticket, "opened", actor, now, channel=str(channel), priority=ticket.priority.value)
    await routing.do_route_ticket(session, ticket, actor="routing", now=now)
    await sla.start_clocks(session, ticket, policy, now=now)
    return ticket


async def do_change_status(
    session: AsyncSession,
    ticket: Ticket,
    target: TicketStatus,
    *,
    actor: str,
    snoozed_until: datetime | None = None,
    now: datetime | None = None,
) -> Ticket:
    now = now or utcnow()
    current = ticket.status
    if target is current:
        return ticket
    rules.transition(current, target)
    if target is TicketStatus.SNOOZED:
        if snoozed_until is None or snoozed_until <= now:
            raise InvalidInput(
                "Snoozing needs a time in the future to wake the ticket.", field="snoozed_until"
            )
        ticket.snoozed_until = snoozed_until
        await schedule_job(
            session,
            WAKE_TOPIC,
            {"ticket_id": ticket.id},
            snoozed_until,
            ticket.tenant_id,
            dedupe_key=f"support.wake:{ticket.id}:{snoozed_until.isoformat()}",
        )
    else:
        ticket.snoozed_until = None
    if current is TicketStatus.RESOLVED and target is TicketStatus.OPEN:
        ticket.reopen_count += 1
        ticket.resolved_at = None
    if target is TicketStatus.RESOLVED:
        ticket.resolved_at = now
    if target is TicketStatus.CLOSED:
        ticket.closed_at = now
    ticket.status = target
    ticket.updated_at = now
    await session.flush()
    await sla.on_status_change(session, ticket, current, now=now)
    await record(session, ticket, "status", actor, now, before=current.value, after=target.value)
    if target is TicketStatus.RESOLVED:
        await csat.do_invite(session, ticket, now=now)
    return ticket


async def do_set_priority(
    session: AsyncSession, ticket: Ticket, priority: Priority, *, actor: str, now: datetime | None = None
) -> Ticket:
    now = now or utcnow()
    if priority is ticket.priority:
        return ticket
    before = ticket.priority
    ticket.priority = priority
    ticket.updated_at = now
    await session.flush()
    await sla.on_priority_change(session, ticket, now=now)
    await record(session, ticket, "priority", actor, now, before=before.value, after=priority.value)
    return ticket


async def do_set_category(
    session: AsyncSession, ticket: Ticket, category: str, *, actor: str, now: datetime | None = None
) -> Ticket:
    if category not in rules.CATEGORIES:
        raise InvalidInput(f"Unknown category {category!r}.", field="category")
    before = ticket.category
    ticket.category = category
    await record(session, ticket, "category", actor, now, before=before, after=category)
    return ticket


async def do_set_tags(session: AsyncSession, ticket: Ticket, tags: Sequence[str], *, actor: str) -> Ticket:
    clean = sorted({t.strip().lower() for t in tags if t.strip()})
    if any(len(t) > 40 for t in clean):
        raise InvalidInput("A tag is at most 40 characters.", field="tags")
    before = list(ticket.tags or [])
    ticket.tags = clean
    await record(session, ticket, "tags", actor, before=before, after=clean)
    return ticket


async def do_merge_tickets(
    session: AsyncSession, target: Ticket, source: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """Move every message and attachment of `source` into `target` (same buyer only) and close `source`
    pointing at it: one case, one thread, whatever channels it came through."""
    now = now or utcnow()
    if target.id == source.id:
        raise InvalidInput("A ticket cannot be merged into itself.", field="source_id")
    if target.customer_id != source.customer_id:
        raise InvalidInput("Only tickets of the same buyer can be merged.", field="source_id")
    if source.status is TicketStatus.CLOSED or target.status is TicketStatus.CLOSED:
        raise InvalidInput("A closed ticket cannot be merged.", field="source_id")
    await session.execute(
        update(TicketMessage)
        .where(TicketMessage.tenant_id == source.tenant_id, TicketMessage.ticket_id == source.id)
        .values(ticket_id=target.id)
    )
    await session.execute(
        update(Attachment)
        .where(Attachment.tenant_id == source.tenant_id, Attachment.ticket_id == source.id)
        .values(ticket_id=target.id)
    )
    target.first_response_at = _earliest(target.first_response_at, source.first_response_at)
    target.last_customer_message_at = _latest(
        target.last_customer_message_at, source.last_customer_message_at
    )
    target.priority = min(target.priority, source.priority, key=list(Priority).index)
    target.tags = sorted({*(target.tags or []), *(source.tags or [])})
    target.order_id = target.order_id or source.order_id
    target.updated_at = now
    source.merged_into_id = target.id
    await do_change_status(session, source, TicketStatus.CLOSED, actor=actor, now=now)
    await record(session, target, "merged", actor, now, source_id=source.id)
    await sla.on_priority_change(session, target, now=now)
    return target


async def do_split_ticket(
    session: AsyncSession,
    ticket: Ticket,
    message_ids: Sequence[int],
    *,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """A new ticket of the same buyer holding the chosen messages (a second problem raised in one thread)."""
    now = now or utcnow()
    chosen = list(
        await session.scalars(
            select(TicketMessage).where(
                TicketMessage.tenant_id == ticket.tenant_id,
                TicketMessage.ticket_id == ticket.id,
                TicketMessage.id.in_(message_ids),
            )
        )
    )
    if not chosen or len(chosen) != len(set(message_ids)):
        raise InvalidInput("Choose one or more messages of this ticket to split off.", field="message_ids")
    total = await session.scalar(
        select(func.count()).where(
            TicketMessage.tenant_id == ticket.tenant_id, TicketMessage.ticket_id == ticket.id
        )
    )
    if len(chosen) >= (total or 0):
        raise InvalidInput("Leave at least one message in the original ticket.", field="message_ids")
    first = min(chosen, key=lambda m: m.id)
    new = await do_open_ticket(
        session,
        ticket.tenant_id,
        customer_id=ticket.customer_id,
        channel=first.channel,
        subject=f"{ticket.subject} (split)",
        language=ticket.language,
        category=ticket.category,
        order_id=ticket.order_id,
        actor=actor,
        now=now,
    )
    for message in chosen:
        message.ticket_id = new.id
    await session.execute(
        update(Attachment)
        .where(Attachment.tenant_id == ticket.tenant_id, Attachment.message_id.in_([m.id for m in chosen]))
        .values(ticket_id=new.id)
    )
    new.last_customer_message_at = max((m.created_at for m in chosen), default=None)
    await record(session, ticket, "split", actor, now, new_ticket_id=new.id, message_ids=sorted(message_ids))
    return new


async def ticket_clocks(session: AsyncSession, ticket: Ticket) -> list[SlaClock]:
    return list(
        await session.scalars(
            select(SlaClock)
            .where(SlaClock.tenant_id == ticket.tenant_id, SlaClock.ticket_id == ticket.id)
            .order_by(SlaClock.id)
        )
    )


async def ticket_events(session: AsyncSession, ticket: Ticket) -> list[TicketEvent]:
    return list(
        await session.scalars(
            select(TicketEvent)
            .where(TicketEvent.tenant_id == ticket.tenant_id, TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        )
    )


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)
