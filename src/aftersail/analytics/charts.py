"""Geometry of the report's charts, drawn as inline SVG by the templates (no chart library, no script).

Pure: values and already formatted labels in, coordinates out (in the SVG's own viewBox units). The
templates only place what is computed here, so a chart is checked by looking at numbers, not pictures.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Steps of a duration axis, in seconds: round numbers a person reads at a glance.
DURATION_STEPS = (
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000,
    864000,
)  # fmt: skip
Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Tick:
    position: float  # along the axis, in viewBox units
    label: str


def nice_step(top: float, ticks: int = 4) -> float:
    """A 1-2-5 step so that `ticks` steps reach at least `top` (and 1 for an empty axis)."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def duration_step(top: float, ticks: int = 4) -> float:
    """A round duration step (30 s, 5 min, 1 h, 1 d …) so that `ticks` steps reach `top`."""
    for step in DURATION_STEPS:
        if step * ticks >= top:
            return float(step)
    return float(math.ceil(top / ticks / 86400) * 86400)


def scale_top(top: float, step: float) -> float:
    return max(step, math.ceil(top / step) * step)


def _r(value: float) -> float:
    return round(value, 1)


# --- the daily chart: tickets as bars, median first response as a line ------------------------------------


@dataclass(frozen=True, slots=True)
class DayBar:
    x: float
    y: float
    width: float
    height: float
    center: float
    label: str  # the day, for the bar's <title>
    value_label: str
    line_label: str


@dataclass(frozen=True, slots=True)
class DailyChart:
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    bars: list[DayBar]
    line_segments: list[str]  # SVG path data; a day without answers breaks the line
    dots: list[tuple[float, float]]
    left_ticks: list[Tick]  # tickets
    right_ticks: list[Tick]  # durations
    day_ticks: list[Tick]  # x axis: at most `max_labels` days


def daily_chart(
    days: Sequence[str],
    tickets: Sequence[int],
    first_response: Sequence[float | None],
    *,
    count_label: Format,
    duration_label: Format,
    time_axis_label: Format | None = None,
    day_labels: Sequence[str] | None = None,
    width: int = 720,
    height: int = 240,
    max_labels: int = 8,
) -> DailyChart:
    """`days` names each day in full (for titles); `day_labels` is the short form under the axis."""
    left, right, top, bottom = 40.0, width - 64.0, 14.0, height - 28.0
    plot_height = bottom - top
    count = max(len(days), 1)
    slot = (right - left) / count
    bar_width = max(1.0, slot * (0.7 if count <= 31 else 0.85))
    count_step = max(1.0, nice_step(max(tickets, default=0)))  # whole tickets only
    count_top = scale_top(max(tickets, default=0), count_step)
    known = [s for s in first_response if s is not None]
    time_step = duration_step(max(known, default=0) or 60)
    time_top = scale_top(max(known, default=0), time_step)

    bars: list[DayBar] = []
    segments: list[str] = []
    dots: list[tuple[float, float]] = []
    current: list[str] = []
    for index, day in enumerate(days):
        center = left + slot * (index + 0.5)
        bar_height = plot_height * tickets[index] / count_top
        seconds = first_response[index]
        bars.append(
            DayBar(
                x=_r(center - bar_width / 2),
                y=_r(bottom - bar_height),
                width=_r(bar_width),
                height=_r(bar_height),
                center=_r(center),
                label=day,
                value_label=count_label(tickets[index]),
                line_label="—" if seconds is None else duration_label(seconds),
            )
        )
        if seconds is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        point = (_r(center), _r(bottom - plot_height * seconds / time_top))
        current.append(f"{'M' if not current else 'L'}{point[0]},{point[1]}")
        dots.append(point)
    if current:
        segments.append(" ".join(current))

    steps = round(count_top / count_step)
    left_ticks = [
        Tick(_r(bottom - plot_height * i / steps), count_label(count_step * i)) for i in range(steps + 1)
    ]
    time_steps = round(time_top / time_step)
    right_ticks = [
        Tick(_r(bottom - plot_height * i / time_steps), (time_axis_label or duration_label)(time_step * i))
        for i in range(time_steps + 1)
    ]
    labels = list(day_labels) if day_labels is not None else list(days)
    every = max(1, math.ceil(len(labels) / max_labels))
    day_ticks = [Tick(bars[i].center, labels[i]) for i in range(0, len(labels), every)]
    return DailyChart(
        width, height, left, right, top, bottom, bars, segments, dots, left_ticks, right_ticks, day_ticks
    )


# --- bars per group ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupBar:
    y: float
    width: float  # 0 when there is no value
    name: str  # shortened to fit beside the bars
    full_name: str
    value_label: str
    has_value: bool
    value_x: float  # where the value's text starts


@dataclass(frozen=True, slots=True)
class GroupChart:
    width: int
    height: int
    bar_left: float
    bar_right: float
    bar_height: float
    rows: list[GroupBar]
    ticks: list[Tick]
    axis_y: float


def display_width(text: str) -> int:
    """Columns a string takes: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def shorten(text: str, columns: int) -> str:
    if display_width(text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:
        used += display_width(ch)
        if used > columns - 1:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


def group_chart(
    rows: Sequence[tuple[str, float | None]],
    *,
    value_label: Format,
    axis_label: Format,
    top: float | None = None,
    durations: bool = False,
    width: int = 480,
    row_height: int = 26,
    name_columns: int = 20,
) -> GroupChart:
    """Horizontal bars, one per (name, value). `top` fixes the scale (1 for shares, 5 for CSAT); otherwise
    a round scale above the largest value (a duration scale when `durations`)."""
    bar_left, bar_right = 150.0, width - 64.0
    values = [v for _, v in rows if v is not None]
    if top is None:
        largest = max(values, default=0.0)
        step = duration_step(largest or 60) if durations else nice_step(largest or 1)
        top = scale_top(largest, step)
    else:
        step = top / 4
    span = bar_right - bar_left
    bars = []
    for index, (name, value) in enumerate(rows):
        length = 0.0 if value is None else span * min(max(value, 0.0), top) / top
        bars.append(
            GroupBar(
                y=_r(8 + index * row_height),
                width=_r(length),
                name=shorten(name, name_columns),
                full_name=name,
                value_label="—" if value is None else value_label(value),
                has_value=value is not None,
                value_x=_r(bar_left + length + 6),
            )
        )
    axis_y = 8 + len(rows) * row_height
    steps = round(top / step)
    ticks = [Tick(_r(bar_left + span * i / steps), axis_label(step * i)) for i in range(steps + 1)]
    return GroupChart(
        width=width,
        height=int(axis_y + 22),
        bar_left=bar_left,
        bar_right=bar_right,
        bar_height=row_height - 10,
        rows=bars,
        ticks=ticks,
        axis_y=axis_y,
    )
