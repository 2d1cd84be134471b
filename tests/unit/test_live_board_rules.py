"""The Live board's pure rules: the chart window, minute buckets, and adding stock rows up per cell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aftersail.catalog.stock_board import add_up
from aftersail.orders.live import LIVE_WINDOW_MINUTES, MAX_CHART_MINUTES, chart_window, minute_buckets
from aftersail.orders.models import LiveSession

T0 = datetime(2024, 6, 1, 20, 0, tzinfo=UTC)


def session(starts: datetime, ends: datetime | None = None) -> LiveSession:
    return LiveSession(title="Drop", host="Lina", market="DE", starts_at=starts, ends_at=ends)


def test_on_air_shows_the_last_hour_with_the_minute_in_progress() -> None:
    start, end = chart_window(session(T0), T0 + timedelta(minutes=90, seconds=42))
    assert end == T0 + timedelta(minutes=91)
    assert end - start == timedelta(minutes=LIVE_WINDOW_MINUTES)


def test_an_ended_session_shows_its_own_run_up_to_a_limit() -> None:
    assert chart_window(session(T0, T0 + timedelta(minutes=45, seconds=10)), T0 + timedelta(days=1)) == (
        T0,
        T0 + timedelta(minutes=46),
    )
    start, end = chart_window(session(T0, T0 + timedelta(hours=9)), T0 + timedelta(days=1))
    assert end == T0 + timedelta(hours=9) and end - start == timedelta(minutes=MAX_CHART_MINUTES)
    assert chart_window(session(T0, T0), T0 + timedelta(hours=1)) == (T0, T0 + timedelta(minutes=1))


def test_minute_buckets_count_whole_minutes_and_drop_the_rest() -> None:
    times = [T0, T0 + timedelta(seconds=59), T0 + timedelta(minutes=2), T0 - timedelta(seconds=1)]
    times.append(T0 + timedelta(minutes=3))  # the end is exclusive
    assert minute_buckets(times, T0, T0 + timedelta(minutes=3)) == [2, 0, 1]
    assert minute_buckets([], T0, T0) == []


def test_stock_rows_add_up_per_sku_and_warehouse() -> None:
    cells = add_up(
        [
            (11, 1, 7, 5, 2, T0),
            (12, 1, 7, 3, 3, T0 + timedelta(minutes=1)),
            (13, 2, 7, 4, 4, None),
            (14, 1, 8, 0, 0, None),
        ]
    )
    assert [(c.sku_id, c.warehouse_id, c.on_hand, c.reserved, c.available) for c in cells] == [
        (7, 1, 8, 5, 3),
        (7, 2, 4, 4, 0),
        (8, 1, 0, 0, 0),
    ]
    assert cells[0].level_ids == (11, 12) and cells[0].updated_at == T0 + timedelta(minutes=1)
    assert [c.sold_out for c in cells] == [False, True, True]
