"""SLA clocks on a migrated database (SQLite and PostgreSQL), driven by a controlled clock: due times on the
team's business hours, pauses while waiting on the buyer, the 80 % warning and breach actions fired by the
sweep — each at most once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.support import messages, sla
from aftersail.support import service as tickets
from aftersail.support.models import ClockKind, ClockState, Priority, SlaClock, TicketEvent, TicketStatus
from aftersail.tenants.models import User
from tests.support_desk import Desk, load_ticket, make_desk, open_ticket

# Monday 7 December 2026, 17:30 in Shenzhen: half an hour before the shift ends.
MONDAY_1730_CST = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


async def clocks(db: Database, desk: Desk, ticket_id: int) -> dict[ClockKind, SlaClock]:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        rows = await session.scalars(
            select(SlaClock).where(SlaClock.tenant_id == desk.tenant_id, SlaClock.ticket_id == ticket_id)
        )
        found = {}
        for row in rows:
            session.expunge(row)
            found[row.kind] = row
        return found


async def topics(db: Database, desk: Desk, prefix: str) -> list[dict[str, object]]:
    async with db.transaction(system=True) as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.tenant_id == desk.tenant_id, OutboxEvent.topic.like(prefix + "%"))
            .order_by(OutboxEvent.id)
        )
        return [{"topic": row.topic, **row.payload} for row in rows]


async def sweep(db: Database, at: datetime) -> None:
    async with db.transaction(system=True) as session:
        await sla.do_sweep_sla(session, now=at)


async def test_due_times_follow_split_shifts_and_the_sweep_warns_then_breaches(database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="damaged", at=MONDAY_1730_CST)

    ticket = await load_ticket(database, desk, ticket_id)
    assert ticket.priority is Priority.P1
    assert ticket.team_id == desk.returns_team_id
    assert ticket.assignee_id == desk.wang_id  # speaks German; both agents are equally free
    found = await clocks(database, desk, ticket_id)
    first = found[ClockKind.FIRST_RESPONSE]
    # 1 h of business time: 30 min on Monday, 30 min from 09:00 on Tuesday (Shanghai) = 01:30 UTC.
    assert first.due_at == utc(8, 1, 30)
    assert first.warn_at == utc(8, 1, 18)  # 48 min: 30 on Monday, 18 on Tuesday
    # 24 h: 30 min Monday + 7.5 h Tuesday, Wednesday, Thursday = 23 h; one more hour on Friday.
    assert found[ClockKind.RESOLUTION].due_at == utc(11, 2, 0)
    assert ticket.next_due_at == utc(8, 1, 30)

    await sweep(database, utc(8, 1, 17))
    assert await topics(database, desk, "realtime.sla.") == []

    await sweep(database, utc(8, 1, 20))
    await sweep(database, utc(8, 1, 21))  # re-runnable: warned once
    warnings = await topics(database, desk, "realtime.sla.")
    assert [w["topic"] for w in warnings] == ["realtime.sla.warning"]
    assert warnings[0]["clock"] == "first_response"

    await sweep(database, utc(8, 1, 31))
    await sweep(database, utc(8, 1, 40))
    events = [e["topic"] for e in await topics(database, desk, "realtime.sla.")]
    assert events == ["realtime.sla.warning", "realtime.sla.breached"]
    ticket = await load_ticket(database, desk, ticket_id)
    assert ticket.assignee_id == desk.li_id  # P1 breach: reassigned to the other free agent
    breached = (await clocks(database, desk, ticket_id))[ClockKind.FIRST_RESPONSE]
    assert breached.state is ClockState.BREACHED
    assert breached.breached_at == utc(8, 1, 31)


async def test_a_p2_breach_raises_priority_and_tightens_the_other_clocks(database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="usage", at=MONDAY_1730_CST)
    found = await clocks(database, desk, ticket_id)
    # P2: 4 h to a first response: 30 min Monday, 09:00–12:00 and 13:30–14:00 Tuesday (Shanghai).
    assert found[ClockKind.FIRST_RESPONSE].due_at == utc(8, 6, 0)

    await sweep(database, utc(8, 6, 1))
    ticket = await load_ticket(database, desk, ticket_id)
    assert ticket.priority is Priority.P1
    resolution = (await clocks(database, desk, ticket_id))[ClockKind.RESOLUTION]
    assert resolution.priority is Priority.P1
    assert resolution.due_at == utc(11, 2, 0)  # now 24 h from the start, not 48 h
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        kinds = list(
            await session.scalars(
                select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
            )
        )
    assert "sla_breached" in kinds and "priority" in kinds


async def test_clocks_pause_while_waiting_on_the_buyer_and_a_reply_meets_them(database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="damaged", at=MONDAY_1730_CST)

    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        wang = await session.get(User, desk.wang_id)
        await messages.do_reply(
            session,
            ticket,
            author=wang,
            body="您好，我是王，很抱歉包裹损坏。请发一张照片。",
            language="zh",
            sent_body="Hallo, ich bin Wang. Es tut mir leid. Bitte senden Sie ein Foto.",
            now=utc(7, 9, 40),  # 17:40 Shanghai
        )
        assert ticket.status is TicketStatus.PENDING_CUSTOMER
        assert ticket.first_response_at == utc(7, 9, 40)
    found = await clocks(database, desk, ticket_id)
    assert found[ClockKind.FIRST_RESPONSE].state is ClockState.MET
    assert found[ClockKind.RESOLUTION].state is ClockState.PAUSED
    assert found[ClockKind.RESOLUTION].counted_seconds == 600
    assert found[ClockKind.RESOLUTION].due_at is None

    # Nothing is due while the buyer is silent, however long.
    await sweep(database, utc(14, 0, 0))
    assert await topics(database, desk, "realtime.sla.") == []

    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        await messages.do_add_customer_message(
            session,
            ticket,
            body="Hier ist das Foto.",
            channel=ticket.channel,
            author_name="Lena Vogel",
            language="de",
            now=utc(9, 2, 0),  # Wednesday 10:00 Shanghai
        )
        assert ticket.status is TicketStatus.OPEN
        assert ticket.customer_followups == 1
    found = await clocks(database, desk, ticket_id)
    # The rest of the 24 h (23 h 50 min) from Wednesday 10:00: 6.5 h + 7.5 h + 7.5 h, then 2 h 20 min on
    # Monday 14 December → 11:20 Shanghai.
    assert found[ClockKind.RESOLUTION].state is ClockState.RUNNING
    assert found[ClockKind.RESOLUTION].due_at == utc(14, 3, 20)
    # P1 next response, 2 h: exactly to the end of Wednesday's morning shift.
    assert found[ClockKind.NEXT_RESPONSE].due_at == utc(9, 4, 0)

    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        await tickets.do_change_status(
            session, ticket, TicketStatus.RESOLVED, actor="user:1", now=utc(9, 3, 0)
        )
    found = await clocks(database, desk, ticket_id)
    assert found[ClockKind.RESOLUTION].state is ClockState.MET
    assert found[ClockKind.NEXT_RESPONSE].state is ClockState.CANCELLED
    assert [e["topic"] for e in await topics(database, desk, "support.csat")] == ["support.csat.invite"]


async def test_a_snoozed_ticket_wakes_when_its_time_comes(database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="usage", at=MONDAY_1730_CST)
    wake = utc(8, 2, 0)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        await tickets.do_change_status(
            session, ticket, TicketStatus.SNOOZED, actor="user:1", snoozed_until=wake, now=utc(7, 10, 0)
        )
    jobs = await topics(database, desk, tickets.WAKE_TOPIC)
    assert jobs == [{"topic": tickets.WAKE_TOPIC, "ticket_id": ticket_id}]
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        assert not await tickets.do_wake_snoozed(session, ticket, now=utc(8, 1, 59))  # not yet
        assert await tickets.do_wake_snoozed(session, ticket, now=wake)
        assert ticket.status is TicketStatus.OPEN and ticket.snoozed_until is None
        assert not await tickets.do_wake_snoozed(session, ticket, now=wake)  # a second job finds it awake


async def test_a_reply_after_the_due_time_is_a_breach_even_before_the_sweep(database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="damaged", at=MONDAY_1730_CST)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        wang = await session.get(User, desk.wang_id)
        # Due Tuesday 09:30 Shanghai; the reply comes at 10:00 and no sweep ran in between.
        await messages.do_reply(session, ticket, author=wang, body="抱歉。", language="zh", now=utc(8, 2, 0))
    first = (await clocks(database, desk, ticket_id))[ClockKind.FIRST_RESPONSE]
    assert first.state is ClockState.BREACHED
    assert first.breached_at == utc(8, 1, 30) and first.stopped_at == utc(8, 2, 0)
