"""Business-hours maths: split shifts, weekends, holidays and make-up days, DST changes in Berlin and New
York, and the stored dict form with its validation. Expected instants are worked out by hand, in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from aftersail.support.business_hours import (
    ALWAYS_OPEN,
    BusinessCalendar,
    CalendarInvalid,
    NoOpenHours,
    Shift,
    add_business_time,
    business_time_between,
    is_open,
    open_intervals,
)

H = timedelta(hours=1)
SPLIT = [["09:00", "12:00"], ["13:30", "18:00"]]
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Asia/Shanghai is UTC+8 all year. National Day 1–7 Oct 2026 is closed; Saturday 10 Oct is a make-up
# working day (调休) without a lunch break; Wednesday 10 Jun is closed for a company event.
SHANGHAI_RAW: dict[str, Any] = {
    "time_zone": "Asia/Shanghai",
    "weekly": {day: SPLIT for day in WORKDAYS},
    "holidays": [f"2026-10-0{day}" for day in range(1, 8)],
    "overrides": {"2026-06-10": [], "2026-10-10": [["09:00", "18:00"]]},
}
SHANGHAI = BusinessCalendar.from_dict(SHANGHAI_RAW)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def every_day(zone: str, *shifts: list[str]) -> BusinessCalendar:
    return BusinessCalendar.from_dict(
        {"time_zone": zone, "weekly": {day: list(shifts) for day in (*WORKDAYS, "sat", "sun")}}
    )


def sundays(zone: str, *shifts: list[str]) -> BusinessCalendar:
    return BusinessCalendar.from_dict({"time_zone": zone, "weekly": {"sun": list(shifts)}})


# --- Shanghai: split shifts, weekends, holidays, overrides --------------------------------------------------


def test_split_shift_day_has_two_intervals_and_a_lunch_gap() -> None:
    # Wednesday 3 Jun: 09:00–12:00 and 13:30–18:00 CST.
    assert list(open_intervals(SHANGHAI, utc(6, 3), utc(6, 4))) == [
        (utc(6, 3, 1), utc(6, 3, 4)),
        (utc(6, 3, 5, 30), utc(6, 3, 10)),
    ]
    assert business_time_between(SHANGHAI, utc(6, 3, 0), utc(6, 3, 11)) == timedelta(hours=7, minutes=30)


def test_counting_skips_the_lunch_break() -> None:
    assert add_business_time(SHANGHAI, utc(6, 3, 3, 30), H) == utc(6, 3, 6)  # 11:30 + 1h → 14:00 CST


def test_reply_within_an_hour_from_17_30_is_due_at_09_30_next_morning() -> None:
    assert add_business_time(SHANGHAI, utc(6, 3, 9, 30), H) == utc(6, 4, 1, 30)


def test_friday_evening_skips_the_weekend() -> None:
    assert add_business_time(SHANGHAI, utc(6, 5, 9, 30), H) == utc(6, 8, 1, 30)  # Fri 17:30 → Mon 09:30
    assert business_time_between(SHANGHAI, utc(6, 5, 9), utc(6, 8, 2)) == 2 * H  # Fri 17:00 → Mon 10:00


def test_started_outside_hours_counting_begins_at_the_next_opening() -> None:
    assert add_business_time(SHANGHAI, utc(6, 6, 2), H) == utc(6, 8, 2)  # Saturday → Monday 10:00
    assert add_business_time(SHANGHAI, utc(6, 3, 4, 15), timedelta(0)) == utc(6, 3, 5, 30)  # lunch → 13:30


def test_due_exactly_at_a_closing_stays_at_the_closing() -> None:
    assert add_business_time(SHANGHAI, utc(6, 3, 9), H) == utc(6, 3, 10)  # 17:00 + 1h → 18:00, not tomorrow
    assert add_business_time(SHANGHAI, utc(6, 3, 3), H) == utc(6, 3, 4)  # 11:00 + 1h → 12:00, not 13:30


def test_is_open_is_half_open_at_the_edges() -> None:
    assert is_open(SHANGHAI, utc(6, 3, 1))  # 09:00
    assert is_open(SHANGHAI, utc(6, 3, 2))  # 10:00
    assert not is_open(SHANGHAI, utc(6, 3, 4, 30))  # 12:30, lunch
    assert not is_open(SHANGHAI, utc(6, 3, 10))  # 18:00
    assert not is_open(SHANGHAI, utc(6, 6, 2))  # Saturday 10:00
    assert not is_open(SHANGHAI, utc(6, 2, 17))  # Tuesday 17:00 UTC is Wednesday 01:00 CST


def test_holidays_are_closed() -> None:
    assert not is_open(SHANGHAI, utc(10, 1, 2))  # Thursday 1 Oct, 10:00
    assert add_business_time(SHANGHAI, utc(9, 30, 9, 30), H) == utc(
        10, 8, 1, 30
    )  # Wed 17:30 → Thu 8 Oct 09:30


def test_an_override_opens_a_make_up_saturday_with_its_own_hours() -> None:
    assert add_business_time(SHANGHAI, utc(10, 9, 9, 30), H) == utc(10, 10, 1, 30)  # Fri 17:30 → Sat 09:30
    assert is_open(SHANGHAI, utc(10, 10, 4, 30))  # 12:30: the make-up day has no lunch break
    without = BusinessCalendar.from_dict({**SHANGHAI_RAW, "overrides": {}})
    assert add_business_time(without, utc(10, 9, 9, 30), H) == utc(10, 12, 1, 30)  # → Monday 09:30


def test_an_empty_override_closes_a_weekday() -> None:
    assert not is_open(SHANGHAI, utc(6, 10, 2))
    assert add_business_time(SHANGHAI, utc(6, 9, 9, 30), H) == utc(6, 11, 1, 30)  # Tue 17:30 → Thu 09:30


def test_an_override_wins_over_a_holiday() -> None:
    calendar = BusinessCalendar.from_dict(
        {**SHANGHAI_RAW, "holidays": ["2026-10-08"], "overrides": {"2026-10-08": [["10:00", "12:00"]]}}
    )
    assert is_open(calendar, utc(10, 8, 2, 30))  # 10:30
    assert not is_open(calendar, utc(10, 8, 1, 30))  # 09:30


@pytest.mark.parametrize(
    ("zone", "due"),
    [
        ("Asia/Shanghai", utc(6, 2, 2)),  # 12:00 UTC is 20:00 CST: Tuesday 09:00 CST + 1h
        ("Europe/Berlin", utc(6, 1, 13)),  # 14:00 CEST, open
        ("America/New_York", utc(6, 1, 14)),  # 08:00 EDT: opens 09:00 EDT + 1h
    ],
)
def test_the_same_hours_from_one_utc_start_in_different_zones(zone: str, due: datetime) -> None:
    calendar = BusinessCalendar.from_dict(
        {"time_zone": zone, "weekly": {day: [["09:00", "18:00"]] for day in WORKDAYS}}
    )
    assert add_business_time(calendar, utc(6, 1, 12), H) == due  # Monday 1 Jun


# --- DST: Berlin 29 Mar / 25 Oct 2026, New York 8 Mar / 1 Nov 2026, all at 01:00 / 06:00–07:00 UTC ----------


def test_berlin_day_shift_keeps_local_hours_across_both_changes() -> None:
    berlin = every_day("Europe/Berlin", ["09:00", "18:00"])
    assert list(open_intervals(berlin, utc(3, 28), utc(3, 30))) == [
        (utc(3, 28, 8), utc(3, 28, 17)),  # CET
        (utc(3, 29, 7), utc(3, 29, 16)),  # CEST
    ]
    assert list(open_intervals(berlin, utc(10, 24), utc(10, 26))) == [
        (utc(10, 24, 7), utc(10, 24, 16)),  # CEST
        (utc(10, 25, 8), utc(10, 25, 17)),  # CET
    ]
    # Saturday 17:00 CET + 2h: one hour on Saturday, then Sunday from 09:00 CEST.
    assert add_business_time(berlin, utc(3, 28, 16), 2 * H) == utc(3, 29, 8)


def test_berlin_night_shift_across_the_change_is_an_hour_longer_or_shorter() -> None:
    night = BusinessCalendar.from_dict(
        {"time_zone": "Europe/Berlin", "weekly": {"sat": [["22:00", "24:00"]], "sun": [["00:00", "06:00"]]}}
    )
    # Eight wall-clock hours; Saturday 22:00 CEST → Sunday 06:00 CET is nine real ones, joined at midnight.
    assert list(open_intervals(night, utc(10, 24), utc(10, 26))) == [(utc(10, 24, 20), utc(10, 25, 5))]
    assert business_time_between(night, utc(10, 24), utc(10, 26)) == 9 * H
    assert add_business_time(night, utc(10, 24, 20), 8 * H) == utc(10, 25, 4)  # 05:00 CET, before the end
    # Spring: Saturday 22:00 CET → Sunday 06:00 CEST is seven.
    assert list(open_intervals(night, utc(3, 28), utc(3, 30))) == [(utc(3, 28, 21), utc(3, 29, 4))]


def test_berlin_24x7_days_of_the_changes_last_23_and_25_hours() -> None:
    berlin = every_day("Europe/Berlin", ["00:00", "24:00"])
    assert business_time_between(berlin, utc(3, 28, 23), utc(3, 29, 22)) == 23 * H  # midnight to midnight
    assert business_time_between(berlin, utc(10, 24, 22), utc(10, 25, 23)) == 25 * H
    assert list(open_intervals(berlin, utc(10, 20), utc(10, 30))) == [(utc(10, 20), utc(10, 30))]
    # 24 real hours from midnight CET on 29 Mar end at 01:00 CEST on 30 Mar.
    assert add_business_time(berlin, utc(3, 28, 23), 24 * H) == utc(3, 29, 23)


def test_new_york_day_shift_keeps_local_hours_in_spring() -> None:
    new_york = every_day("America/New_York", ["09:00", "17:00"])
    assert list(open_intervals(new_york, utc(3, 7), utc(3, 9))) == [
        (utc(3, 7, 14), utc(3, 7, 22)),  # EST
        (utc(3, 8, 13), utc(3, 8, 21)),  # EDT
    ]


def test_new_york_shift_across_the_skipped_hour_is_shorter() -> None:
    night = sundays("America/New_York", ["01:00", "04:00"])
    assert list(open_intervals(night, utc(3, 1), utc(3, 2))) == [(utc(3, 1, 6), utc(3, 1, 9))]  # 3h, EST
    assert list(open_intervals(night, utc(3, 8), utc(3, 9))) == [(utc(3, 8, 6), utc(3, 8, 8))]  # 2h
    # Opening at 02:30, which does not exist that night, means opening when the clocks jump (03:00 EDT).
    late = sundays("America/New_York", ["02:30", "04:00"])
    assert list(open_intervals(late, utc(3, 8), utc(3, 9))) == [(utc(3, 8, 7), utc(3, 8, 8))]


def test_new_york_shift_wholly_inside_the_skipped_hour_never_opens() -> None:
    gap = sundays("America/New_York", ["02:00", "02:30"])
    assert list(open_intervals(gap, utc(3, 1), utc(3, 2))) == [(utc(3, 1, 7), utc(3, 1, 7, 30))]
    assert business_time_between(gap, utc(3, 8), utc(3, 9)) == timedelta(0)
    assert not is_open(gap, utc(3, 8, 7))


def test_new_york_shift_across_the_repeated_hour_is_longer_and_uses_its_first_pass() -> None:
    night = sundays("America/New_York", ["01:00", "03:00"])
    assert list(open_intervals(night, utc(11, 1), utc(11, 2))) == [(utc(11, 1, 5), utc(11, 1, 8))]  # 3h
    short = sundays("America/New_York", ["01:30", "01:45"])
    assert list(open_intervals(short, utc(11, 1), utc(11, 2))) == [(utc(11, 1, 5, 30), utc(11, 1, 5, 45))]
    assert is_open(short, utc(11, 1, 5, 35))  # 01:35 EDT
    assert not is_open(short, utc(11, 1, 6, 35))  # 01:35 EST, the second pass


def test_new_york_24x7_days_of_the_changes_last_23_and_25_hours() -> None:
    new_york = every_day("America/New_York", ["00:00", "24:00"])
    assert business_time_between(new_york, utc(3, 8, 5), utc(3, 9, 4)) == 23 * H
    assert business_time_between(new_york, utc(11, 1, 4), utc(11, 2, 5)) == 25 * H


# --- edges and guards ---------------------------------------------------------------------------------------


def test_always_open_is_open_around_the_clock() -> None:
    assert is_open(ALWAYS_OPEN, utc(6, 6, 3, 17))
    assert add_business_time(ALWAYS_OPEN, utc(6, 6, 23, 30), 3 * H) == utc(6, 7, 2, 30)
    assert list(open_intervals(ALWAYS_OPEN, utc(6, 1), utc(6, 8))) == [(utc(6, 1), utc(6, 8))]


def test_a_calendar_without_hours_raises_instead_of_looping() -> None:
    closed = BusinessCalendar("Europe/Berlin", {})
    assert list(open_intervals(closed, utc(6, 1), utc(7, 1))) == []
    assert not is_open(closed, utc(6, 1, 12))
    with pytest.raises(NoOpenHours) as caught:
        add_business_time(closed, utc(6, 1), H)
    assert isinstance(caught.value, ValueError)


def test_a_lone_open_day_within_the_horizon_is_found() -> None:
    one_day = BusinessCalendar("UTC", {}, overrides={date(2026, 12, 1): (Shift(time(9), time(10)),)})
    assert add_business_time(one_day, utc(6, 1), timedelta(minutes=30)) == utc(12, 1, 9, 30)
    with pytest.raises(NoOpenHours):
        add_business_time(one_day, utc(6, 1), 2 * H)  # the rest lies beyond a year of nothing


def test_empty_ranges_naive_instants_and_negative_durations() -> None:
    assert list(open_intervals(SHANGHAI, utc(6, 4), utc(6, 3))) == []
    assert business_time_between(SHANGHAI, utc(6, 3, 2), utc(6, 3, 2)) == timedelta(0)
    with pytest.raises(ValueError, match="aware"):
        is_open(SHANGHAI, datetime(2026, 6, 3, 10))
    with pytest.raises(ValueError, match="duration"):
        add_business_time(SHANGHAI, utc(6, 3), -H)


# --- the stored dict form -----------------------------------------------------------------------------------


def test_round_trip_through_the_dict_form() -> None:
    assert SHANGHAI.to_dict() == {
        **SHANGHAI_RAW,
        "overrides": {"2026-06-10": [], "2026-10-10": [["09:00", "18:00"]]},
    }
    assert BusinessCalendar.from_dict(SHANGHAI.to_dict()) == SHANGHAI
    night = {"time_zone": "UTC", "weekly": {"fri": [["22:00", "24:00"]]}, "holidays": [], "overrides": {}}
    assert BusinessCalendar.from_dict(night).weekly == {4: (Shift(time(22), None),)}
    assert BusinessCalendar.from_dict(night).to_dict() == night
    assert BusinessCalendar.from_dict(ALWAYS_OPEN.to_dict()) == ALWAYS_OPEN


def test_the_empty_dict_means_24x7_and_shifts_are_normalised() -> None:
    assert BusinessCalendar.from_dict({}) is ALWAYS_OPEN
    unsorted = BusinessCalendar.from_dict(
        {"time_zone": "UTC", "weekly": {"mon": [["13:00", "17:00"], ["09:00", "12:00"]], "tue": []}}
    )
    assert unsorted == BusinessCalendar("UTC", {0: (Shift(time(9), time(12)), Shift(time(13), time(17)))})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"weekly": {"mon": SPLIT}}, "time_zone"),
        ({"time_zone": "UTC", "holiday": []}, "holiday"),
        ({"time_zone": "UTC", "weekly": ["mon"]}, "weekly"),
        ({"time_zone": "UTC", "weekly": {"monday": SPLIT}}, "weekly.monday"),
        ({"time_zone": "UTC", "weekly": {"mon": [["18:00", "09:00"]]}}, "weekly.mon[0]"),
        ({"time_zone": "UTC", "weekly": {"mon": [["22:00", "00:00"]]}}, "weekly.mon[0]"),
        ({"time_zone": "UTC", "weekly": {"mon": [["09:00", "12:00"], ["9am", "5pm"]]}}, "weekly.mon[1]"),
        ({"time_zone": "UTC", "weekly": {"mon": [["09:00"]]}}, "weekly.mon[0]"),
        ({"time_zone": "UTC", "weekly": {"mon": "09:00-18:00"}}, "weekly.mon"),
        ({"time_zone": "UTC", "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly.mon"),
        ({"time_zone": "UTC", "weekly": {"sun": [["20:00", "24:00"], ["21:00", "22:00"]]}}, "weekly.sun"),
        ({"time_zone": "UTC", "holidays": "2026-10-01"}, "holidays"),
        ({"time_zone": "UTC", "holidays": ["2026-10-01", "2026-02-30"]}, "holidays[1]"),
        ({"time_zone": "UTC", "overrides": {"2026-13-01": []}}, "overrides.2026-13-01"),
        (
            {"time_zone": "UTC", "overrides": {"2026-09-27": [["09:00", "18:00"], ["17:00", "19:00"]]}},
            "overrides.2026-09-27",
        ),
    ],
)
def test_each_validation_error_names_the_bad_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as caught:  # a ValueError to plain callers, InvalidInput to the HTTP layer
        BusinessCalendar.from_dict(raw)
    assert isinstance(caught.value, CalendarInvalid)
    assert (caught.value.field, caught.value.code) == (field, "calendar_invalid")


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(CalendarInvalid, match="before it starts"):
        Shift(time(18), time(9))
    with pytest.raises(CalendarInvalid) as caught:
        BusinessCalendar("UTC", {7: (Shift(time(9)),)})
    assert caught.value.field == "weekly"
    with pytest.raises(CalendarInvalid) as caught:
        BusinessCalendar("Not/AZone", {})
    assert caught.value.field == "time_zone"
