"""Pure rules of the support report: periods of whole days in the viewer's zone, percentiles, first-contact
resolution, SLA attainment, CSAT, grouping by a dimension and a daily series. No I/O: the service loads
plain rows (`TicketRow`, `ClockRow`, `RatingRow`) and these functions measure them.

Definitions (see DESIGN.md's glossary):
- first response time: ticket created → first public reply, over tickets created in the period that have
  one (unanswered tickets are counted, not timed);
- resolution time: created → resolved, over tickets resolved in the period;
- first-contact resolution: share of tickets resolved in the period with no reopen and no buyer follow-up;
- SLA attainment: share of clocks met among those whose outcome fell in the period (met: when it stopped
  within its target; breached: when it breached, whatever happened after; cancelled clocks do not count);
- CSAT: ratings given in the period; average, and share of 4 and 5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aftersail.kit.errors import InvalidInput
from aftersail.kit.i18n import N_

DIMENSIONS = ("team", "agent", "channel", "language", "priority")
MAX_PERIOD_DAYS = 366
SATISFIED_FROM = 4  # CSAT: 4 and 5 out of 5 count as satisfied
# Shown by the API in English and by the console page translated.
PERIOD_REVERSED = N_("The end date is before the start date.")
PERIOD_TOO_LONG = N_("A report covers at most 366 days.")

GroupKey = int | str | None


@dataclass(frozen=True, slots=True)
class Dims:
    """What a ticket can be grouped by; clocks and ratings are grouped by their ticket's."""

    team_id: int | None = None
    assignee_id: int | None = None
    channel: str = ""
    language: str = ""
    priority: str = ""

    def key(self, dimension: str) -> GroupKey:
        if dimension == "team":
            return self.team_id
        if dimension == "agent":
            return self.assignee_id
        if dimension == "channel":
            return self.channel
        if dimension == "language":
            return self.language
        if dimension == "priority":
            return self.priority
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")


@dataclass(frozen=True, slots=True)
class TicketRow:
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_contact_resolved: bool
    dims: Dims = field(default_factory=Dims)

    @property
    def first_response_seconds(self) -> float | None:
        return _seconds_between(self.created_at, self.first_response_at)

    @property
    def resolution_seconds(self) -> float | None:
        return _seconds_between(self.created_at, self.resolved_at)


@dataclass(frozen=True, slots=True)
class ClockRow:
    """One SLA clock's outcome: `met`, or breached; `ended_at` is when that outcome was decided."""

    kind: str
    ended_at: datetime
    met: bool
    dims: Dims = field(default_factory=Dims)


@dataclass(frozen=True, slots=True)
class RatingRow:
    rated_at: datetime
    rating: int
    dims: Dims = field(default_factory=Dims)


def _seconds_between(start: datetime, end: datetime | None) -> float | None:
    # Never negative: a merge keeps the earlier first reply of two tickets, which may predate the target.
    return None if end is None else max(0.0, (end - start).total_seconds())


