"""HTTP route of the returns cost report: JSON, or CSV with `format=csv` (the console's page shows the same).
Its response schemas live here, beside the one route that uses them."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from aftersail.analytics.api import FirstDay, LastDay, ReportZone, default_days, viewer_time_zone
from aftersail.kit.clock import utcnow
from aftersail.kit.csvio import FileFormat, RecordWriter
from aftersail.kit.i18n import zone
from aftersail.kit.money import Money
from aftersail.returns.report import Figures, ReturnsReport, returns_report
from aftersail.web.deps import Reader, SessionDep

router = APIRouter(tags=["reports"])
Dimension = Literal["sku", "batch", "market", "reason", "warehouse"]
CSV_COLUMNS = (
    "group",
    "name",
    "units_sold",
    "returns",
    "units_returned",
    "return_rate",
    "item_value",
    "reverse_freight",
    "handling",
    "refunded",
    "restock_value",
    "loss",
    "cost_share",
    "currency",
)


class FiguresOut(BaseModel):
    units_sold: int
    returns: int
    units_returned: int
    return_rate: float | None  # units returned / units sold; null without sales
    item_value_minor: int
    reverse_freight_minor: int
    handling_minor: int
    refunded_minor: int  # money back, or for an exchange the value of the goods sent instead
    restock_value_minor: int
    loss_minor: int  # refunded + reverse freight + handling − restock value
    cost_share: float | None  # loss / item value returned
    high_return_rate: bool
    high_cost_share: bool

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(
            units_sold=figures.units_sold,
            returns=figures.returns,
            units_returned=figures.units_returned,
            return_rate=figures.return_rate,
            item_value_minor=figures.item_value_minor,
            reverse_freight_minor=figures.reverse_freight_minor,
            handling_minor=figures.handling_minor,
            refunded_minor=figures.refunded_minor,
            restock_value_minor=figures.restock_value_minor,
            loss_minor=figures.loss_minor,
            cost_share=figures.cost_share,
            high_return_rate=figures.high_return_rate,
            high_cost_share=figures.high_cost_share,
        )


class GroupOut(BaseModel):
    key: (
        int | str | None
    )  # a SKU, batch or warehouse id; a country code; a reason; null: no batch / not routed
    name: str
    figures: FiguresOut


class ReturnsReportOut(BaseModel):
    first_day: date
    last_day: date
    time_zone: str
    group_by: str
    currency: str  # every amount is in this currency's minor units
    currencies: list[str]
    totals: FiguresOut
    groups: list[GroupOut]

    @classmethod
    def of(cls, report: ReturnsReport) -> ReturnsReportOut:
        return cls(
            first_day=report.period.first_day,
            last_day=report.period.last_day,
            time_zone=str(report.period.zone.key),
            group_by=report.group_by,
            currency=report.currency,
            currencies=report.currencies,
            totals=FiguresOut.of(report.totals),
            groups=[
                GroupOut(key=g.key, name=g.name, figures=FiguresOut.of(g.figures)) for g in report.groups
            ],
        )


def _major(minor: int, currency: str) -> str:
    """The plain amount a spreadsheet reads (19.99, or 1999 for yen)."""
    return f"{Money(minor, currency).decimal:f}" if currency else str(minor)


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_csv(report: ReturnsReport) -> str:
    out = io.StringIO()
    writer = RecordWriter(out, FileFormat.CSV, CSV_COLUMNS)
    rows = [(g.key, g.name, g.figures) for g in report.groups] + [("total", "", report.totals)]
    writer.write(
        {
            "group": key,
            "name": name,
            "units_sold": f.units_sold,
            "returns": f.returns,
            "units_returned": f.units_returned,
            "return_rate": _share(f.return_rate),
            "item_value": _major(f.item_value_minor, report.currency),
            "reverse_freight": _major(f.reverse_freight_minor, report.currency),
            "handling": _major(f.handling_minor, report.currency),
            "refunded": _major(f.refunded_minor, report.currency),
            "restock_value": _major(f.restock_value_minor, report.currency),
            "loss": _major(f.loss_minor, report.currency),
            "cost_share": _share(f.cost_share),
            "currency": report.currency,
        }
        for key, name, f in rows
    )
    return out.getvalue()


def csv_filename(report: ReturnsReport) -> str:
    period = report.period
    return f"returns-{report.group_by}-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"


@router.get("/reports/returns", response_model=ReturnsReportOut)
async def returns_cost_report(
    session: SessionDep,
    principal: Reader,
    by: Dimension = "sku",
    first_day: FirstDay = None,
    last_day: LastDay = None,
    currency: Annotated[
        str | None,
        Query(pattern="^[A-Za-z]{3}$", description="ISO currency; default the one with most units sold."),
    ] = None,
    tz: ReportZone = None,
    format: Literal["json", "csv"] = "json",
) -> ReturnsReportOut | Response:
    """Returns requested on whole days `from`…`to` (at most 366) and what they cost, per group of `by`,
    against the units of orders placed on those days: return rate, item value, reverse freight, handling,
    refunded, restock value, loss (refunded + freight + handling − restock value) and the loss as a share of
    the value. Amounts in minor units of `currency` (JSON) or in major units (CSV)."""
    time_zone = zone(tz or await viewer_time_zone(session, principal))
    first, last = default_days(first_day, last_day, utcnow().astimezone(time_zone).date())
    report = await returns_report(
        session,
        principal.tenant_id,
        first_day=first,
        last_day=last,
        time_zone=time_zone,
        group_by=by,
        currency=currency,
    )
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{csv_filename(report)}"'},
        )
    return ReturnsReportOut.of(report)
