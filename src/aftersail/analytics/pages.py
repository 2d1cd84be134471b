"""The console's Reports page (`/reports`): the support report for the last 7, 30 or 90 days or chosen days,
grouped by team, agent, channel, buyer language or priority, with KPI tiles against the previous period and
server-drawn SVG charts (each with a data table beside it for screen readers and exact numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from aftersail.analytics import charts, rules
from aftersail.analytics import service as analytics
from aftersail.analytics.display import DIMENSION_HEADINGS, DIMENSION_LABELS, ReportFormat
from aftersail.analytics.rules import Metrics
from aftersail.analytics.service import SupportReport
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.i18n import N_, zone
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

RANGES = {"7": N_("Last 7 days"), "30": N_("Last 30 days"), "90": N_("Last 90 days")}
DEFAULT_RANGE = "30"
BAD_DATE = N_("Use a date such as 2024-05-31.")


@dataclass
class ReportForm:
    """The period picker and the group switch as asked (echoed back), and what they mean."""

    range: str = DEFAULT_RANGE  # 7, 30, 90 or custom
    group_by: str = "team"
    values: dict[str, str] = field(default_factory=dict)  # from / to as typed
    first_day: date | None = None
    last_day: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: str) -> str:
        return period_query({"range": self.range, "group_by": self.group_by, **self.values, **changes})


class PeriodForm(Protocol):
    """What a report's period picker fills in (the support report's and the returns report's forms)."""

    range: str
    values: dict[str, str]
    first_day: date | None
    last_day: date | None
    errors: dict[str, str]


def read_period(
    form: PeriodForm, params: QueryParams, today: date, default_range: str = DEFAULT_RANGE
) -> None:
    """Fills `form`'s period from the query: the last 7, 30 or 90 days to `today`, or the days typed in `from`
    and `to` (one that is not a date is left None, with an error); nothing asked: `default_range`."""
    form.values = {name: params.get(name, "").strip()[:20] for name in ("from", "to")}
    asked = params.get("range", "")
    form.range = asked if asked in RANGES else "custom" if any(form.values.values()) else default_range
    if form.range != "custom":
        form.values = {}
        form.last_day = today
        form.first_day = today - timedelta(days=int(form.range) - 1)
        return
    days: dict[str, date] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(form.values[name])
        except ValueError:
            form.errors[name] = BAD_DATE
    form.first_day, form.last_day = days.get("from"), days.get("to")


def period_query(pairs: dict[str, str]) -> str:
    """A report's query string; the typed days only go with a custom range."""
    if pairs.get("range") != "custom":
        pairs.pop("from", None)
        pairs.pop("to", None)
    return urlencode({k: v for k, v in pairs.items() if v})


def parse_report_form(params: QueryParams, today: date) -> ReportForm:
    group_by = params.get("group_by", "team")
    form = ReportForm(group_by=group_by if group_by in rules.DIMENSIONS else "team")
    read_period(form, params, today)
    return form


@dataclass(frozen=True, slots=True)
class GroupPanel:
    key: str
    title: str
    description: str
    chart: charts.GroupChart


def _group_panels(report: SupportReport, fmt: ReportFormat, names: list[str]) -> list[GroupPanel]:
    _ = fmt._
    described = {"period": fmt.period(report.period)}

    def values(metric: str) -> list[tuple[str, float | None]]:
        return [(name, getattr(g.metrics, metric)) for name, g in zip(names, report.groups, strict=True)]

    specs: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "first_response_median",
            _("Median first response"),
            _("Median first response time per group, %(period)s. Shorter is better."),
            {"value_label": fmt.duration, "axis_label": fmt.axis_duration, "durations": True},
        ),
        (
            "fcr_rate",
            _("First-contact resolution"),
            _("Share of tickets resolved without a reopen or a buyer follow-up per group, %(period)s."),
            {"value_label": fmt.percent, "axis_label": fmt.whole_percent, "top": 1.0},
        ),
        (
            "sla_attainment",
            _("SLA attainment"),
            _("Share of SLA clocks met among those met or breached per group, %(period)s."),
            {"value_label": fmt.percent, "axis_label": fmt.whole_percent, "top": 1.0},
        ),
        (
            "csat_average",
            _("CSAT average"),
            _("Average buyer rating from 1 to 5 per group, %(period)s."),
            {"value_label": fmt.rating, "axis_label": fmt.count, "top": 5.0},
        ),
    ]
    return [
        GroupPanel(key, title, text % described, charts.group_chart(values(key), **options))
        for key, title, text, options in specs
    ]


def _daily(report: SupportReport, fmt: ReportFormat) -> charts.DailyChart:
    return charts.daily_chart(
        [fmt.day(p.day) for p in report.series],
        [p.tickets for p in report.series],
        [p.first_response_median for p in report.series],
        count_label=fmt.count,
        duration_label=fmt.duration,
        time_axis_label=fmt.axis_duration,
        day_labels=[fmt.short_day(p.day) for p in report.series],
    )


def report_context(report: SupportReport, fmt: ReportFormat) -> dict[str, Any]:
    names = [fmt.group_name(report.group_by, g.key, g.name) for g in report.groups]
    _ = fmt._
    totals = report.totals
    peak = max((p.tickets for p in report.series), default=0)
    return {
        "tiles": fmt.tiles(totals, report.previous_totals),
        "daily": _daily(report, fmt),
        "daily_description": _(
            "Tickets created per day, %(period)s: %(total)s in all, at most %(peak)s on one day. "
            "The line is the median first response time of each day's tickets."
        )
        % {"period": fmt.period(report.period), "total": fmt.count(totals.tickets), "peak": fmt.count(peak)},
        "groups": list(zip(names, report.groups, strict=True)),
        "group_panels": _group_panels(report, fmt, names),
    }


def _metrics_row(fmt: ReportFormat, metrics: Metrics) -> dict[str, str]:
    return {
        "tickets": fmt.count(metrics.tickets),
        "first_response_median": fmt.duration(metrics.first_response_median),
        "first_response_p90": fmt.duration(metrics.first_response_p90),
        "resolution_median": fmt.duration(metrics.resolution_median),
        "fcr_rate": fmt.percent(metrics.fcr_rate),
        "sla_attainment": fmt.percent(metrics.sla_attainment),
        "csat_average": fmt.rating(metrics.csat_average),
        "csat_count": fmt.count(metrics.csat_count),
    }


@router.get("/reports")
async def reports_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    time_zone = zone(console.time_zone)
    form = parse_report_form(request.query_params, utcnow().astimezone(time_zone).date())
    fmt = ReportFormat(console.locale)
    report: SupportReport | None = None
    if not form.errors and form.first_day and form.last_day:
        try:
            report = await analytics.support_report(
                session,
                console.tenant.id,
                first_day=form.first_day,
                last_day=form.last_day,
                time_zone=time_zone,
                group_by=form.group_by,
            )
        except InvalidInput as exc:
            form.errors[exc.field or "to"] = exc.message  # marked for translation in `rules`
    context: dict[str, Any] = {
        "request": request,
        "console": console,
        "nav": "reports",
        "form": form,
        "ranges": RANGES,
        "dimensions": DIMENSION_LABELS,
        "heading": DIMENSION_HEADINGS[form.group_by],
        "report": report,
        "fmt": fmt,
        "metrics_row": lambda metrics: _metrics_row(fmt, metrics),
    }
    if report is not None and not report.empty:
        context.update(report_context(report, fmt))
    return render(
        "console/reports.html", context, locale=console.locale, status_code=422 if form.errors else 200
    )
