"""Business hours of a support team and the clock maths on them: is the desk open at an instant, and when
has a given amount of open time elapsed. Pure functions over plain data; `now` is always a parameter.

Hours are local wall-clock shifts in the calendar's IANA zone, turned into UTC instants date by date with
`zoneinfo`, so a 09:00–18:00 shift is 09:00–18:00 local on either side of a DST change. A wall time means the
first instant at which the local clock shows that time or later: in the repeated autumn hour that is its first
occurrence, in the skipped spring hour it is the instant the clocks jump. A shift spanning the change is thus
an hour shorter (spring) or longer (autumn) in real time, and a shift wholly inside the skipped hour is empty.
Instants returned are aware UTC datetimes; intervals are half-open, [opens, closes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aftersail.kit.errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
# A calendar with no open minute in a year is broken, not slow: stop searching rather than loop for ever.
HORIZON_DAYS = 366
_FIELDS = frozenset({"time_zone", "weekly", "holidays", "overrides"})
_DAY = timedelta(days=1)


class CalendarInvalid(InvalidInput, ValueError):
    """A stored or submitted calendar that breaks a rule; `field` names the offending path."""

    code = "calendar_invalid"


class NoOpenHours(CalendarInvalid):
    code = "no_open_hours"


@dataclass(frozen=True)
class Shift:
    """One open period of a local day. `end=None` means until midnight ("24:00" in the stored form), so a
    night shift is two shifts, e.g. Friday 22:00–24:00 and Saturday 00:00–06:00, which join at midnight."""

    start: time
    end: time | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or (self.end is not None and self.end.tzinfo is not None):
            raise CalendarInvalid("Shift times are local wall-clock times, without a zone", field="shift")
        if self.end is not None and self.end <= self.start:
            raise CalendarInvalid(
                f"Shift ends at {self.end} before it starts at {self.start} (write 24:00 for midnight)",
                field="shift",
            )


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly hours in a zone, with closed holidays and one-off dates that bring their own shifts.

    `weekly` is keyed by `date.weekday()` (0 = Monday); a missing day is closed. An override wins over a
    holiday and over the weekly hours: an empty tuple closes a working day, shifts open a day off (调休).
    """

    time_zone: str
    weekly: Mapping[int, tuple[Shift, ...]]
    holidays: frozenset[date] = frozenset()
    overrides: Mapping[date, tuple[Shift, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarInvalid(f"Unknown time zone {self.time_zone!r}", field="time_zone") from exc
        weekly: dict[int, tuple[Shift, ...]] = {}
        for day, shifts in self.weekly.items():
            if day not in range(7):
                raise CalendarInvalid(f"Weekday {day!r} is not 0 (Monday) to 6 (Sunday)", field="weekly")
            if shifts:
                weekly[day] = _check_day(shifts, f"weekly.{WEEKDAYS[day]}")
        overrides = {day: _check_day(shifts, f"overrides.{day}") for day, shifts in self.overrides.items()}
        # Normalised (sorted, closed days dropped) so equal calendars compare equal however they were written.
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "overrides", overrides)
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # zoneinfo caches instances by key

    def shifts_on(self, day: date) -> tuple[Shift, ...]:
        """The shifts of one local date: an override first, then a holiday (closed), then the weekly hours."""
        if day in self.overrides:
            return self.overrides[day]
        if day in self.holidays:
            return ()
        return self.weekly.get(day.weekday(), ())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BusinessCalendar:
        """Read the stored JSON form; `{}` (the column default) means open 24×7."""
        if not raw:
            return ALWAYS_OPEN
        for name in raw:
            if name not in _FIELDS:
                raise CalendarInvalid(f"Unknown calendar field {name!r}", field=str(name))
        zone = raw.get("time_zone")
        if not isinstance(zone, str):
            raise CalendarInvalid(
                "time_zone must be an IANA zone name like 'Asia/Shanghai'", field="time_zone"
            )
        weekly: dict[int, tuple[Shift, ...]] = {}
        for name, shifts in _mapping(raw.get("weekly", {}), "weekly").items():
            if name not in WEEKDAYS:
                raise CalendarInvalid(
                    f"Unknown weekday {name!r}, expected one of {WEEKDAYS}", field=f"weekly.{name}"
                )
            weekly[WEEKDAYS.index(name)] = _parse_shifts(shifts, f"weekly.{name}")
        holidays_raw = raw.get("holidays", [])
        if not isinstance(holidays_raw, list):
            raise CalendarInvalid("holidays must be a list of YYYY-MM-DD dates", field="holidays")
        holidays = frozenset(_parse_date(day, f"holidays[{i}]") for i, day in enumerate(holidays_raw))
        overrides = {
            _parse_date(day, f"overrides.{day}"): _parse_shifts(shifts, f"overrides.{day}")
            for day, shifts in _mapping(raw.get("overrides", {}), "overrides").items()
        }
        return cls(zone, weekly, holidays, overrides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "weekly": {WEEKDAYS[day]: _shifts_to_raw(shifts) for day, shifts in sorted(self.weekly.items())},
            "holidays": sorted(day.isoformat() for day in self.holidays),
            "overrides": {day.isoformat(): _shifts_to_raw(s) for day, s in sorted(self.overrides.items())},
        }


# --- the clock maths ----------------------------------------------------------------------------------------


def is_open(calendar: BusinessCalendar, at: datetime) -> bool:
    at = _utc(at, "at")
    zone = calendar.zone
    local_day = at.astimezone(zone).date()
    # The neighbours too: where clocks fall back across midnight, a repeated 23:30 belongs to the next day.
    return any(
        opens <= at < closes
        for day in (local_day - _DAY, local_day, local_day + _DAY)
        for opens, closes in _day_intervals(calendar, zone, day)
    )


def open_intervals(
    calendar: BusinessCalendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches within [start, end), in UTC, in order; touching shifts come out as one stretch.
    Like `range`, an end at or before the start yields nothing."""
    start, end = _utc(start, "start"), _utc(end, "end")
    pending: tuple[datetime, datetime] | None = None
    for midnight, pieces in _days_from(calendar, start):
        if midnight >= end:
            break
        for opens, closes in pieces:
            if opens >= end:
                break
            closes = min(closes, end)
            if pending is not None and opens <= pending[1]:
                pending = (pending[0], closes)
                continue
            if pending is not None:
                yield pending
            pending = (opens, closes)
    if pending is not None:
        yield pending


def add_business_time(calendar: BusinessCalendar, start: datetime, duration: timedelta) -> datetime:
    """The UTC instant at which `duration` of open time has elapsed after `start`; outside hours, counting
    begins at the next opening. A duration that runs out exactly at a closing returns the closing."""
    start = _utc(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"Expected a duration of zero or more, got {duration}")
    remaining = duration
    idle_days = 0
    days = _days_from(calendar, start)
    while True:
        _, pieces = next(days)
        idle_days = 0 if pieces else idle_days + 1
        if idle_days > HORIZON_DAYS:
            raise NoOpenHours(
                f"The calendar has no open hours in the {HORIZON_DAYS} days after {start.isoformat()}",
                field="weekly",
            )
        for opens, closes in pieces:
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    return sum((closes - opens for opens, closes in open_intervals(calendar, start, end)), timedelta(0))


# --- helpers ------------------------------------------------------------------------------------------------


def _utc(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _instant(zone: ZoneInfo, day: date, wall: time | None) -> datetime:
    """The first UTC instant at which the clock in `zone` shows `wall` on `day` or later (None: the midnight
    that ends `day`)."""
    local = datetime.combine(day + _DAY, time()) if wall is None else datetime.combine(day, wall)
    first = local.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a repeated time
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # Skipped by a spring-forward change. fold=1 reads it with the new offset, which lands before the jump;
    # fold=0 with the old one, after it. Halve the gap, in whole seconds (tzdb changes fall on them).
    before = int(local.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= local:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _day_intervals(
    calendar: BusinessCalendar, zone: ZoneInfo, day: date
) -> Iterator[tuple[datetime, datetime]]:
    for shift in calendar.shifts_on(day):
        opens, closes = _instant(zone, day, shift.start), _instant(zone, day, shift.end)
        if opens < closes:  # a shift wholly inside a skipped hour never opens
            yield opens, closes


def _days_from(
    calendar: BusinessCalendar, start: datetime
) -> Iterator[tuple[datetime, list[tuple[datetime, datetime]]]]:
    """Endless: each local date from the day before `start`'s, as its midnight and its open intervals after
    `start` (clipped to it). The day before is for zones whose clocks fall back across midnight."""
    zone = calendar.zone
    day = start.astimezone(zone).date() - _DAY
    while True:
        pieces = [
            (max(opens, start), closes)
            for opens, closes in _day_intervals(calendar, zone, day)
            if closes > start
        ]
        yield _instant(zone, day, time()), pieces
        day += _DAY


def _check_day(shifts: tuple[Shift, ...], where: str) -> tuple[Shift, ...]:
    ordered = tuple(sorted(shifts, key=lambda shift: shift.start))
    for earlier, later in pairwise(ordered):
        if earlier.end is None or earlier.end > later.start:
            raise CalendarInvalid(
                f"Shifts overlap: {_shifts_to_raw((earlier,))[0]} and {_shifts_to_raw((later,))[0]}",
                field=where,
            )
    return ordered


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CalendarInvalid(f"{where} must be an object", field=where)
    return raw


def _parse_date(raw: Any, where: str) -> date:
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise CalendarInvalid(f"{raw!r} is not a YYYY-MM-DD date", field=where) from exc


def _parse_time(raw: Any, where: str) -> time:
    try:
        return time.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise CalendarInvalid(f"{raw!r} is not a HH:MM time", field=where) from exc


def _parse_shifts(raw: Any, where: str) -> tuple[Shift, ...]:
    if not isinstance(raw, list):
        raise CalendarInvalid(f"{where} must be a list of [start, end] pairs", field=where)
    shifts = []
    for i, pair in enumerate(raw):
        if not isinstance(pair, list) or len(pair) != 2:
            raise CalendarInvalid(f"{pair!r} is not a [start, end] pair", field=f"{where}[{i}]")
        start = _parse_time(pair[0], f"{where}[{i}]")
        end = None if pair[1] == "24:00" else _parse_time(pair[1], f"{where}[{i}]")
        try:
            shifts.append(Shift(start, end))
        except CalendarInvalid as exc:
            raise CalendarInvalid(exc.message, field=f"{where}[{i}]") from None
    return tuple(shifts)


def _shifts_to_raw(shifts: tuple[Shift, ...]) -> list[list[str]]:
    return [
        [_format_time(shift.start), "24:00" if shift.end is None else _format_time(shift.end)]
        for shift in shifts
    ]


def _format_time(wall: time) -> str:
    return wall.isoformat("minutes") if wall.second == wall.microsecond == 0 else wall.isoformat()


# Open 24×7, what a team without its own hours gets. Built last: construction runs the helpers above.
ALWAYS_OPEN = BusinessCalendar("UTC", {day: (Shift(time(0)),) for day in range(7)})
