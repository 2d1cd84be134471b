"""SLA clocks of tickets: started, paused while waiting on the buyer, resumed, met or breached.

Each clock is a `sla_clocks` row holding its warning and due instants (business time on the team's
calendar, `business_hours`); a durable `support.sla.check` job is scheduled at each instant and
`do_sweep_sla` re-checks every clock that is due, so a restart forgets nothing (rule 3). A clock counts
business seconds in runs: `counted_seconds` before the current run, which began at `run_started_at`.
See docs/subsystems/sla.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.outbox import emit, schedule_job
from aftersail.support import routing, rules
from aftersail.support.audit import record
from aftersail.support.business_hours import (
    ALWAYS_OPEN,
    BusinessCalendar,
    add_business_time,
    business_time_between,
)
from aftersail.support.models import ClockKind, ClockState, SlaClock, TeamRouting, Ticket, TicketStatus
from aftersail.support.policy import support_policy
from aftersail.support.rules import SupportPolicy

CHECK_TOPIC = "support.sla.check"
LIVE_STATES = (ClockState.RUNNING, ClockState.PAUSED, ClockState.BREACHED)
SWEEP_BATCH = 500
HANDOFF_FALLBACK = timedelta(hours=8)  # a business day, when a priority has no next-response target


async def calendar_for(session: AsyncSession, ticket: Ticket, policy: SupportPolicy) -> BusinessCalendar:
    """The ticket's team's business hours, else the tenant's, else around the clock."""
    definition: dict[str, object] = {}
    if ticket.team_id is not None:
        routing_row = await session.get(TeamRouting, ticket.team_id)
        if routing_row is not None and routing_row.calendar:
            definition = dict(routing_row.calendar)
    if not definition and policy.calendar:
        definition = dict(policy.calendar)
    return BusinessCalendar.from_dict(definition) if definition else ALWAYS_OPEN


async def start_clocks(
    session: AsyncSession, ticket: Ticket, policy: SupportPolicy, *, now: datetime
) -> None:
    """A new ticket: first response and resolution clocks (where its priority has targets)."""
    calendar = await calendar_for(session, ticket, policy)
    for kind in (ClockKind.FIRST_RESPONSE, ClockKind.RESOLUTION):
        await _start(session, ticket, policy, calendar, kind, now)
    await _refresh_next_due(session, ticket)


async def _start(
    session: AsyncSession,
    ticket: Ticket,
    policy: SupportPolicy,
    calendar: BusinessCalendar,
    kind: ClockKind,
    now: datetime,
) -> SlaClock | None:
    target = policy.target(ticket.priority, kind)
    if target is None:
        return None
    clock = SlaClock(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        kind=kind,
        state=ClockState.RUNNING,
        priority=ticket.priority,
        target_seconds=int(target.total_seconds()),
        started_at=now,
        counted_seconds=0,
        run_started_at=now,
    )
    session.add(clock)
    await session.flush()
    await _plan(session, clock, calendar, policy, now)
    return clock


async def _plan(
    session: AsyncSession, clock: SlaClock, calendar: BusinessCalendar, policy: SupportPolicy, now: datetime
) -> None:
    """Work out a running clock's warning and due instants from what is left, and schedule their checks."""
    assert clock.run_started_at is not None
    left = timedelta(seconds=clock.target_seconds - clock.counted_seconds)
    warn_left = timedelta(seconds=clock.target_seconds * policy.warn_fraction - clock.counted_seconds)
    start = as_utc(clock.run_started_at)
    clock.due_at = add_business_time(calendar, start, max(left, timedelta(0)))
    clock.warn_at = add_business_time(calendar, start, max(warn_left, timedelta(0)))
    await session.flush()
    for instant in (clock.warn_at, clock.due_at):
        if clock.breached_at is not None and instant == clock.due_at:
            continue
        await schedule_job(
            session,
            CHECK_TOPIC,
            {"clock_id": clock.id},
            max(instant, now),
            clock.tenant_id,
            dedupe_key=f"support.sla:{clock.id}:{instant.isoformat()}",
        )