# --- periods ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days `first_day`…`last_day` (both included) in `zone`, as the UTC instants [start, end)."""

    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def contains(self, instant: datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end

    def day_of(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def each_day(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]

    def previous(self) -> Period:
        """The same number of days just before (a 23-hour DST day counts as one day, like any other)."""
        return Period(
            self.first_day - timedelta(days=self.days), self.first_day - timedelta(days=1), self.zone
        )


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in `zone`, in UTC. Where a zone skips midnight (clocks jump 00:00 →
    01:00), fold=0 reads 00:00 with the offset before the jump: the very instant the day begins."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def check_period(first_day: date, last_day: date, zone: ZoneInfo) -> Period:
    if last_day < first_day:
        raise InvalidInput(PERIOD_REVERSED, field="to")
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(PERIOD_TOO_LONG, field="to")
    return Period(first_day, last_day, zone)


def last_days(count: int, today: date, zone: ZoneInfo) -> Period:
    """The `count` days ending with today (included)."""
    return check_period(today - timedelta(days=count - 1), today, zone)


# --- statistics ---------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (as PostgreSQL's percentile_cont); None when empty."""
    if not 0 <= q <= 1:
        raise ValueError(f"percentile {q} is outside 0…1")
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 0.5)


def share(flags: Iterable[bool]) -> float | None:
    """The share of True among the flags (0…1); None when there are none, never a division by zero."""
    counted = hits = 0
    for flag in flags:
        counted += 1
        hits += bool(flag)
    return hits / counted if counted else None


def average(values: Iterable[float]) -> float | None:
    found = list(values)
    return sum(found) / len(found) if found else None


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every figure of one period (and one group); durations in seconds, shares from 0 to 1."""

    tickets: int = 0  # created in the period
    answered: int = 0  # of those, with a first public reply
    first_response_median: float | None = None
    first_response_p90: float | None = None
    resolved: int = 0  # resolved in the period
    resolution_median: float | None = None
    first_contact_resolved: int = 0
    fcr_rate: float | None = None
    sla_ended: int = 0
    sla_met: int = 0
    sla_attainment: float | None = None
    csat_count: int = 0
    csat_average: float | None = None
    csat_satisfied: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.tickets or self.resolved or self.sla_ended or self.csat_count)


def measure(
    tickets: Iterable[TicketRow], clocks: Iterable[ClockRow], ratings: Iterable[RatingRow], period: Period
) -> Metrics:
    """The period's figures; rows outside it (the previous period's, loaded in the same query) are ignored."""
    everything = list(tickets)  # walked twice
    created = [t for t in everything if period.contains(t.created_at)]
    resolved = [t for t in everything if period.contains(t.resolved_at)]
    first_responses = [s for t in created if (s := t.first_response_seconds) is not None]
    resolutions = [s for t in resolved if (s := t.resolution_seconds) is not None]
    ended = [c for c in clocks if period.contains(c.ended_at)]
    rated = [r.rating for r in ratings if period.contains(r.rated_at)]
    return Metrics(
        tickets=len(created),
        answered=len(first_responses),
        first_response_median=median(first_responses),
        first_response_p90=percentile(first_responses, 0.9),
        resolved=len(resolved),
        resolution_median=median(resolutions),
        first_contact_resolved=sum(t.first_contact_resolved for t in resolved),
        fcr_rate=share(t.first_contact_resolved for t in resolved),
        sla_ended=len(ended),
        sla_met=sum(c.met for c in ended),
        sla_attainment=share(c.met for c in ended),
        csat_count=len(rated),
        csat_average=average(rated),
        csat_satisfied=share(r >= SATISFIED_FROM for r in rated),
    )


# --- groups and series --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    key: GroupKey
    metrics: Metrics


def measure_groups(
    tickets: Sequence[TicketRow],
    clocks: Sequence[ClockRow],
    ratings: Sequence[RatingRow],
    period: Period,
    dimension: str,
    known_keys: Sequence[GroupKey] = (),
) -> list[Group]:
    """The period's figures per group of `dimension`. `known_keys` (every team, every priority) come first
    and in their order, with empty figures if nothing happened to them; then any other key met in the
    period's rows, sorted, with None (no team, unassigned) last."""
    buckets: dict[GroupKey, tuple[list[TicketRow], list[ClockRow], list[RatingRow]]] = {
        key: ([], [], []) for key in known_keys
    }

    def bucket(key: GroupKey) -> tuple[list[TicketRow], list[ClockRow], list[RatingRow]]:
        return buckets.setdefault(key, ([], [], []))

    for ticket in tickets:
        if period.contains(ticket.created_at) or period.contains(ticket.resolved_at):
            bucket(ticket.dims.key(dimension))[0].append(ticket)
    for clock in clocks:
        if period.contains(clock.ended_at):
            bucket(clock.dims.key(dimension))[1].append(clock)
    for rating in ratings:
        if period.contains(rating.rated_at):
            bucket(rating.dims.key(dimension))[2].append(rating)
    known = list(dict.fromkeys(known_keys))
    others = sorted((k for k in buckets if k not in set(known)), key=_sort_key)
    return [Group(key, measure(*buckets[key], period)) for key in [*known, *others]]


def _sort_key(key: GroupKey) -> tuple[int, int, str]:
    if key is None:
        return (1, 0, "")
    return (0, key, "") if isinstance(key, int) else (0, 0, key)


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day of the viewer's calendar: tickets created and resolved that day, and the median first
    response of the tickets created that day."""

    day: date
    tickets: int = 0
    resolved: int = 0
    first_response_median: float | None = None


def daily_series(tickets: Iterable[TicketRow], period: Period) -> list[DayPoint]:
    """Every day of the period (empty days included), bucketed in the period's zone."""
    created: dict[date, list[TicketRow]] = {day: [] for day in period.each_day()}
    resolved: dict[date, int] = dict.fromkeys(created, 0)
    for ticket in tickets:
        if period.contains(ticket.created_at):
            created[period.day_of(ticket.created_at)].append(ticket)
        if ticket.resolved_at is not None and period.contains(ticket.resolved_at):
            resolved[period.day_of(ticket.resolved_at)] += 1
    return [
        DayPoint(
            day=day,
            tickets=len(rows),
            resolved=resolved[day],
            first_response_median=median(s for t in rows if (s := t.first_response_seconds) is not None),
        )
        for day, rows in created.items()
    ]


# --- changes against the previous period --------------------------------------------------------------------


def relative_change(current: float | None, previous: float | None) -> float | None:
    """(current − previous) / previous; None when either is missing or the previous one is zero."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


def difference(current: float | None, previous: float | None) -> float | None:
    """current − previous (shares: in points of a share; averages: in their own unit)."""
    return None if current is None or previous is None else current - previous


LOWER_IS_BETTER = frozenset({"first_response_median", "first_response_p90", "resolution_median"})


def judge(metric: str, change: float | None, *, tolerance: float = 1e-9) -> str:
    """'better', 'worse' or 'same' for a change of `metric` (shorter times are better, higher rates are)."""
    if change is None or abs(change) <= tolerance:
        return "same"
    improved = change < 0 if metric in LOWER_IS_BETTER else change > 0
    return "better" if improved else "worse"
