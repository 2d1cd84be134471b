"""Console pages of parcels: the parcels at risk (`/shipments`, filtered by exception kind, warehouse and
country, newest exception first), each lane's health (`/shipments/lanes`: transit percentiles from real
deliveries beside the configured figures, exception rates, on-time share) and one parcel (`/shipments/{id}`:
its ETA, exceptions with their tickets, and its events in event time with the carrier's own words and the
raw event, late arrivals marked). Reads only: every signed-in role may look."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from babel.units import format_unit
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.datastructures import QueryParams

from aftersail.analytics.display import ReportFormat
from aftersail.analytics.pages import RANGES, period_query, read_period
from aftersail.analytics.rules import check_period
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.i18n import N_, zone
from aftersail.kit.validation import PathId
from aftersail.orders import service as orders
from aftersail.shipping import console_labels as labels
from aftersail.shipping import report as reports
from aftersail.shipping import service as shipping
from aftersail.shipping.models import DeliveryClaim
from aftersail.shipping.report import AtRiskFilters, LaneHealth, LaneReport
from aftersail.shipping.rules import ClaimStatus, ExceptionKind
from aftersail.support.models import Ticket
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

LIST_PATH = "/shipments"
LANES_PATH = "/shipments/lanes"
DEFAULT_RANGE = "90"
FILTER_NAMES = ("kind", "warehouse", "country")
BAR_WIDTH = 110  # px of the widest transit bar
RATE_WIDTH = 48  # px of a 100 % exception-rate bar
CLAIM_LABELS = {
    ClaimStatus.WAITING_CARRIER: N_("Waiting for the carrier's investigation"),
    ClaimStatus.FOUND: N_("Found after all"),
    ClaimStatus.RESHIPPED: N_("Sent again"),
    ClaimStatus.REFUNDED: N_("Money refunded"),
    ClaimStatus.NEEDS_PERSON: N_("Needs a person"),
}


def page_labels() -> dict[str, Any]:
    """The words every parcel template translates (status, sub-status, exception, priority, source)."""
    return {
        "statuses": labels.STATUS_LABELS,
        "sub_statuses": labels.SUB_STATUS_LABELS,
        "exceptions": labels.EXCEPTION_LABELS,
        "priorities": labels.PRIORITY_LABELS,
        "sources": labels.SOURCE_LABELS,
        "directions": labels.DIRECTION_LABELS,
        "claims": CLAIM_LABELS,
    }


class ParcelFormat:
    """Days and shares in one console language."""

    def __init__(self, locale: str) -> None:
        self.base = ReportFormat(locale)
        self.locale = locale

    def days(self, value: float | None) -> str:
        if value is None:
            return "—"
        return str(format_unit(value, "duration-day", length="short", format="#,##0.#", locale=self.locale))

    def number(self, value: float) -> str:
        return str(format_decimal(value, "#,##0.#", locale=self.locale))

    def percent(self, share: float | None) -> str:
        return self.base.percent(share)

    def count(self, value: int) -> str:
        return self.base.count(value)


# --- parcels at risk -----------------------------------------------------------------------------------


def _filters(values: dict[str, str], warehouse_ids: set[int]) -> tuple[AtRiskFilters, dict[str, str]]:
    filters, errors = AtRiskFilters(), {}
    if values["kind"]:
        try:
            filters.kind = ExceptionKind(values["kind"])
        except ValueError:
            errors["kind"] = N_("Choose an exception from the list.")
    if values["warehouse"]:
        if values["warehouse"].isdigit() and int(values["warehouse"]) in warehouse_ids:
            filters.warehouse_id = int(values["warehouse"])
        else:
            errors["warehouse"] = N_("Choose a warehouse from the list.")
    if values["country"]:
        if len(values["country"]) == 2 and values["country"].isascii() and values["country"].isalpha():
            filters.country = values["country"].upper()
        else:
            errors["country"] = N_("Use a two-letter country code, such as US or DE.")
    return filters, errors


@router.get(LIST_PATH)
async def shipments_at_risk(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    tenant_id = console.tenant.id
    warehouses = await reports.warehouse_codes(session, tenant_id)
    values = {name: request.query_params.get(name, "").strip()[:40] for name in FILTER_NAMES}
    filters, errors = _filters(values, set(warehouses))
    found = None
    if not errors:
        found = await reports.shipments_at_risk(session, tenant_id, filters, now=utcnow())
    context = {
        "request": request,
        "console": console,
        "nav": "shipments",
        "values": values,
        "errors": errors,
        "active": any(values.values()),
        "found": found,
        "warehouses": sorted(
            ((wid, code, name) for wid, (code, name) in warehouses.items()), key=lambda w: w[1]
        ),
        "labels": page_labels(),
        "fmt": ParcelFormat(console.locale),
        "as_utc": as_utc,
        "limit": reports.AT_RISK_LIMIT,
    }
    return render(
        "console/shipments_risk.html", context, locale=console.locale, status_code=422 if errors else 200
    )


# --- lane health ---------------------------------------------------------------------------------------


@dataclass
class LanesForm:
    """The period picker as asked (echoed back)."""

    range: str = DEFAULT_RANGE
    values: dict[str, str] = field(default_factory=dict)
    first_day: date | None = None
    last_day: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **changes: str) -> str:
        return period_query({"range": self.range, **self.values, **changes})


def parse_lanes_form(params: QueryParams, today: date) -> LanesForm:
    form = LanesForm()
    read_period(form, params, today, DEFAULT_RANGE)
    return form


@dataclass(frozen=True, slots=True)
class LaneBars:
    """Widths (px) of a lane's transit bars: real median and p90, configured median and p90."""

    median: int
    p90: int
    configured_median: int
    configured_p90: int