async def _live_clocks(session: AsyncSession, ticket: Ticket, *kinds: ClockKind) -> list[SlaClock]:
    query = select(SlaClock).where(
        SlaClock.tenant_id == ticket.tenant_id,
        SlaClock.ticket_id == ticket.id,
        SlaClock.state.in_(LIVE_STATES),
        SlaClock.stopped_at.is_(None),
    )
    if kinds:
        query = query.where(SlaClock.kind.in_(kinds))
    return list(await session.scalars(query.order_by(SlaClock.id)))


async def _pause(session: AsyncSession, clock: SlaClock, calendar: BusinessCalendar, now: datetime) -> None:
    if clock.run_started_at is None:
        return  # already paused
    clock.counted_seconds += int(
        business_time_between(calendar, as_utc(clock.run_started_at), now).total_seconds()
    )
    clock.run_started_at = None
    clock.due_at = None
    clock.warn_at = None
    if clock.state is ClockState.RUNNING:
        clock.state = ClockState.PAUSED


async def _resume(
    session: AsyncSession, clock: SlaClock, calendar: BusinessCalendar, policy: SupportPolicy, now: datetime
) -> None:
    if clock.run_started_at is not None:
        return
    clock.run_started_at = now
    if clock.state is ClockState.PAUSED:
        clock.state = ClockState.RUNNING
    await _plan(session, clock, calendar, policy, now)


async def _stop(session: AsyncSession, clock: SlaClock, calendar: BusinessCalendar, now: datetime) -> None:
    """Met, or met late: the clock stops for good and its checks find nothing to do. A clock that ran past
    its target before the sweep saw it (jobs lagging, the dispatcher down) is breached as of its due time."""
    due_at = clock.due_at
    await _pause(session, clock, calendar, now)
    if clock.breached_at is None and clock.counted_seconds > clock.target_seconds:
        clock.breached_at = as_utc(due_at) if due_at is not None else now
        ticket = await session.get(Ticket, clock.ticket_id)
        if ticket is not None:
            await record(session, ticket, "sla_breached", "sla", now, clock=clock.kind.value, late=True)
    clock.state = ClockState.BREACHED if clock.breached_at is not None else ClockState.MET
    clock.stopped_at = now


async def on_public_reply(session: AsyncSession, ticket: Ticket, *, now: datetime) -> None:
    """The first public reply meets the first-response clock; any public reply meets the next-response one."""
    clocks = await _live_clocks(session, ticket, ClockKind.FIRST_RESPONSE, ClockKind.NEXT_RESPONSE)
    if clocks:
        calendar = await calendar_for(session, ticket, await support_policy(session, ticket.tenant_id))
        for clock in clocks:
            await _stop(session, clock, calendar, now)
    await _refresh_next_due(session, ticket)


async def on_customer_message(
    session: AsyncSession, ticket: Ticket, before: TicketStatus, *, now: datetime
) -> None:
    """A buyer who already had an answer writes again: the next-response clock starts (unless one runs).
    A buyer answering a pending or resolved ticket resumes or reopens its clocks."""
    policy = await support_policy(session, ticket.tenant_id)
    calendar = await calendar_for(session, ticket, policy)
    if before is not ticket.status:
        await _follow_status(session, ticket, before, calendar, policy, now)
    # While the assistant holds the case it answers each message itself: people's next-response clock
    # starts when it hands the case over (`do_start_handoff_clock`), not at every buyer message (ADR 0018).
    if (
        ticket.first_response_at is not None
        and not ticket.assistant_active
        and not await _live_clocks(session, ticket, ClockKind.NEXT_RESPONSE)
    ):
        await _start(session, ticket, policy, calendar, ClockKind.NEXT_RESPONSE, now)
    await _refresh_next_due(session, ticket)


