"""The console's returns cost report (`/reports/returns`): returns and what they cost for the last 7, 30 or 90
days or chosen days, per SKU, batch, market, reason or warehouse, in a table sorted by any column, with high
return rates and cost shares marked, totals, and the same figures as CSV."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from aftersail.analytics.display import ReportFormat
from aftersail.analytics.pages import RANGES, period_query, read_period
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.i18n import N_, format_money, zone
from aftersail.returns import report as reports
from aftersail.returns.report import Figures, Group, ReturnsReport
from aftersail.returns.rules import Reason
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

DEFAULT_RANGE = "90"  # returns trail sales by weeks: a month says little
DIMENSION_LABELS = {
    "sku": N_("By SKU"),
    "batch": N_("By batch"),
    "market": N_("By market"),
    "reason": N_("By return reason"),
    "warehouse": N_("By receiving warehouse"),
}
DIMENSION_HEADINGS = {
    "sku": N_("SKU"),
    "batch": N_("Batch"),
    "market": N_("Market"),
    "reason": N_("Return reason"),
    "warehouse": N_("Receiving warehouse"),
}
REASON_NAMES = {
    Reason.DOES_NOT_FIT: N_("Size or fit"),
    Reason.NOT_AS_DESCRIBED: N_("Differs from the listing"),
    Reason.DAMAGED: N_("Damaged on arrival"),
    Reason.DEFECTIVE: N_("Faulty"),
    Reason.WRONG_ITEM: N_("Wrong item shipped"),
    Reason.MISSING_PARTS: N_("Incomplete"),
    Reason.CHANGED_MIND: N_("Change of mind"),
    Reason.ARRIVED_LATE: N_("Late delivery"),
    Reason.OTHER: N_("Any other reason"),
}
# Columns of the table: (sort key, heading); money columns are formatted in the report's currency.
COLUMNS = (
    ("units_sold", N_("Units sold")),
    ("returns", N_("Return requests")),
    ("units_returned", N_("Units returned")),
    ("return_rate", N_("Return rate")),
    ("item_value_minor", N_("Item value returned")),
    ("reverse_freight_minor", N_("Reverse freight")),
    ("handling_minor", N_("Handling cost")),
    ("refunded_minor", N_("Refunded or replaced")),
    ("restock_value_minor", N_("Restock value")),
    ("loss_minor", N_("Loss")),
    ("cost_share", N_("Cost share")),
)
MONEY = frozenset(key for key, _ in COLUMNS if key.endswith("_minor"))


@dataclass
class ReturnsReportForm:
    """The period picker, the dimension, the currency and the sort as asked (echoed back)."""

    range: str = DEFAULT_RANGE
    by: str = "sku"
    currency: str = ""
    sort: str = "units_returned"
    descending: bool = True
    values: dict[str, str] = field(default_factory=dict)
    first_day: date | None = None
    last_day: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: str) -> str:
        return period_query(
            {
                "range": self.range,
                "by": self.by,
                "currency": self.currency,
                "sort": self.sort,
                "dir": "desc" if self.descending else "asc",
                **self.values,
                **changes,
            }
        )

    def sort_query(self, key: str) -> str:
        """A column heading's link: sort by it (largest first), or turn the order round if it is the sort."""
        flip = "asc" if self.sort == key and self.descending else "desc"
        if key == "name" and self.sort != key:
            flip = "asc"
        return self.query(sort=key, dir=flip)

    def aria_sort(self, key: str) -> str:
        if self.sort != key:
            return "none"
        return "descending" if self.descending else "ascending"


def parse_form(params: QueryParams, today: date) -> ReturnsReportForm:
    by = params.get("by", "sku")
    sort = params.get("sort", "units_returned")
    currency = params.get("currency", "").strip().upper()
    form = ReturnsReportForm(
        by=by if by in reports.DIMENSIONS else "sku",
        sort=sort if sort in reports.SORT_KEYS else "units_returned",
        descending=params.get("dir", "desc") != "asc",
        currency=currency if len(currency) == 3 and currency.isalpha() else "",
    )
    read_period(form, params, today, DEFAULT_RANGE)
    return form


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    cells: dict[str, str]
    figures: Figures


class ReturnsFormat:
    """Names and figures of the report in one console language."""

    def __init__(self, locale: str, currency: str) -> None:
        self.base = ReportFormat(locale)
        self.locale, self.currency = locale, currency
        self._ = self.base._

    def group_name(self, dimension: str, group: Group) -> str:
        _ = self._
        if dimension == "reason":
            label = REASON_NAMES.get(Reason(str(group.key))) if group.key in set(Reason) else None
            return _(label) if label else str(group.key)
        if dimension == "market":
            code = str(group.key)
            return f"{Locale.parse(self.locale).territories.get(code, code)} ({code})"
        if group.name:
            return group.name
        return _(reports.NO_BATCH) if dimension == "batch" else _(reports.NO_WAREHOUSE)

    def cells(self, figures: Figures) -> dict[str, str]:
        shown = {}
        for key, _label in COLUMNS:
            value = getattr(figures, key)
            if key in MONEY:
                shown[key] = format_money(value, self.currency, self.locale) if self.currency else str(value)
            elif key in {"return_rate", "cost_share"}:
                shown[key] = self.base.percent(value)
            else:
                shown[key] = self.base.count(value)
        return shown

    def rows(self, report: ReturnsReport, sort: str, descending: bool) -> list[Row]:
        named = [Group(g.key, g.figures, self.group_name(report.group_by, g)) for g in report.groups]
        return [
            Row(g.name, self.cells(g.figures), g.figures)
            for g in reports.sort_groups(named, sort, descending=descending)
        ]


@router.get("/reports/returns")
async def returns_report_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    time_zone = zone(console.time_zone)
    form = parse_form(request.query_params, utcnow().astimezone(time_zone).date())
    report: ReturnsReport | None = None
    if not form.errors and form.first_day and form.last_day:
        try:
            report = await reports.returns_report(
                session,
                console.tenant.id,
                first_day=form.first_day,
                last_day=form.last_day,
                time_zone=time_zone,
                group_by=form.by,
                currency=form.currency or None,
            )
        except InvalidInput as exc:
            form.errors[exc.field or "to"] = exc.message  # marked for translation in analytics.rules
    fmt = ReturnsFormat(console.locale, report.currency if report else "")
    context: dict[str, Any] = {
        "request": request,
        "console": console,
        "nav": "reports",
        "form": form,
        "ranges": RANGES,
        "dimensions": DIMENSION_LABELS,
        "heading": DIMENSION_HEADINGS[form.by],
        "columns": COLUMNS,
        "report": report,
        "fmt": fmt,
        "period": fmt.base.period(report.period) if report else "",
        "rows": fmt.rows(report, form.sort, form.descending) if report else [],
        "totals": fmt.cells(report.totals) if report else {},
        "high_rate": fmt.base.percent(reports.HIGH_RETURN_RATE),
        "high_share": fmt.base.percent(reports.HIGH_COST_SHARE),
        "csv_query": urlencode(
            {
                "by": form.by,
                "from": form.first_day.isoformat() if form.first_day else "",
                "to": form.last_day.isoformat() if form.last_day else "",
                "currency": report.currency if report else "",
                "tz": console.time_zone,
                "format": "csv",
            }
        ),
    }
    return render(
        "console/returns_report.html",
        context,
        locale=console.locale,
        status_code=422 if form.errors else 200,
    )
