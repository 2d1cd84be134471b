"""The support report of one tenant for a period of whole days in the viewer's zone: its figures, the
previous period's of the same length, the figures per group and a daily series.

The support domain's rows come from `support.report_queries` (three queries cover both periods), the names
of teams and agents from the tenants service; `analytics.rules` does the measuring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.analytics import rules
from aftersail.analytics.rules import (
    ClockRow,
    DayPoint,
    Dims,
    GroupKey,
    Metrics,
    Period,
    RatingRow,
    TicketRow,
)
from aftersail.support import report_queries
from aftersail.support.report_queries import TicketFacts
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role


@dataclass(frozen=True, slots=True)
class GroupReport:
    key: GroupKey
    name: str | None  # a team's or an agent's name; None for the other dimensions and for "none"
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class SupportReport:
    period: Period
    previous: Period
    group_by: str
    totals: Metrics
    previous_totals: Metrics
    groups: list[GroupReport]
    series: list[DayPoint]

    @property
    def empty(self) -> bool:
        return self.totals.empty


def _dims(facts: TicketFacts) -> Dims:
    return Dims(
        team_id=facts.team_id,
        assignee_id=facts.assignee_id,
        channel=facts.channel,
        language=facts.language,
        priority=facts.priority,
    )


def _ticket_row(facts: TicketFacts) -> TicketRow:
    return TicketRow(
        created_at=facts.created_at,
        first_response_at=facts.first_response_at,
        resolved_at=facts.resolved_at,
        first_contact_resolved=facts.first_contact_resolved,
        dims=_dims(facts),
    )


async def _names_and_keys(
    session: AsyncSession, tenant_id: int, group_by: str
) -> tuple[dict[GroupKey, str], list[GroupKey]]:
    """Display names of the groups, and the groups listed even when nothing happened to them."""
    if group_by == "team":
        teams = [team for team, _ in await tenants.list_teams(session, tenant_id)]
        return {team.id: team.name for team in teams}, [team.id for team in teams]
    if group_by == "agent":
        users = await tenants.list_users(session, tenant_id)
        agents = [u.id for u in users if u.role is Role.AGENT and u.is_active]
        return {user.id: user.name for user in users}, list(agents)
    if group_by == "priority":
        return {}, list(report_queries.PRIORITIES)
    if group_by == "channel":
        return {}, list(report_queries.CHANNELS)
    return {}, []


async def support_report(
    session: AsyncSession,
    tenant_id: int,
    *,
    first_day: date,
    last_day: date,
    time_zone: ZoneInfo,
    group_by: str = "team",
) -> SupportReport:
    """Raises InvalidInput for a period that ends before it starts or is longer than 366 days."""
    if group_by not in rules.DIMENSIONS:
        raise ValueError(f"unknown dimension {group_by!r}")
    period = rules.check_period(first_day, last_day, time_zone)
    previous = period.previous()
    found = await report_queries.report_rows(session, tenant_id, previous.start, period.end)
    tickets = [_ticket_row(t) for t in found.tickets]
    clocks = [ClockRow(c.kind, c.ended_at, c.met, _dims(c.ticket)) for c in found.clocks]
    ratings = [RatingRow(r.rated_at, r.rating, _dims(r.ticket)) for r in found.ratings]
    names, known = await _names_and_keys(session, tenant_id, group_by)
    groups = rules.measure_groups(tickets, clocks, ratings, period, group_by, known)
    return SupportReport(
        period=period,
        previous=previous,
        group_by=group_by,
        totals=rules.measure(tickets, clocks, ratings, period),
        previous_totals=rules.measure(tickets, clocks, ratings, previous),
        groups=[GroupReport(g.key, names.get(g.key), g.metrics) for g in groups],
        series=rules.daily_series(tickets, period),
    )