def lane_bars(found: LaneReport) -> dict[tuple[int, str], LaneBars]:
    top = max(
        [float(v) for lane in found.lanes for v in (lane.p90_days, lane.configured_p90) if v is not None],
        default=0.0,
    )

    def width(value: float | None) -> int:
        return 0 if value is None or top <= 0 else max(round(value / top * BAR_WIDTH), 2)

    return {
        (lane.warehouse_id, lane.country): LaneBars(
            width(lane.median_days),
            width(lane.p90_days),
            width(lane.configured_median),
            width(lane.configured_p90),
        )
        for lane in found.lanes
    }


def rate_width(lane: LaneHealth, kind: ExceptionKind) -> int:
    rate = lane.exception_rate(kind)
    return 0 if not rate else max(round(rate * RATE_WIDTH), 2)


@router.get(LANES_PATH)
async def lanes_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    time_zone = zone(console.time_zone)
    form = parse_lanes_form(request.query_params, utcnow().astimezone(time_zone).date())
    found: LaneReport | None = None
    if not form.errors and form.first_day and form.last_day:
        try:
            period = check_period(form.first_day, form.last_day, time_zone)
            found = await reports.lane_health(session, console.tenant.id, period)
        except InvalidInput as exc:
            form.errors[exc.field or "to"] = exc.message
    fmt = ParcelFormat(console.locale)
    context = {
        "request": request,
        "console": console,
        "nav": "shipments",
        "form": form,
        "ranges": RANGES,
        "report": found,
        "period": fmt.base.period(found.period) if found else "",
        "bars": lane_bars(found) if found else {},
        "rate_width": rate_width,
        "bar_width": BAR_WIDTH,
        "rate_full": RATE_WIDTH,
        "labels": page_labels(),
        "fmt": fmt,
        "api_query": urlencode(
            {
                "from": form.first_day.isoformat() if form.first_day else "",
                "to": form.last_day.isoformat() if form.last_day else "",
                "tz": console.time_zone,
            }
        ),
    }
    return render(
        "console/shipments_lanes.html",
        context,
        locale=console.locale,
        status_code=422 if form.errors else 200,
    )


# --- one parcel ----------------------------------------------------------------------------------------


@router.get(LIST_PATH + "/{shipment_id}")
async def shipment_page(
    request: Request, shipment_id: PathId, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    tenant_id = console.tenant.id
    shipment = await shipping.access_shipment(session, tenant_id, shipment_id)
    order = await orders.access_order(session, tenant_id, shipment.order_id)
    customer = await orders.access_customer(session, tenant_id, shipment.customer_id)
    warehouses = await reports.warehouse_codes(session, tenant_id)
    exceptions = await reports.shipment_exceptions(session, shipment)
    ticket_ids = sorted({row.ticket_id for row in exceptions if row.ticket_id})
    claim = await session.scalar(
        select(DeliveryClaim).where(
            DeliveryClaim.tenant_id == tenant_id, DeliveryClaim.shipment_id == shipment.id
        )
    )
    if claim is not None and claim.ticket_id:
        ticket_ids = sorted({*ticket_ids, claim.ticket_id})
    tickets = {}
    if ticket_ids:
        rows = await session.scalars(
            select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id.in_(ticket_ids))
        )
        tickets = {ticket.id: ticket for ticket in rows.all()}
    events = labels.shown_events(await shipping.shipment_events(session, shipment))
    now = utcnow()
    eta, promised = shipment.eta, shipment.promised_eta
    context = {
        "request": request,
        "console": console,
        "nav": "shipments",
        "shipment": shipment,
        "order": order,
        "customer": customer,
        "warehouse": warehouses.get(shipment.warehouse_id, (f"#{shipment.warehouse_id}", "")),
        "exceptions": exceptions,
        # Kinds open on the parcel without a row of their own (their priority: the kind's default).
        "unlisted": [
            item
            for item in reports.merge_exceptions([], shipment.open_exceptions)
            if item.kind not in {row.kind for row in exceptions}
        ],
        "tickets": tickets,
        "claim": claim,
        "can_act": role_allows(console.user.role, Permission.WRITE_ORDERS),
        "events": events,
        "late_events": sum(1 for item in events if item.late),
        "slip_days": None
        if eta is None or promised is None
        else round((as_utc(eta) - as_utc(promised)).total_seconds() / 86400, 1),
        "since_scan": round(
            (now - as_utc(shipment.last_event_at or shipment.shipped_at)).total_seconds() / 86400, 1
        ),
        "labels": page_labels(),
        "fmt": ParcelFormat(console.locale),
        "as_utc": as_utc,
    }
    return render("console/shipment.html", context, locale=console.locale)
