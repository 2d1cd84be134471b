"""How the support report reads in the console: durations, shares, averages and changes in the viewer's
language, the names of groups, and the KPI tiles. Presentation only; the figures come from `rules`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval, format_skeleton
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

from aftersail.analytics import rules
from aftersail.analytics.rules import GroupKey, Metrics, Period
from aftersail.kit.i18n import N_, translations

NONE = "—"
DIMENSION_LABELS = {
    "team": N_("By team"),
    "agent": N_("By agent"),
    "channel": N_("By channel"),
    "language": N_("By buyer language"),
    "priority": N_("By priority"),
}
# The group column's heading per dimension.
DIMENSION_HEADINGS = {
    "team": N_("Support team"),
    "agent": N_("Assigned agent"),
    "channel": N_("Channel of first contact"),
    "language": N_("Buyer language"),
    "priority": N_("Ticket priority"),
}
PRIORITY_NAMES = {
    "p1": N_("P1 · urgent"),
    "p2": N_("P2 · high"),
    "p3": N_("P3 · normal"),
    "p4": N_("P4 · low"),
}
CHANNEL_NAMES = {
    "chat": N_("Website chat"),
    "email": N_("E-mail conversations"),
    "api": N_("Marketplace messages (API)"),
}
NO_TEAM = N_("No team")
UNASSIGNED = N_("Not assigned")
UNKNOWN_USER = N_("User #%(id)s")


@dataclass(frozen=True, slots=True)
class Change:
    text: str  # "+12%", "−3.5 pts", "+0.2"
    judgement: str  # better, worse, same; neutral for the ticket count (more is neither)
    previous: str  # the previous period's value, formatted


@dataclass(frozen=True, slots=True)
class Tile:
    key: str
    label: str
    value: str
    detail: str  # a line under the value ("41 of 48 answered"), or ""
    change: Change | None


class ReportFormat:
    """Formatting in one console language."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._ = translations(locale).gettext

    # values
    def count(self, value: float) -> str:
        return str(format_decimal(round(value), locale=self.locale))

    def percent(self, share: float | None) -> str:
        return NONE if share is None else str(format_percent(share, "#,##0.0%", locale=self.locale))

    def whole_percent(self, share: float) -> str:
        return str(format_percent(share, "#,##0%", locale=self.locale))

    def rating(self, value: float | None) -> str:
        return NONE if value is None else str(format_decimal(value, "0.0", locale=self.locale))

    def duration(self, seconds: float | None) -> str:
        """45 sec, 12 min, 3 hr 5 min, 2 days 4 hr: two units at most, rounded to the smaller one, in CLDR's
        words for the language (no catalog strings needed)."""
        if seconds is None:
            return NONE
        if round(seconds) < 60:
            return self._units((round(seconds), "second"))
        minutes = round(seconds / 60)
        if minutes < 60:
            return self._units((minutes, "minute"))
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return self._units((hours, "hour"), (minutes, "minute"))
        days, hours = divmod(hours, 24)
        return self._units((days, "day"), (hours, "hour"))

    def axis_duration(self, seconds: float) -> str:
        """An axis tick: '0' at the origin rather than '0 sec'."""
        return "0" if seconds == 0 else self.duration(seconds)

    def _units(self, *parts: tuple[int, str]) -> str:
        shown = [
            str(format_unit(amount, f"duration-{unit}", length="short", locale=self.locale))
            for index, (amount, unit) in enumerate(parts)
            if amount or index == 0
        ]
        return str(format_list(shown, style="unit-narrow", locale=self.locale))

    # days
    def day(self, day: date) -> str:
        return str(format_date(day, "medium", locale=self.locale))

    def short_day(self, day: date) -> str:
        return str(format_skeleton("Md", day, locale=self.locale))

    def period(self, period: Period) -> str:
        if period.first_day == period.last_day:
            return self.day(period.first_day)
        return str(format_interval(period.first_day, period.last_day, "yMMMd", locale=self.locale))

    # groups
    def group_name(self, dimension: str, key: GroupKey, name: str | None) -> str:
        _ = self._
        if name:
            return name
        if key is None:
            return _(NO_TEAM) if dimension == "team" else _(UNASSIGNED)
        if dimension == "priority":
            return _(PRIORITY_NAMES.get(str(key), str(key)))
        if dimension == "channel":
            return _(CHANNEL_NAMES.get(str(key), str(key)))
        if dimension == "language":
            return self.language(str(key))
        return _(UNKNOWN_USER) % {"id": key}

    def language(self, code: str) -> str:
        try:
            found = Locale.parse(code.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            return code
        return str(found.get_display_name(self.locale) or code)

    # changes
    def change(self, metric: str, current: Metrics, previous: Metrics) -> Change | None:
        now, before = getattr(current, metric), getattr(previous, metric)
        if before is None:
            return None
        if metric in {"fcr_rate", "sla_attainment", "csat_satisfied"}:
            delta = rules.difference(now, before)
            text = None if delta is None else self._("%(points)s pts") % {"points": self._signed(delta * 100)}
            shown = self.percent(before)
        elif metric == "csat_average":
            delta = rules.difference(now, before)
            text = None if delta is None else self._signed(delta)
            shown = self.rating(before)
        else:
            delta = rules.relative_change(now, before)
            text = None if delta is None else self._signed_percent(delta)
            shown = self.count(before) if metric == "tickets" else self.duration(before)
        if delta is None or text is None:
            return None
        judgement = "neutral" if metric == "tickets" else rules.judge(metric, round(delta, 3))
        return Change(text=text, judgement=judgement, previous=shown)

    def _signed(self, value: float) -> str:
        text = str(format_decimal(abs(value), "0.0", locale=self.locale))
        return ("+" if value > 0 else "−" if value < 0 else "±") + text

    def _signed_percent(self, value: float) -> str:
        text = str(format_percent(abs(value), "#,##0%", locale=self.locale))
        return ("+" if value > 0 else "−" if value < 0 else "±") + text

    # tiles
    def tiles(self, current: Metrics, previous: Metrics) -> list[Tile]:
        _ = self._
        return [
            Tile(
                "tickets",
                _("Tickets created"),
                self.count(current.tickets),
                _("%(resolved)s resolved") % {"resolved": self.count(current.resolved)},
                self.change("tickets", current, previous),
            ),
            Tile(
                "first_response_median",
                _("Median first response"),
                self.duration(current.first_response_median),
                _("%(answered)s of %(tickets)s answered")
                % {"answered": self.count(current.answered), "tickets": self.count(current.tickets)},
                self.change("first_response_median", current, previous),
            ),
            Tile(
                "first_response_p90",
                _("90th percentile first response"),
                self.duration(current.first_response_p90),
                "",
                self.change("first_response_p90", current, previous),
            ),
            Tile(
                "resolution_median",
                _("Median resolution time"),
                self.duration(current.resolution_median),
                "",
                self.change("resolution_median", current, previous),
            ),
            Tile(
                "fcr_rate",
                _("First-contact resolution"),
                self.percent(current.fcr_rate),
                _("%(count)s of %(resolved)s resolved tickets")
                % {
                    "count": self.count(current.first_contact_resolved),
                    "resolved": self.count(current.resolved),
                },
                self.change("fcr_rate", current, previous),
            ),
            Tile(
                "sla_attainment",
                _("SLA attainment"),
                self.percent(current.sla_attainment),
                _("%(met)s of %(ended)s clocks met")
                % {"met": self.count(current.sla_met), "ended": self.count(current.sla_ended)},
                self.change("sla_attainment", current, previous),
            ),
            Tile(
                "csat_average",
                _("CSAT average"),
                self.rating(current.csat_average),
                _("%(count)s ratings, out of 5") % {"count": self.count(current.csat_count)},
                self.change("csat_average", current, previous),
            ),
            Tile(
                "csat_satisfied",
                _("Satisfied buyers"),
                self.percent(current.csat_satisfied),
                _("Ratings of 4 or 5"),
                self.change("csat_satisfied", current, previous),
            ),
        ]
