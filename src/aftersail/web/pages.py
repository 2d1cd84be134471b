"""The console home, the sections that are not built yet, and the buyer shell (/help and signed order links).

`include_pages(app)` mounts every page router and the static files; it is called from `web.routes`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from aftersail.catalog import service as catalog
from aftersail.catalog.pages import router as catalog_pages
from aftersail.kit.errors import NotFound
from aftersail.kit.i18n import N_, load_catalogs
from aftersail.orders import buyer_changes
from aftersail.orders import service as orders
from aftersail.orders.console_changes import router as order_changes_pages
from aftersail.orders.live_pages import router as live_pages
from aftersail.orders.models import OrderStatus
from aftersail.orders.page_forms import BUYER_FORM_MESSAGES
from aftersail.orders.pages import CHANNEL_LABELS, STATUS_LABELS
from aftersail.orders.pages import router as orders_pages
from aftersail.returns.buyer_pages import router as returns_buyer_pages
from aftersail.returns.buyer_texts import BUYER_RETURN_MESSAGES
from aftersail.shipping.track_pages import BUYER_TRACK_MESSAGES, track_path
from aftersail.tenants import service as tenants
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.tenants.pages import router as tenants_pages
from aftersail.web.console import (
    CSRF_FAILED,
    ConsoleDep,
    check_form_token,
    issue_form_token,
    remember_form_nonce,
)
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant
from aftersail.web.rendering import (
    INVALID_ADDRESS,
    STATIC_DIR,
    BuyerPageRoute,
    ConsolePageRoute,
    buyer_locale,
    render,
)

console_router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)
buyer_router = APIRouter(route_class=BuyerPageRoute, include_in_schema=False)

HELP_PURPOSE = "buyer-help"
# Sections of the console that later issues build; each page says honestly what will arrive there.
PLACEHOLDERS = {
    "settings": (
        N_("Settings"),
        N_("Return windows, returnless-refund thresholds, SLA targets, business hours, teams and API keys."),
    ),
}
BUYER_STATUS = {
    OrderStatus.PENDING: (N_("Order received"), N_("We have received your order and will prepare it soon.")),
    OrderStatus.ALLOCATED: (N_("Being prepared"), N_("Your order is being prepared at our warehouse.")),
    OrderStatus.BACKORDERED: (
        N_("Waiting for stock"),
        N_("Some items are waiting for new stock. We will send them as soon as they arrive."),
    ),
    OrderStatus.RELEASED: (N_("Being packed"), N_("The warehouse is packing your order.")),
    OrderStatus.SHIPPED: (
        N_("On its way"),
        N_("Your order has left the warehouse and is on its way to you."),
    ),
    OrderStatus.DELIVERED: (N_("Delivered"), N_("Your order has been delivered.")),
    OrderStatus.CANCELLED: (N_("Cancelled"), N_("This order was cancelled.")),
}
PROGRESS = (OrderStatus.PENDING, OrderStatus.ALLOCATED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
PROGRESS_LABELS = (N_("Received"), N_("Prepared"), N_("Shipped"), N_("Delivered"))
# Messages raised by the link signer, listed so that the catalogs carry their translations.
LINK_MESSAGES = (N_("This link has expired; ask for a new one."), N_("This link is not valid."))
ORDER_NOT_FOUND = N_(
    "We could not find an order with that number and email address. Check both and try again."
)
STORE_NOT_FOUND = N_("We could not find that store. Use the link from your order email.")
MISSING_FIELDS = N_("Enter your order number and the email address you used to order.")
# Every message a buyer page can show from Python (the templates carry the rest).
BUYER_MESSAGES = (
    *LINK_MESSAGES,
    ORDER_NOT_FOUND,
    STORE_NOT_FOUND,
    MISSING_FIELDS,
    CSRF_FAILED,
    INVALID_ADDRESS,
    *PROGRESS_LABELS,
    *(text for pair in BUYER_STATUS.values() for text in pair),
    *BUYER_FORM_MESSAGES,
    *BUYER_RETURN_MESSAGES,
    *BUYER_TRACK_MESSAGES,
)


def include_pages(app: FastAPI) -> None:
    load_catalogs()  # compile every .po once, at startup
    for router in (
        tenants_pages,
        console_router,
        orders_pages,
        order_changes_pages,
        live_pages,
        catalog_pages,
        buyer_router,
        buyer_changes.router,
        returns_buyer_pages,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@console_router.get("/")
async def console_home(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    tenant_id = console.tenant.id
    recent = await orders.list_orders(session, tenant_id, orders.OrderFilters(), limit=8)
    warehouses = await catalog.list_warehouses(session, tenant_id)
    context = {
        "request": request,
        "console": console,
        "nav": "home",
        "recent": recent.items,
        "warehouses": warehouses,
        "statuses": STATUS_LABELS,
        "channels": CHANNEL_LABELS,
        "placeholders": PLACEHOLDERS,
    }
    return render("console/home.html", context, locale=console.locale)


def _placeholder_page(section: str) -> Callable[..., Awaitable[HTMLResponse]]:
    title, arriving = PLACEHOLDERS[section]

    async def placeholder(request: Request, console: ConsoleDep) -> HTMLResponse:
        context = {
            "request": request,
            "console": console,
            "nav": section,
            "title": title,
            "arriving": arriving,
        }
        return render("console/placeholder.html", context, locale=console.locale)

    return placeholder


for _section in PLACEHOLDERS:
    console_router.add_api_route(
        f"/{_section}",
        _placeholder_page(_section),
        methods=["GET"],
        response_class=HTMLResponse,
        name=f"console_{_section}",
    )


def _help_page(
    request: Request,
    services: ServicesDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    number: str = "",
    email: str = "",
) -> HTMLResponse:
    locale = buyer_locale(request)
    nonce, form_token = issue_form_token(request, services.settings, HELP_PURPOSE)
    context = {
        "request": request,
        "form_token": form_token,
        "error": error,
        "number": number,
        "email": email,
        "shop": request.query_params.get("shop", "")[:64],
    }
    response = render("buyer/help.html", context, locale=locale, status_code=status_code)
    remember_form_nonce(response, nonce, services.settings)
    return response


@buyer_router.get("/help")
async def buyer_help(request: Request, services: ServicesDep) -> HTMLResponse:
    return _help_page(request, services)


@buyer_router.post("/help")
async def buyer_find_order(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    form = await request.form()
    fields = {
        name: str(form.get(name) or "").strip()[:254] for name in ("form_token", "shop", "number", "email")
    }
    check_form_token(request, fields["form_token"], services.settings, HELP_PURPOSE)
    shop = fields["shop"] or request.query_params.get("shop", "")
    retry = {"number": fields["number"], "email": fields["email"]}
    if not (shop and fields["number"] and fields["email"]):
        return _help_page(request, services, status_code=422, error=MISSING_FIELDS, **retry)
    await as_system(session, services)
    try:
        tenant = await tenants.find_tenant_by_slug(session, shop)
    except NotFound:
        return _help_page(request, services, status_code=404, error=STORE_NOT_FOUND, **retry)
    await scope_to_tenant(session, services, tenant.id)
    try:
        order = await orders.find_order_for_buyer(session, tenant.id, fields["number"], fields["email"])
    except NotFound:
        return _help_page(request, services, status_code=404, error=ORDER_NOT_FOUND, **retry)
    token = services.links.sign(BuyerGrant(tenant.id, LinkScope.ORDER, order.id))
    lang = request.query_params.get("lang")
    return RedirectResponse(
        f"/o/{token}" + (f"?lang={lang}" if lang and lang.isalpha() else ""), status_code=303
    )


@buyer_router.get("/o/{token}")
async def buyer_order(
    request: Request, token: str, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    grant, order = await buyer_changes.access_linked_order(token, session, services)
    customer = await orders.access_customer(session, grant.tenant_id, order.customer_id)
    tenant = await tenants.access_tenant(session, grant.tenant_id)
    lines = await orders.order_lines(session, grant.tenant_id, order.id)
    locale = buyer_locale(request, customer.preferred_language)
    request.state.locale = locale
    step = (
        PROGRESS.index(order.status)
        if order.status in PROGRESS
        else (1 if order.status in {OrderStatus.BACKORDERED, OrderStatus.RELEASED} else -1)
    )
    context = {
        "request": request,
        "order": order,
        "customer": customer,
        "tenant": tenant,
        "lines": lines,
        "status": BUYER_STATUS[order.status],
        "progress": PROGRESS_LABELS,
        "step": step,
        "time_zone": customer.time_zone,
        "chat_url": f"/chat?{urlencode({'t': tenant.slug, 'link': token, 'lang': locale})}",
        "track_url": f"{track_path(token)}?lang={locale}",
    }
    changes, finish = await buyer_changes.change_context(
        request, services, session, token, grant, order, locale
    )
    response = render(
        "buyer/order.html", {**context, **changes}, locale=locale, headers={"Referrer-Policy": "no-referrer"}
    )
    finish(response)
    return response