async def on_status_change(
    session: AsyncSession, ticket: Ticket, before: TicketStatus, *, now: datetime
) -> None:
    policy = await support_policy(session, ticket.tenant_id)
    calendar = await calendar_for(session, ticket, policy)
    await _follow_status(session, ticket, before, calendar, policy, now)
    await _refresh_next_due(session, ticket)


async def _follow_status(
    session: AsyncSession,
    ticket: Ticket,
    before: TicketStatus,
    calendar: BusinessCalendar,
    policy: SupportPolicy,
    now: datetime,
) -> None:
    after = ticket.status
    if after is TicketStatus.CLOSED:
        for clock in await _live_clocks(session, ticket):
            await _pause(session, clock, calendar, now)
            clock.state = ClockState.BREACHED if clock.breached_at else ClockState.CANCELLED
            clock.stopped_at = now
        return
    if after is TicketStatus.RESOLVED:
        for clock in await _live_clocks(session, ticket):
            if clock.kind is ClockKind.RESOLUTION:
                await _stop(session, clock, calendar, now)
            else:  # nobody waits for a response on a solved case
                await _pause(session, clock, calendar, now)
                clock.state = ClockState.BREACHED if clock.breached_at else ClockState.CANCELLED
                clock.stopped_at = now
        return
    if before is TicketStatus.RESOLVED:  # reopened: the resolution clock counts on from where it stopped
        stopped = await session.scalar(
            select(SlaClock)
            .where(
                SlaClock.tenant_id == ticket.tenant_id,
                SlaClock.ticket_id == ticket.id,
                SlaClock.kind == ClockKind.RESOLUTION,
            )
            .order_by(SlaClock.id.desc())
            .limit(1)
        )
        if stopped is not None and stopped.stopped_at is not None:
            stopped.stopped_at = None
            stopped.state = ClockState.BREACHED if stopped.breached_at else ClockState.PAUSED
    waiting = after in rules.WAITING_ON_CUSTOMER
    for clock in await _live_clocks(session, ticket):
        if waiting:
            await _pause(session, clock, calendar, now)
        else:
            await _resume(session, clock, calendar, policy, now)


async def on_priority_change(session: AsyncSession, ticket: Ticket, *, now: datetime) -> None:
    """New targets for the clocks still counting: what already counted stays counted."""
    policy = await support_policy(session, ticket.tenant_id)
    calendar = await calendar_for(session, ticket, policy)
    for clock in await _live_clocks(session, ticket):
        target = policy.target(ticket.priority, clock.kind)
        if target is None:
            await _pause(session, clock, calendar, now)
            clock.state, clock.stopped_at = ClockState.CANCELLED, now
            continue
        clock.priority = ticket.priority
        clock.target_seconds = int(target.total_seconds())
        if clock.run_started_at is not None:
            await _pause(session, clock, calendar, now)
            await _resume(session, clock, calendar, policy, now)
    await _refresh_next_due(session, ticket)


async def _refresh_next_due(session: AsyncSession, ticket: Ticket) -> None:
    await session.flush()
    due = await session.scalar(
        select(SlaClock.due_at)
        .where(
            SlaClock.tenant_id == ticket.tenant_id,
            SlaClock.ticket_id == ticket.id,
            SlaClock.state.in_(LIVE_STATES),
            SlaClock.stopped_at.is_(None),
            SlaClock.due_at.is_not(None),
        )
        .order_by(SlaClock.due_at)
        .limit(1)
    )
    ticket.next_due_at = due


