"""The support report on a migrated database (SQLite and PostgreSQL): tickets built through the support
services at controlled times, then the report's figures checked to the second, for the period (three days
in Shanghai), the three days before, per team, agent and priority, and per day.

The scenario (UTC times; Shanghai is UTC+8; 'other' tickets go to the 24×7 inquiries team, whose P3
clocks give 8 h to a first response; 'damaged' ones to the returns team):

    previous period (4–6 Dec, Shanghai)
      T0  opened 5 Dec 02:00, answered 02:05, resolved 02:30 (first contact), rated 2
      T7  opened 6 Dec 10:00, answered 10:10, resolved 7 Dec 10:00 (first contact) ← resolved in the period
    period (7–9 Dec, Shanghai)
      T1  opened 7 Dec 02:00, answered 02:20, resolved 03:00 (first contact), rated 5
      T8  opened 7 Dec 02:30, merged into T1 at 02:40                            ← never counted
      T2  opened 7 Dec 06:00, answered 07:00, buyer writes 08:00, answered 08:30, resolved 09:00, rated 3
      T3  opened 8 Dec 01:00, first response breached 09:30, answered 11:00, resolved 12:00, reopened by the
          buyer 13:00, resolved 9 Dec 02:00, rated 4
      T4  opened 9 Dec 01:00 (damaged → returns team, Wang; P1: 1 h), answered 02:30 before any sweep
          marked the clock breached (late all the same), still open
      T5  opened 9 Dec 15:00 (23:00 in Shanghai), not answered
      T6  opened 9 Dec 16:30 (00:30 on the 10th in Shanghai), answered 16:40      ← after the period
    another tenant's ticket on 7 Dec                                               ← never counted
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from aftersail.analytics import service as analytics
from aftersail.analytics.rules import Metrics
from aftersail.analytics.service import SupportReport
from aftersail.kit.db import Database
from aftersail.support import csat, messages, sla
from aftersail.support import policy as policies
from aftersail.support import service as tickets
from aftersail.support.models import ClockKind, ClockState, Priority, TicketStatus
from aftersail.support.rules import DEFAULT_BREACH_ACTIONS, SupportPolicy
from aftersail.tenants.models import User
from tests.support_desk import Desk, make_desk, open_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


class Scenario:
    def __init__(self, db: Database, desk: Desk) -> None:
        self.db, self.desk = db, desk

    async def open(self, at: datetime, category: str = "other") -> int:
        return await open_ticket(self.db, self.desk, category=category, at=at)

    async def reply(self, ticket_id: int, agent_id: int, at: datetime) -> None:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, self.desk.tenant_id, ticket_id)
            author = await session.get(User, agent_id)
            await messages.do_reply(
                session,
                ticket,
                author=author,
                body="您好，我们来处理。",
                language="zh",
                sent_body="Hallo!",
                now=at,
            )

    async def buyer_writes(self, ticket_id: int, at: datetime) -> None:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, self.desk.tenant_id, ticket_id)
            await messages.do_add_customer_message(
                session, ticket, body="Noch eine Frage.", channel=ticket.channel, author_name="Lena", now=at
            )

    async def resolve(self, ticket_id: int, at: datetime) -> None:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, self.desk.tenant_id, ticket_id)
            await tickets.do_change_status(session, ticket, TicketStatus.RESOLVED, actor="agent", now=at)

    async def rate(self, ticket_id: int, rating: int, at: datetime) -> None:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, self.desk.tenant_id, ticket_id)
            await csat.do_rate(session, ticket, rating=rating, now=at)

    async def merge(self, target_id: int, source_id: int, at: datetime) -> None:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            target = await tickets.access_ticket(session, self.desk.tenant_id, target_id)
            source = await tickets.access_ticket(session, self.desk.tenant_id, source_id)
            await tickets.do_merge_tickets(session, target, source, actor="agent", now=at)

    async def sweep_first_response(self, ticket_id: int, at: datetime) -> None:
        """Checks this ticket's first-response clock only (other tests' clocks are left alone)."""
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, self.desk.tenant_id, ticket_id)
            [clock] = [
                c for c in await tickets.ticket_clocks(session, ticket) if c.kind is ClockKind.FIRST_RESPONSE
            ]
            assert await sla.do_sweep_sla(session, now=at, clock_id=clock.id) == 1

    async def report(
        self, group_by: str, first: date = date(2026, 12, 7), last: date = date(2026, 12, 9)
    ) -> SupportReport:
        async with self.db.transaction(tenant_id=self.desk.tenant_id, readonly=True) as session:
            return await analytics.support_report(
                session,
                self.desk.tenant_id,
                first_day=first,
                last_day=last,
                time_zone=SHANGHAI,
                group_by=group_by,
            )


@pytest.fixture(scope="module")
async def scenario(database: Database) -> Scenario:
    desk = await make_desk(database)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        # A breached P3 clock only notifies here, so every ticket keeps the priority it opened with.
        policy = SupportPolicy(breach_actions={**DEFAULT_BREACH_ACTIONS, Priority.P3: ("notify",)})
        await policies.do_set_support_policy(session, desk.tenant_id, policy)
    s = Scenario(database, desk)
    zhao, wang = desk.zhao_id, desk.wang_id

    t0 = await s.open(utc(5, 2))
    await s.reply(t0, zhao, utc(5, 2, 5))
    await s.resolve(t0, utc(5, 2, 30))
    await s.rate(t0, 2, utc(5, 3))
    t7 = await s.open(utc(6, 10))
    await s.reply(t7, zhao, utc(6, 10, 10))
    await s.resolve(t7, utc(7, 10))

    t1 = await s.open(utc(7, 2))
    await s.reply(t1, zhao, utc(7, 2, 20))
    t8 = await s.open(utc(7, 2, 30))
    await s.merge(t1, t8, utc(7, 2, 40))
    await s.resolve(t1, utc(7, 3))
    await s.rate(t1, 5, utc(7, 4))

    t2 = await s.open(utc(7, 6))
    await s.reply(t2, zhao, utc(7, 7))
    await s.buyer_writes(t2, utc(7, 8))
    await s.reply(t2, zhao, utc(7, 8, 30))
    await s.resolve(t2, utc(7, 9))
    await s.rate(t2, 3, utc(7, 10))

    t3 = await s.open(utc(8, 1))
    await s.sweep_first_response(t3, utc(8, 9, 30))  # due at 09:00 (8 h, around the clock)
    await s.reply(t3, zhao, utc(8, 11))
    await s.resolve(t3, utc(8, 12))
    await s.buyer_writes(t3, utc(8, 13))  # reopens it
    await s.resolve(t3, utc(9, 2))
    await s.rate(t3, 4, utc(9, 3))

    t4 = await s.open(utc(9, 1), category="damaged")
    await s.reply(t4, wang, utc(9, 2, 30))  # 09:00–10:30 in Shenzhen: 90 business minutes
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, t4)
        [late] = [
            c for c in await tickets.ticket_clocks(session, ticket) if c.kind is ClockKind.FIRST_RESPONSE
        ]
        # Breached as of its due time (10:00 in Shenzhen), although no sweep saw it before the reply.
        assert (late.state, late.breached_at, late.counted_seconds) == (ClockState.BREACHED, utc(9, 2), 5400)
    await s.open(utc(9, 15))
    t6 = await s.open(utc(9, 16, 30))
    await s.reply(t6, zhao, utc(9, 16, 40))

    other = Scenario(database, await make_desk(database))
    stranger = await other.open(utc(7, 2))
    await other.reply(stranger, other.desk.zhao_id, utc(7, 2, 1))
    await other.resolve(stranger, utc(7, 2, 2))
    await other.rate(stranger, 1, utc(7, 2, 3))
    return s


async def test_the_periods_figures(scenario: Scenario) -> None:
    report = await scenario.report("team")
    assert (report.period.start, report.period.end) == (utc(6, 16), utc(9, 16))
    m = report.totals
    assert (m.tickets, m.answered) == (5, 4)  # T1 T2 T3 T4 T5; T5 unanswered
    assert m.first_response_median == 4500.0  # 20 min, 1 h, 1.5 h, 10 h
    assert m.first_response_p90 == pytest.approx(26820.0)  # rank 2.7: 5400 + 0.7 × 30600
    assert m.resolved == 4  # T1 1 h, T2 3 h, T7 24 h, T3 25 h
    assert m.resolution_median == 48600.0
    assert (m.first_contact_resolved, m.fcr_rate) == (2, 0.5)  # T1, T7; T2 had a follow-up, T3 reopened
    # T1 FR+RES, T2 FR+NR+RES, T3 FR (breached) + RES, T4 FR (late), T7 RES; T3's next-response clock
    # was cancelled by the resolution, T7's first response met in the previous period.
    assert (m.sla_ended, m.sla_met) == (9, 7)
    assert m.sla_attainment == pytest.approx(7 / 9)
    assert (m.csat_count, m.csat_average, m.csat_satisfied) == (3, 4.0, pytest.approx(2 / 3))


async def test_the_previous_period_of_equal_length(scenario: Scenario) -> None:
    report = await scenario.report("team")
    assert (report.previous.first_day, report.previous.last_day) == (date(2026, 12, 4), date(2026, 12, 6))
    m = report.previous_totals
    assert (m.tickets, m.first_response_median, m.first_response_p90) == (2, 450.0, pytest.approx(570.0))
    assert (m.resolved, m.resolution_median, m.fcr_rate) == (1, 1800.0, 1.0)
    assert (m.sla_ended, m.sla_attainment) == (3, 1.0)
    assert (m.csat_average, m.csat_satisfied) == (2.0, 0.0)


async def test_per_team_agent_and_priority(scenario: Scenario) -> None:
    desk = scenario.desk
    teams = {g.key: g for g in (await scenario.report("team")).groups}
    assert list(teams) == [desk.returns_team_id, desk.inquiries_team_id]
    returns, inquiries = teams[desk.returns_team_id], teams[desk.inquiries_team_id]
    assert (returns.name, inquiries.name) == ("Returns", "Inquiries")
    assert (returns.metrics.tickets, returns.metrics.first_response_median) == (1, 5400.0)
    assert (returns.metrics.sla_attainment, returns.metrics.csat_average) == (0.0, None)
    assert (inquiries.metrics.tickets, inquiries.metrics.first_response_median) == (4, 3600.0)
    assert (inquiries.metrics.resolution_median, inquiries.metrics.fcr_rate) == (48600.0, 0.5)
    assert inquiries.metrics.sla_attainment == pytest.approx(7 / 8)

    agents = (await scenario.report("agent")).groups
    assert [(g.name, g.metrics.tickets) for g in agents] == [("Li", 0), ("Wang", 1), ("Zhao", 4)]
    assert agents[0].metrics == Metrics()  # an agent with nothing in the period: empty, not an error

    priorities = {g.key: g.metrics for g in (await scenario.report("priority")).groups}
    assert list(priorities) == ["p1", "p2", "p3", "p4"]
    assert (priorities["p1"].tickets, priorities["p3"].tickets, priorities["p2"].tickets) == (1, 4, 0)

    channels = {g.key: g.metrics.tickets for g in (await scenario.report("channel")).groups}
    assert channels == {"chat": 5, "email": 0, "api": 0}
    languages = {g.key: g.metrics.tickets for g in (await scenario.report("language")).groups}
    assert languages == {"de": 5}


async def test_the_daily_series_is_in_shanghai_days(scenario: Scenario) -> None:
    series = (await scenario.report("team")).series
    assert [p.day for p in series] == [date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)]
    assert [p.tickets for p in series] == [2, 1, 2]  # T5 at 23:00 Shanghai is the 9th's, T6 the 10th's
    assert [p.first_response_median for p in series] == [2400.0, 36000.0, 5400.0]
    assert [p.resolved for p in series] == [3, 0, 1]  # T3's first resolution was undone by its reopening


async def test_a_quiet_period_is_empty(scenario: Scenario) -> None:
    report = await scenario.report("team", date(2026, 11, 1), date(2026, 11, 3))
    assert report.empty and report.totals == Metrics()
    assert [g.metrics for g in report.groups] == [Metrics(), Metrics()]
    assert [p.tickets for p in report.series] == [0, 0, 0]
