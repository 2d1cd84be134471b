"""Routing: which team takes a ticket and which of its agents owns it; agents' capacity and presence.

Presence comes from console WebSocket heartbeats (`do_heartbeat`); an agent not heard from for
`PRESENCE_TIMEOUT` is offline (`do_sweep_presence`), and an agent going offline hands their open tickets
back to routing. The choices themselves are pure (`rules.choose_team`, `rules.choose_agent`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.outbox import emit, schedule_job
from aftersail.support import rules
from aftersail.support.audit import record
from aftersail.support.business_hours import BusinessCalendar, CalendarInvalid
from aftersail.support.models import AgentStatus, Presence, TeamRouting, Ticket, TicketStatus
from aftersail.tenants.models import Role, Team, TeamMember, User

PRESENCE_TIMEOUT = timedelta(seconds=90)
PRESENCE_TOPIC = "support.presence.check"
ROUTING_MODES = ("least_loaded", "round_robin")
HANDED_BACK = (TicketStatus.OPEN, TicketStatus.PENDING_INTERNAL)


async def do_configure_team(
    session: AsyncSession,
    tenant_id: int,
    team_id: int,
    *,
    mode: str,
    categories: list[str],
    calendar: dict[str, object],
) -> TeamRouting:
    team = await session.scalar(select(Team).where(Team.tenant_id == tenant_id, Team.id == team_id))
    if team is None:
        raise NotFound(f"Team {team_id} does not exist.", team_id=team_id)
    if mode not in ROUTING_MODES:
        raise InvalidInput(f"Routing mode is one of {', '.join(ROUTING_MODES)}.", field="mode")
    unknown = [c for c in categories if c not in rules.CATEGORIES]
    if unknown:
        raise InvalidInput(f"Unknown categories: {', '.join(unknown)}.", field="categories")
    if calendar:
        try:
            BusinessCalendar.from_dict(calendar)
        except CalendarInvalid as error:
            raise InvalidInput(f"Business hours: {error}", field="calendar") from error
    row = await session.get(TeamRouting, team_id)
    if row is None:
        row = TeamRouting(tenant_id=tenant_id, team_id=team_id)
        session.add(row)
    row.mode, row.categories, row.calendar = mode, sorted(set(categories)), dict(calendar)
    await session.flush()
    return row


async def do_set_capacity(session: AsyncSession, user: User, capacity: int) -> AgentStatus:
    if not 1 <= capacity <= 200:
        raise InvalidInput("Capacity is between 1 and 200 open tickets.", field="capacity")
    status = await _status(session, user)
    status.capacity = capacity
    await session.flush()
    return status


async def _status(session: AsyncSession, user: User) -> AgentStatus:
    status = await session.get(AgentStatus, user.id)
    if status is None:
        status = AgentStatus(
            tenant_id=user.tenant_id, user_id=user.id, capacity=20, presence=Presence.OFFLINE
        )
        session.add(status)
        await session.flush()
    return status


async def do_heartbeat(
    session: AsyncSession, user: User, presence: Presence, *, now: datetime | None = None
) -> AgentStatus:
    """The console says the agent is here (online) or stepped away; going offline hands tickets back."""
    now = now or utcnow()
    status = await _status(session, user)
    before = status.presence
    status.presence, status.seen_at = presence, now
    await session.flush()
    if presence is not Presence.OFFLINE:
        # The console beats every 30 s; if the beats stop, this job finds the agent silent (rule 3).
        bucket = int(now.timestamp() // PRESENCE_TIMEOUT.total_seconds())
        await schedule_job(
            session,
            PRESENCE_TOPIC,
            {"user_id": user.id},
            now + PRESENCE_TIMEOUT + timedelta(seconds=1),
            user.tenant_id,
            dedupe_key=f"support.presence:{user.id}:{bucket}",
        )
    if before is not presence:
        await emit(
            session,
            "realtime.presence",
            {"user_id": user.id, "presence": presence.value},
            tenant_id=user.tenant_id,
        )
        if presence is Presence.OFFLINE:
            await _hand_back(session, user, now)
        elif presence is Presence.ONLINE:
            await do_route_waiting(session, user.tenant_id, now=now)
    return status


async def do_sweep_presence(
    session: AsyncSession, *, now: datetime | None = None, user_id: int | None = None
) -> int:
    """Agents whose console fell silent are offline; their open tickets go back to routing."""
    now = now or utcnow()
    query = select(AgentStatus).where(
        AgentStatus.presence != Presence.OFFLINE,
        (AgentStatus.seen_at.is_(None)) | (AgentStatus.seen_at < now - PRESENCE_TIMEOUT),
    )
    if user_id is not None:
        query = query.where(AgentStatus.user_id == user_id)
    stale = list(await session.scalars(query))
    for status in stale:
        user = await session.get(User, status.user_id)
        if user is not None:
            await do_heartbeat(session, user, Presence.OFFLINE, now=now)
    return len(stale)


async def _hand_back(session: AsyncSession, user: User, now: datetime) -> None:
    tickets = await session.scalars(
        select(Ticket).where(
            Ticket.tenant_id == user.tenant_id, Ticket.assignee_id == user.id, Ticket.status.in_(HANDED_BACK)
        )
    )
    for ticket in list(tickets):
        await do_route_ticket(session, ticket, actor="routing:offline", now=now, exclude_user_id=user.id)


async def do_route_waiting(session: AsyncSession, tenant_id: int, *, now: datetime | None = None) -> int:
    """Unassigned open tickets, oldest first, get an agent now that one may be free."""
    waiting = list(
        await session.scalars(
            select(Ticket)
            .where(
                Ticket.tenant_id == tenant_id, Ticket.assignee_id.is_(None), Ticket.status.in_(HANDED_BACK)
            )
            .order_by(Ticket.priority, Ticket.created_at)
            .limit(100)
        )
    )
    routed = 0
    for ticket in waiting:
        if await do_route_ticket(session, ticket, actor="routing", now=now):
            routed += 1
    return routed


async def do_route_ticket(
    session: AsyncSession,
    ticket: Ticket,
    *,
    actor: str,
    now: datetime | None = None,
    exclude_user_id: int | None = None,
) -> int | None:
    """Give the ticket a team (if it has none) and an agent of that team who is online and has room;
    without one it stays unassigned in the team's queue. Returns the agent's id or None."""
    now = now or utcnow()
    if ticket.team_id is None:
        ticket.team_id = await _choose_team(session, ticket)
    previous = ticket.assignee_id
    agent_id = await _choose_agent(session, ticket, exclude_user_id) if ticket.team_id else None
    if agent_id is None and exclude_user_id is None:
        return None  # leave it where it is: nobody free yet
    ticket.assignee_id = agent_id
    if agent_id is not None and ticket.team_id is not None:
        routing_row = await session.get(TeamRouting, ticket.team_id)
        if routing_row is not None:
            routing_row.last_assigned_user_id = agent_id
    await session.flush()
    if agent_id != previous:
        await record(
            session, ticket, "assigned", actor, now, before=previous, after=agent_id, team=ticket.team_id
        )
    return agent_id


async def do_assign(
    session: AsyncSession, ticket: Ticket, *, user_id: int | None, actor: str, now: datetime | None = None
) -> Ticket:
    """An agent or admin assigns by hand (None: back to the queue)."""
    if user_id is not None:
        user = await session.scalar(
            select(User).where(User.tenant_id == ticket.tenant_id, User.id == user_id)
        )
        if user is None or not user.is_active or user.role not in (Role.AGENT, Role.ADMIN):
            raise InvalidInput("Assign the ticket to an active agent of this team.", field="assignee_id")
    previous = ticket.assignee_id
    ticket.assignee_id = user_id
    await session.flush()
    if previous != user_id:
        await record(session, ticket, "assigned", actor, now, before=previous, after=user_id)
    return ticket


async def do_assign_team(session: AsyncSession, ticket: Ticket, *, team_id: int, actor: str) -> Ticket:
    team = await session.scalar(select(Team).where(Team.tenant_id == ticket.tenant_id, Team.id == team_id))
    if team is None:
        raise InvalidInput(f"Team {team_id} does not exist.", field="team_id")
    before = ticket.team_id
    ticket.team_id, ticket.assignee_id = team_id, None
    await record(session, ticket, "team", actor, before=before, after=team_id)
    await do_route_ticket(session, ticket, actor=actor)
    return ticket


async def _choose_team(session: AsyncSession, ticket: Ticket) -> int | None:
    rows = await session.execute(
        select(Team, TeamRouting)
        .outerjoin(TeamRouting, TeamRouting.team_id == Team.id)
        .where(Team.tenant_id == ticket.tenant_id)
    )
    candidates = [
        rules.TeamCandidate(
            team_id=team.id,
            categories=frozenset(routing_row.categories if routing_row else ()),
            languages=frozenset(team.languages or ()),
        )
        for team, routing_row in rows
    ]
    return rules.choose_team(candidates, category=ticket.category, language=ticket.language)


async def _choose_agent(session: AsyncSession, ticket: Ticket, exclude_user_id: int | None) -> int | None:
    assert ticket.team_id is not None
    members = list(
        await session.execute(
            select(User, AgentStatus)
            .join(TeamMember, TeamMember.user_id == User.id)
            .outerjoin(AgentStatus, AgentStatus.user_id == User.id)
            .where(
                TeamMember.team_id == ticket.team_id,
                User.tenant_id == ticket.tenant_id,
                User.is_active.is_(True),
                User.role.in_((Role.AGENT, Role.ADMIN)),
            )
        )
    )
    counted = await session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.tenant_id == ticket.tenant_id,
            Ticket.assignee_id.in_([u.id for u, _ in members]),
            Ticket.status.in_(rules.LIVE),
            Ticket.id != ticket.id,
        )
        .group_by(Ticket.assignee_id)
    )
    open_counts = {assignee_id: int(count) for assignee_id, count in counted}
    loads = [
        rules.AgentLoad(
            user_id=user.id,
            presence=status.presence if status else Presence.OFFLINE,
            capacity=status.capacity if status else 20,
            open_tickets=int(open_counts.get(user.id, 0)),
            languages=frozenset([*(user.languages or ()), user.locale]),
        )
        for user, status in members
        if user.id != exclude_user_id
    ]
    routing_row = await session.get(TeamRouting, ticket.team_id)
    return rules.choose_agent(
        loads,
        language=ticket.language,
        mode=routing_row.mode if routing_row else "least_loaded",
        last_assigned_user_id=routing_row.last_assigned_user_id if routing_row else None,
    )
