"""Routing on a migrated database (SQLite and PostgreSQL): tickets wait in the team's queue until an agent
is online, go to the least-loaded agent with room, follow capacity, and go back to routing when their agent
goes offline — told by a heartbeat or found silent by the presence check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.support import routing
from aftersail.support.models import AgentStatus, Presence, Ticket
from aftersail.tenants.models import User
from tests.support_desk import Desk, load_ticket, make_desk, open_ticket

NOON = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # Monday 12:00 in Shenzhen


async def beat(db: Database, desk: Desk, user_id: int, presence: Presence, at: datetime) -> None:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        await routing.do_heartbeat(session, user, presence, now=at)


async def assignees(db: Database, desk: Desk) -> dict[int, int | None]:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        rows = await session.execute(
            select(Ticket.id, Ticket.assignee_id).where(Ticket.tenant_id == desk.tenant_id)
        )
        return {ticket_id: assignee for ticket_id, assignee in rows}


async def test_tickets_wait_for_an_agent_then_spread_by_load(database: Database) -> None:
    desk = await make_desk(database, online=())
    waiting = [await open_ticket(database, desk, category="return", at=NOON) for _ in range(3)]
    assert set((await assignees(database, desk)).values()) == {None}
    assert (await load_ticket(database, desk, waiting[0])).team_id == desk.returns_team_id

    await beat(database, desk, desk.li_id, Presence.ONLINE, NOON + timedelta(minutes=1))
    assert set((await assignees(database, desk)).values()) == {desk.li_id}  # the queue drains to Li

    await beat(database, desk, desk.wang_id, Presence.ONLINE, NOON + timedelta(minutes=2))
    more = [await open_ticket(database, desk, category="return", at=NOON) for _ in range(3)]
    owners = await assignees(database, desk)
    assert [owners[t] for t in more] == [desk.wang_id] * 3  # least loaded: Wang had none

    async with database.transaction(tenant_id=desk.tenant_id) as session:
        li = await session.get(User, desk.li_id)
        assert li is not None
        await routing.do_set_capacity(session, li, 3)
    extra = await open_ticket(database, desk, category="return", at=NOON)
    assert (await assignees(database, desk))[extra] == desk.wang_id  # Li is full


async def test_an_agent_going_offline_hands_open_tickets_back(database: Database) -> None:
    desk = await make_desk(database, online=("wang", "li"))
    ticket_id = await open_ticket(database, desk, category="damaged", at=NOON)
    assert (await load_ticket(database, desk, ticket_id)).assignee_id == desk.wang_id

    await beat(database, desk, desk.wang_id, Presence.OFFLINE, NOON + timedelta(minutes=5))
    assert (await load_ticket(database, desk, ticket_id)).assignee_id == desk.li_id

    # Li's console falls silent: the presence check finds it and nobody is left to take the case.
    async with database.transaction(system=True) as session:
        status = await session.get(AgentStatus, desk.li_id)
        assert status is not None
        silent_since = status.seen_at
        assert silent_since is not None
        swept = await routing.do_sweep_presence(
            session, user_id=desk.li_id, now=silent_since + routing.PRESENCE_TIMEOUT / 2
        )
        assert swept == 0  # not silent long enough
        swept = await routing.do_sweep_presence(
            session, user_id=desk.li_id, now=silent_since + routing.PRESENCE_TIMEOUT * 2
        )
        assert swept == 1
    ticket = await load_ticket(database, desk, ticket_id)
    assert ticket.assignee_id is None and ticket.team_id == desk.returns_team_id
