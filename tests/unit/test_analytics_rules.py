"""Pure rules of the support report, with expectations worked out by hand: percentiles, first-contact
resolution, SLA attainment, CSAT, periods of local days (DST days included), groups and the daily series;
and the pure helpers of the Reports page (chart geometry, formatting)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aftersail.analytics import charts, rules
from aftersail.analytics.display import ReportFormat
from aftersail.analytics.rules import ClockRow, Dims, Metrics, Period, RatingRow, TicketRow
from aftersail.kit.errors import InvalidInput

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ticket(
    created: datetime,
    *,
    first_response: timedelta | None = None,
    resolved: datetime | None = None,
    fcr: bool = False,
    dims: Dims | None = None,
) -> TicketRow:
    return TicketRow(
        created_at=created,
        first_response_at=created + first_response if first_response is not None else None,
        resolved_at=resolved,
        first_contact_resolved=fcr,
        dims=dims or Dims(),
    )


# --- statistics ---------------------------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    minutes = [60.0 * m for m in range(1, 11)]  # 1 … 10 minutes
    assert rules.median(minutes) == 330.0  # between 5 and 6 minutes
    assert rules.percentile(minutes, 0.9) == pytest.approx(546.0)  # rank 8.1: 540 + 0.1 × 60
    assert rules.median([5.0, 1.0, 3.0]) == 3.0
    assert rules.percentile([42.0], 0.9) == 42.0 and rules.median([42.0]) == 42.0
    assert rules.median([]) is None and rules.percentile([], 0.9) is None
    with pytest.raises(ValueError, match="outside"):
        rules.percentile([1.0], 1.5)


def test_shares_and_averages_of_nothing_are_none_not_a_division_by_zero() -> None:
    assert rules.share([]) is None and rules.average([]) is None
    assert rules.share([True, False, True, True]) == 0.75
    assert rules.average([5, 4, 2]) == pytest.approx(11 / 3)


def test_a_first_reply_before_creation_counts_as_zero() -> None:
    merged = ticket(at(2, 10), first_response=timedelta(minutes=-30))
    assert merged.first_response_seconds == 0.0


# --- one period ---------------------------------------------------------------------------------------------

MAY_1_TO_3 = Period(date(2026, 5, 1), date(2026, 5, 3), UTC_ZONE)
TICKETS = [
    ticket(at(1, 10), first_response=timedelta(minutes=10), resolved=at(1, 12), fcr=True),  # A
    ticket(at(2, 9), first_response=timedelta(minutes=30), resolved=at(3, 9)),  # B: the buyer wrote again
    ticket(at(2, 11)),  # C: not answered yet
    ticket(at(30, 10, month=4), first_response=timedelta(minutes=5), resolved=at(1, 10), fcr=True),  # D
    ticket(at(3, 20), first_response=timedelta(hours=2), resolved=at(4, 0, 30)),  # E: resolved after
]
CLOCKS = [
    ClockRow("first_response", at(1, 10, 10), met=True),
    ClockRow("first_response", at(2, 9, 30), met=True),
    ClockRow("resolution", at(2, 23), met=False),
    ClockRow("first_response", at(30, 10, 5, month=4), met=True),  # the previous period's
]
RATINGS = [
    RatingRow(at(1, 13), 5),
    RatingRow(at(3, 10), 4),
    RatingRow(at(3, 11), 2),
    RatingRow(at(30, 12, month=4), 1),  # the previous period's
]


def test_measure_counts_each_figure_over_its_own_rows() -> None:
    m = rules.measure(TICKETS, CLOCKS, RATINGS, MAY_1_TO_3)
    # First response: tickets created 1–3 May (A, B, C, E); C has no reply yet.
    assert (m.tickets, m.answered) == (4, 3)
    assert m.first_response_median == 1800.0  # 10 min, 30 min, 2 h
    assert m.first_response_p90 == pytest.approx(6120.0)  # rank 1.8: 1800 + 0.8 × 5400
    # Resolution and FCR: tickets resolved 1–3 May (A in 2 h, B in 24 h, D in 24 h); E on 4 May is out.
    assert m.resolved == 3
    assert m.resolution_median == 86400.0
    assert (m.first_contact_resolved, m.fcr_rate) == (2, pytest.approx(2 / 3))
    # SLA: three clocks ended in the period, two met.
    assert (m.sla_ended, m.sla_met, m.sla_attainment) == (3, 2, pytest.approx(2 / 3))
    # CSAT: 5, 4, 2.
    assert m.csat_count == 3
    assert m.csat_average == pytest.approx(11 / 3)
    assert m.csat_satisfied == pytest.approx(2 / 3)
    assert not m.empty


def test_the_previous_period_has_the_same_number_of_days_just_before() -> None:
    previous = MAY_1_TO_3.previous()
    assert (previous.first_day, previous.last_day) == (date(2026, 4, 28), date(2026, 4, 30))
    m = rules.measure(TICKETS, CLOCKS, RATINGS, previous)
    assert (m.tickets, m.first_response_median, m.resolved) == (1, 300.0, 0)
    assert m.resolution_median is None and m.fcr_rate is None
    assert (m.sla_attainment, m.csat_average, m.csat_satisfied) == (1.0, 1.0, 0.0)


def test_an_empty_period_measures_nothing_and_divides_by_nothing() -> None:
    m = rules.measure([], [], [], MAY_1_TO_3)
    assert m == Metrics() and m.empty
    assert m.first_response_median is None and m.sla_attainment is None and m.csat_average is None


# --- periods in the viewer's zone ---------------------------------------------------------------------------


def test_periods_are_whole_local_days() -> None:
    period = Period(date(2026, 5, 1), date(2026, 5, 1), SHANGHAI)
    assert period.start == datetime(2026, 4, 30, 16, tzinfo=UTC)
    assert period.end == datetime(2026, 5, 1, 16, tzinfo=UTC)
    assert period.contains(datetime(2026, 4, 30, 16, tzinfo=UTC))
    assert not period.contains(datetime(2026, 5, 1, 16, tzinfo=UTC))  # the end is not included
    assert not period.contains(None)


def test_a_spring_forward_day_in_the_viewers_zone_has_23_hours() -> None:
    sunday = Period(date(2026, 3, 29), date(2026, 3, 29), BERLIN)  # clocks go 02:00 → 03:00
    assert sunday.start == datetime(2026, 3, 28, 23, tzinfo=UTC)  # midnight CET
    assert sunday.end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # midnight CEST
    assert sunday.end - sunday.start == timedelta(hours=23)
    assert sunday.contains(datetime(2026, 3, 29, 21, 59, tzinfo=UTC))  # 23:59 CEST
    assert not sunday.contains(datetime(2026, 3, 29, 22, 0, tzinfo=UTC))  # 00:00 on Monday
    assert not sunday.contains(datetime(2026, 3, 28, 22, 59, tzinfo=UTC))  # 23:59 on Saturday
    saturday = sunday.previous()
    assert (saturday.first_day, saturday.end - saturday.start) == (date(2026, 3, 28), timedelta(hours=24))


def test_the_daily_series_buckets_by_local_day_across_a_dst_change() -> None:
    period = Period(date(2026, 3, 28), date(2026, 3, 30), BERLIN)
    rows = [
        ticket(datetime(2026, 3, 28, 22, 30, tzinfo=UTC), first_response=timedelta(minutes=4)),  # Sat 23:30
        ticket(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), first_response=timedelta(minutes=10)),  # Sun 00:30
        ticket(datetime(2026, 3, 29, 21, 30, tzinfo=UTC), first_response=timedelta(minutes=20)),  # Sun 23:30
        ticket(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), resolved=datetime(2026, 3, 30, 9, tzinfo=UTC)),
        ticket(datetime(2026, 3, 31, 8, tzinfo=UTC)),  # after the period
    ]
    series = rules.daily_series(rows, period)
    assert [p.day for p in series] == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert [p.tickets for p in series] == [1, 2, 1]  # by UTC date it would be 2, 2, 0
    assert [p.first_response_median for p in series] == [240.0, 900.0, None]
    assert [p.resolved for p in series] == [0, 0, 1]


def test_a_fall_back_day_has_25_hours_and_still_one_bucket() -> None:
    sunday = Period(date(2026, 10, 25), date(2026, 10, 25), BERLIN)
    assert sunday.end - sunday.start == timedelta(hours=25)
    twice_two_thirty = [
        ticket(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 CEST
        ticket(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # 02:30 CET, an hour later
    ]
    assert [p.tickets for p in rules.daily_series(twice_two_thirty, sunday)] == [2]


def test_a_period_must_run_forwards_and_last_at_most_366_days() -> None:
    assert rules.check_period(date(2026, 1, 1), date(2026, 1, 1), UTC_ZONE).days == 1
    assert rules.check_period(date(2024, 1, 1), date(2024, 12, 31), UTC_ZONE).days == 366  # a leap year
    with pytest.raises(InvalidInput, match="before the start"):
        rules.check_period(date(2026, 1, 2), date(2026, 1, 1), UTC_ZONE)
    with pytest.raises(InvalidInput, match=str(rules.MAX_PERIOD_DAYS)) as raised:
        rules.check_period(date(2025, 1, 1), date(2026, 1, 2), UTC_ZONE)
    assert raised.value.field == "to"
    assert rules.last_days(7, date(2026, 5, 7), UTC_ZONE).first_day == date(2026, 5, 1)


# --- groups -------------------------------------------------------------------------------------------------


def test_groups_keep_known_keys_in_order_even_when_empty_and_put_none_last() -> None:
    team = {key: Dims(team_id=key, priority="p2") for key in (1, 2, 7)}
    rows = [
        ticket(at(1, 10), first_response=timedelta(minutes=10), dims=team[2]),
        ticket(at(1, 11), first_response=timedelta(minutes=30), dims=team[2]),
        ticket(at(2, 10), first_response=timedelta(hours=1), dims=Dims(team_id=None)),
        ticket(at(2, 12), first_response=timedelta(minutes=1), dims=team[7]),
        ticket(at(20, 10, month=4), dims=Dims(team_id=9)),  # outside the period: no group for team 9
    ]
    clocks = [ClockRow("first_response", at(1, 10, 10), met=True, dims=team[1])]
    ratings = [RatingRow(at(3, 9), 5, dims=team[2]), RatingRow(at(3, 10), 3, dims=team[2])]
    groups = rules.measure_groups(rows, clocks, ratings, MAY_1_TO_3, "team", known_keys=[2, 1, 3])
    assert [g.key for g in groups] == [2, 1, 3, 7, None]
    by_key = {g.key: g.metrics for g in groups}
    assert by_key[2].tickets == 2 and by_key[2].first_response_median == 1200.0
    assert (by_key[2].csat_average, by_key[2].csat_satisfied) == (4.0, 0.5)
    assert by_key[1].tickets == 0 and by_key[1].sla_attainment == 1.0  # a clock, no new ticket
    assert by_key[3] == Metrics() and by_key[3].empty  # a team with nothing: empty, no error
    assert by_key[None].first_response_median == 3600.0
    assert [g.key for g in rules.measure_groups(rows, [], [], MAY_1_TO_3, "priority")] == ["", "p2"]


def test_dimensions_are_checked() -> None:
    dims = Dims(team_id=1, assignee_id=5, channel="email", language="de", priority="p1")
    assert [dims.key(d) for d in rules.DIMENSIONS] == [1, 5, "email", "de", "p1"]
    with pytest.raises(ValueError, match="unknown dimension"):
        dims.key("country")


# --- changes ------------------------------------------------------------------------------------------------


def test_changes_against_the_previous_period() -> None:
    assert rules.relative_change(90.0, 120.0) == -0.25
    assert rules.relative_change(5.0, 0.0) is None and rules.relative_change(None, 3.0) is None
    assert rules.difference(0.8, 0.75) == pytest.approx(0.05)
    assert rules.judge("first_response_median", -0.25) == "better"
    assert rules.judge("sla_attainment", -0.05) == "worse"
    assert rules.judge("fcr_rate", 0.0) == "same" and rules.judge("fcr_rate", None) == "same"


# --- page helpers: chart geometry and formatting ------------------------------------------------------------


def test_chart_scales_are_round() -> None:
    assert charts.nice_step(17) == 5.0 and charts.scale_top(17, 5.0) == 20.0
    assert charts.nice_step(0) == 1.0
    assert charts.duration_step(5400) == 1800.0  # 1.5 h over four steps: half hours
    assert charts.shorten("Returns and refunds team", 12) == "Returns and…"
    assert charts.shorten("售后退款组（深圳）", 10) == "售后退款…"  # wide characters count twice


def test_daily_chart_breaks_its_line_on_days_without_answers() -> None:
    chart = charts.daily_chart(
        ["d1", "d2", "d3", "d4"],
        [2, 4, 0, 1],
        [600.0, None, None, 1200.0],
        count_label=lambda v: f"{v:g}",
        duration_label=lambda s: f"{s:.0f}s",
        width=440,
        height=240,
    )
    assert len(chart.line_segments) == 2 and all(s.startswith("M") for s in chart.line_segments)
    assert [b.height for b in chart.bars] == [99.0, 198.0, 0.0, 49.5]  # 198 units for 4 tickets
    assert chart.bars[1].y == chart.plot_top
    assert [t.label for t in chart.left_ticks] == ["0", "1", "2", "3", "4"]
    assert [t.label for t in chart.right_ticks] == ["0s", "300s", "600s", "900s", "1200s"]  # 5-min steps
    assert len(chart.day_ticks) == 4


def test_group_chart_rows_without_a_value_have_no_bar() -> None:
    chart = charts.group_chart(
        [("Returns", 0.5), ("Inquiries", None), ("VIP", 1.0)],
        value_label=lambda v: f"{v:.0%}",
        axis_label=lambda v: f"{v:.0%}",
        top=1.0,
        width=480,
    )
    returns, inquiries, vip = chart.rows
    assert returns.width == pytest.approx((480 - 64 - 150) / 2, abs=0.1)
    assert (inquiries.width, inquiries.value_label, inquiries.has_value) == (0.0, "—", False)
    assert vip.width == pytest.approx(480 - 64 - 150, abs=0.1)
    assert [t.label for t in chart.ticks] == ["0%", "25%", "50%", "75%", "100%"]


def test_durations_and_shares_read_naturally_in_both_console_languages() -> None:
    en, zh = ReportFormat("en"), ReportFormat("zh")
    assert [en.duration(s) for s in (None, 44.6, 3599, 3660, 90000)] == [
        "—",
        "45 sec",
        "1 hr",
        "1 hr 1 min",
        "1 day 1 hr",
    ]
    assert zh.duration(3660) == "1小时1分钟"
    assert (en.percent(2 / 3), en.percent(None), en.rating(11 / 3)) == ("66.7%", "—", "3.7")
    assert (
        en.group_name("language", "de", None) == "German" and zh.group_name("language", "de", None) == "德语"
    )
    assert (
        en.group_name("team", None, None) == "No team"
        and en.group_name("agent", None, None) == "Not assigned"
    )
    now = rules.measure(TICKETS, CLOCKS, RATINGS, MAY_1_TO_3)
    before = rules.measure(TICKETS, CLOCKS, RATINGS, MAY_1_TO_3.previous())
    sla = en.change("sla_attainment", now, before)
    assert sla is not None and (sla.text, sla.judgement, sla.previous) == ("−33.3 pts", "worse", "100.0%")
    frt = en.change("first_response_median", now, before)
    assert frt is not None and (frt.text, frt.judgement) == ("+500%", "worse")  # 5 min → 30 min
    assert en.change("fcr_rate", now, before) is None  # nothing resolved before: no comparison