async def do_sweep_sla(
    session: AsyncSession, *, now: datetime | None = None, clock_id: int | None = None
) -> int:
    """Warn at 80 % and act on breaches for every running clock whose instant has come (or the one clock).
    Re-runnable: a clock is warned and breached at most once. Returns how many clocks changed."""
    now = now or utcnow()
    query = select(SlaClock).where(
        SlaClock.state.in_((ClockState.RUNNING, ClockState.BREACHED)),
        SlaClock.stopped_at.is_(None),
        or_(
            (SlaClock.warn_at <= now) & SlaClock.warned_at.is_(None),
            (SlaClock.due_at <= now) & SlaClock.breached_at.is_(None),
        ),
    )
    if clock_id is not None:
        query = query.where(SlaClock.id == clock_id)
    changed = 0
    for clock in list(await session.scalars(query.order_by(SlaClock.due_at).limit(SWEEP_BATCH))):
        ticket = await session.get(Ticket, clock.ticket_id)
        if ticket is None:
            continue
        if clock.warned_at is None and clock.warn_at is not None and as_utc(clock.warn_at) <= now:
            clock.warned_at = now
            await _announce(session, ticket, clock, "warning")
        if clock.breached_at is None and clock.due_at is not None and as_utc(clock.due_at) <= now:
            clock.breached_at = now
            clock.state = ClockState.BREACHED
            await _breach(session, ticket, clock, now)
        changed += 1
    return changed


async def _breach(session: AsyncSession, ticket: Ticket, clock: SlaClock, now: datetime) -> None:
    policy = await support_policy(session, ticket.tenant_id)
    actions = policy.breach_actions.get(clock.priority, ("notify",))
    await record(session, ticket, "sla_breached", "sla", now, clock=clock.kind.value, actions=list(actions))
    if "notify" in actions:
        await _announce(session, ticket, clock, "breached")
    if "raise_priority" in actions and rules.raised(ticket.priority) is not ticket.priority:
        before = ticket.priority
        ticket.priority = rules.raised(ticket.priority)
        await record(
            session, ticket, "priority", "sla", now, before=before.value, after=ticket.priority.value
        )
        # The breached clock keeps its target (it has already failed); the others tighten.
        calendar = await calendar_for(session, ticket, policy)
        for other in await _live_clocks(session, ticket):
            target = policy.target(ticket.priority, other.kind)
            if other.id == clock.id or other.breached_at is not None or target is None:
                continue
            other.priority, other.target_seconds = ticket.priority, int(target.total_seconds())
            if other.run_started_at is not None:
                await _pause(session, other, calendar, now)
                await _resume(session, other, calendar, policy, now)
    if "reassign" in actions:
        await routing.do_route_ticket(
            session, ticket, actor="sla", now=now, exclude_user_id=ticket.assignee_id
        )
    await _refresh_next_due(session, ticket)


async def _announce(session: AsyncSession, ticket: Ticket, clock: SlaClock, what: str) -> None:
    await emit(
        session,
        f"realtime.sla.{what}",
        {
            "ticket_id": ticket.id,
            "clock": clock.kind.value,
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "assignee_id": ticket.assignee_id,
            "team_id": ticket.team_id,
        },
        tenant_id=ticket.tenant_id,
    )


async def handoff_due(session: AsyncSession, ticket: Ticket, *, now: datetime) -> datetime:
    """When a person owes the buyer an answer if the case goes to people `now`: the next-response target of
    the ticket's priority in its team's business hours (a day of them when the priority has none)."""
    policy = await support_policy(session, ticket.tenant_id)
    calendar = await calendar_for(session, ticket, policy)
    target = policy.target(ticket.priority, ClockKind.NEXT_RESPONSE) or HANDOFF_FALLBACK
    return add_business_time(calendar, now, target)


async def do_start_handoff_clock(session: AsyncSession, ticket: Ticket, *, now: datetime) -> None:
    """The assistant handed the case to people after answering the buyer: a next-response clock runs from
    `now` (unless one already does), so the inbox shows when a person must reply. Call after the
    assistant's reply, which stops the response clocks."""
    policy = await support_policy(session, ticket.tenant_id)
    calendar = await calendar_for(session, ticket, policy)
    if not await _live_clocks(session, ticket, ClockKind.NEXT_RESPONSE):
        await _start(session, ticket, policy, calendar, ClockKind.NEXT_RESPONSE, now)
    await _refresh_next_due(session, ticket)
