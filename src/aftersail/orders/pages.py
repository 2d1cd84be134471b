"""Console pages of the orders domain: the filtered orders list and one order's page (allocations, parcels,
audit trail and the cooling-off actions, which post to orders/console_changes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from aftersail.kit.i18n import N_, zone
from aftersail.kit.validation import PathId
from aftersail.orders import service as orders
from aftersail.orders.models import (
    AllocationStatus,
    Customer,
    LiveSession,
    OrderChannel,
    OrderEvent,
    OrderStatus,
)
from aftersail.orders.order_view import load_order_view
from aftersail.orders.page_forms import (
    ADDRESS_FIELDS,
    CONSOLE_NOTICES,
    Message,
    country_choices,
    forget_notice,
    take_notice,
)
from aftersail.orders.rules import CHANGEABLE
from aftersail.shipping import pages as parcel_pages
from aftersail.shipping import ticket_panel as parcel_panel
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleContext, ConsoleDep
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


EVENT_LABELS = {
    "created": N_("Order placed"),
    "allocated": N_("Allocated"),
    "backordered": N_("Backordered"),
    "cancelled": N_("Cancelled"),
    "address_changed": N_("Address changed"),
    "line_changed": N_("Line changed"),
    "released": N_("Released to warehouse"),
}
ALLOCATION_LABELS = {
    AllocationStatus.RESERVED: N_("Reserved"),
    AllocationStatus.RELEASED: N_("Released to warehouse"),
    AllocationStatus.SHIPPED: N_("Shipped"),
    AllocationStatus.CANCELLED: N_("Cancelled"),
}
AFTER_RELEASE = frozenset({OrderStatus.RELEASED, OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def _place(address: dict[str, Any]) -> str:
    return ", ".join(str(address[k]) for k in ("line1", "city", "country") if address.get(k))


def event_summary(event: OrderEvent) -> str:
    """One line of what changed, in the trail's own data (SKU codes, places, the agent's words)."""
    details = event.details or {}
    before, after = details.get("before") or {}, details.get("after") or {}
    if event.action == "cancelled":
        return str(details.get("reason") or "")
    if event.action == "address_changed":
        return f"{_place(before.get('address') or {})} → {_place(after.get('address') or {})}"
    if event.action == "line_changed":
        was, now = (f"{side.get('sku_code')} ×{side.get('quantity')}" for side in (before, after))
        return f"{was} → {now}"
    return str(details.get("summary") or "")


def actor_label(actor: str, names: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(msgid, values) naming who acted: the recorded name, else what kind of actor it was."""
    if actor in names:
        return "%(name)s", {"name": names[actor]}
    kind, _, ident = actor.partition(":")
    if kind == "buyer":
        return N_("Buyer (order link)"), {}
    if kind == "system":
        return N_("AfterSail (automatic)"), {}
    if kind == "api_key":
        return N_("API key #%(id)s"), {"id": ident}
    return N_("User #%(id)s"), {"id": ident}


async def order_page_response(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    order_id: int,
    *,
    error: Message | None = None,
    status_code: int = 200,
    address_values: dict[str, str] | None = None,
    address_errors: dict[str, str] | None = None,
    open_form: str = "",
) -> HTMLResponse:
    """The order page; after a refused change, with the refusal and the form as it was typed."""
    tenant_id = console.tenant.id
    order = await orders.access_order(session, tenant_id, order_id)
    view = await load_order_view(session, order, with_events=True, with_variants=True)
    customer = await orders.access_customer(session, tenant_id, order.customer_id)
    live_session: LiveSession | None = None
    if order.live_session_id is not None:
        live_session = next(
            (s for s in await orders.list_live_sessions(session, tenant_id) if s.id == order.live_session_id),
            None,
        )
    lines_total = sum(line.quantity * line.unit_price_minor for line, _ in view.lines)
    parcels = await parcel_panel.order_parcels(session, tenant_id, order.id)
    changeable = order.status in CHANGEABLE
    notice = take_notice(request, CONSOLE_NOTICES) if status_code == 200 else None
    context = {
        "request": request,
        "console": console,
        "nav": "orders",
        "order": order,
        "view": view,
        "lines": view.lines,
        "customer": customer,
        "live_session": live_session,
        "lines_total": lines_total,
        "adjustments": order.total_minor - lines_total,
        "address": address_lines(order.shipping_address or {}),
        "statuses": STATUS_LABELS,
        "channels": CHANNEL_LABELS,
        "event_labels": EVENT_LABELS,
        "allocation_labels": ALLOCATION_LABELS,
        "event_summary": event_summary,
        "actor_label": actor_label,
        "can_change": changeable and role_allows(console.user.role, Permission.WRITE_ORDERS),
        "can_release": order.status in {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED}
        and role_allows(console.user.role, Permission.WRITE_STOCK),
        "can_ship": role_allows(console.user.role, Permission.WRITE_STOCK),
        "after_release": order.status in AFTER_RELEASE,
        "countries": await country_choices(session, tenant_id, console.locale, order.country),
        "address_values": address_values
        or {k: str((order.shipping_address or {}).get(k) or "") for k in ADDRESS_FIELDS},
        "address_errors": address_errors or {},
        "open_form": open_form,
        "notice": notice,
        "error": error,
        "parcels": parcels,
        "parcel_labels": parcel_pages.page_labels(),
    }
    response = render("console/order.html", context, locale=console.locale, status_code=status_code)
    if notice:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, order_id: PathId, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    return await order_page_response(request, console, session, order_id)
