"""Console pages of the orders domain: the filtered orders list and one order's page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from aftersail.kit.i18n import N_, zone
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, LiveSession, OrderChannel, OrderStatus
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

PAGE_SIZE = 25
STATUS_LABELS = {
    OrderStatus.PENDING: N_("Pending"),
    OrderStatus.ALLOCATED: N_("Allocated"),
    OrderStatus.BACKORDERED: N_("Backordered"),
    OrderStatus.RELEASED: N_("Released to warehouse"),
    OrderStatus.SHIPPED: N_("Shipped"),
    OrderStatus.DELIVERED: N_("Delivered"),
    OrderStatus.CANCELLED: N_("Cancelled"),
}
CHANNEL_LABELS = {
    OrderChannel.WEB_SHOP: N_("Web shop"),
    OrderChannel.MARKETPLACE: N_("Marketplace"),
    OrderChannel.LIVE_SESSION: N_("Live session"),
    OrderChannel.API: N_("API"),
}
ADDRESS_ORDER = (
    "name",
    "company",
    "line1",
    "address1",
    "street",
    "line2",
    "address2",
    "city",
    "region",
    "state",
    "province",
    "postal_code",
    "zip",
    "country",
    "phone",
)
FILTER_NAMES = ("status", "channel", "country", "live", "q", "placed_from", "placed_to")


@dataclass
class FilterForm:
    """The filter bar as typed (echoed back into the form) and what it means (`filters`), or its errors."""

    values: dict[str, str]
    filters: orders.OrderFilters = field(default_factory=orders.OrderFilters)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any(self.values.values())

    def query(self, **extra: str) -> str:
        pairs = {k: v for k, v in {**self.values, **extra}.items() if v}
        return urlencode(pairs)


def _local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone(time_zone))


def parse_filter_form(params: QueryParams, time_zone: str, live_ids: set[int]) -> FilterForm:
    """Reads the filter bar; dates are whole days in the viewer's time zone (the 'to' day included)."""
    values = {name: params.get(name, "").strip()[:120] for name in FILTER_NAMES}
    form = FilterForm(values=values)
    filters = form.filters
    if values["status"]:
        try:
            filters.status = OrderStatus(values["status"])
        except ValueError:
            form.errors["status"] = N_("Choose a status from the list.")
    if values["channel"]:
        try:
            filters.channel = OrderChannel(values["channel"])
        except ValueError:
            form.errors["channel"] = N_("Choose a channel from the list.")
    if values["country"]:
        if len(values["country"]) == 2 and values["country"].isalpha():
            filters.country = values["country"].upper()
        else:
            form.errors["country"] = N_("Use a two-letter country code, such as US or DE.")
    if values["live"]:
        if values["live"].isdigit() and int(values["live"]) in live_ids:
            filters.live_session_id = int(values["live"])
        else:
            form.errors["live"] = N_("Choose a live session from the list.")
    filters.q = values["q"] or None
    for name in ("placed_from", "placed_to"):
        if not values[name]:
            continue
        try:
            day = date.fromisoformat(values[name])
        except ValueError:
            form.errors[name] = N_("Use a date such as 2024-05-31.")
            continue
        if name == "placed_from":
            filters.placed_from = _local_midnight(day, time_zone)
        else:
            filters.placed_to = _local_midnight(day + timedelta(days=1), time_zone)
    if filters.placed_from and filters.placed_to and filters.placed_from >= filters.placed_to:
        form.errors["placed_to"] = N_("The end date is before the start date.")
    return form


def address_lines(address: dict[str, Any]) -> list[str]:
    """A stored address as display lines: known fields in postal order, then any others."""
    keys = [k for k in ADDRESS_ORDER if k in address] + sorted(k for k in address if k not in ADDRESS_ORDER)
    return [str(address[k]).strip() for k in keys if str(address.get(k) or "").strip()]


@router.get("/orders")
async def orders_list(
    request: Request, console: ConsoleDep, session: SessionDep, cursor: str = ""
) -> HTMLResponse:
    tenant_id = console.tenant.id
    live_sessions = await orders.list_live_sessions(session, tenant_id)
    form = parse_filter_form(request.query_params, console.time_zone, {s.id for s in live_sessions})
    rows: list[tuple[Any, Customer | None]] = []
    next_cursor = None
    if not form.errors:
        page = await orders.list_orders(
            session, tenant_id, form.filters, cursor=cursor or None, limit=PAGE_SIZE
        )
        next_cursor = page.next_cursor
        customers: dict[int, Customer] = {}
        for order in page.items:
            if order.customer_id not in customers:
                customers[order.customer_id] = await orders.access_customer(
                    session, tenant_id, order.customer_id
                )
            rows.append((order, customers[order.customer_id]))
    context = {
        "request": request,
        "console": console,
        "nav": "orders",
        "form": form,
        "rows": rows,
        "live_sessions": live_sessions,
        "live_by_id": {s.id: s for s in live_sessions},
        "statuses": STATUS_LABELS,
        "channels": CHANNEL_LABELS,
        "cursor": cursor,
        "next_query": form.query(cursor=next_cursor) if next_cursor else None,
        "first_query": form.query(),
    }
    return render(
        "console/orders.html", context, locale=console.locale, status_code=422 if form.errors else 200
    )


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, order_id: int, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    tenant_id = console.tenant.id
    order = await orders.access_order(session, tenant_id, order_id)
    lines = await orders.order_lines(session, tenant_id, order.id)
    customer = await orders.access_customer(session, tenant_id, order.customer_id)
    live_session: LiveSession | None = None
    if order.live_session_id is not None:
        live_session = next(
            (s for s in await orders.list_live_sessions(session, tenant_id) if s.id == order.live_session_id),
            None,
        )
    lines_total = sum(line.quantity * line.unit_price_minor for line, _ in lines)
    context = {
        "request": request,
        "console": console,
        "nav": "orders",
        "order": order,
        "lines": lines,
        "customer": customer,
        "live_session": live_session,
        "lines_total": lines_total,
        "adjustments": order.total_minor - lines_total,
        "address": address_lines(order.shipping_address or {}),
        "statuses": STATUS_LABELS,
        "channels": CHANNEL_LABELS,
    }
    return render("console/order.html", context, locale=console.locale)
