"""The buyer's web chat pages: `/chat` (standalone, or `embed=1` inside the store's widget iframe), the
widget's demo store page and labels, and `/rate/{token}` (the one-click CSAT page of e-mails and chats).

The chat page is a shell: its ES modules (`static/js/chat*.js`) talk to `chat_api`. Every string the
scripts show is translated here, on the server, and handed to them as JSON in the page.

Rating from a link: `GET /rate/{token}?rating=N` does not record anything by itself. It renders a form
holding N that the page's script submits at once (a POST); without JavaScript the buyer presses one button.
Mail scanners and link previewers fetch every link of an e-mail — all five rating links — so a GET that
recorded would file ratings the buyer never gave. The POST only sets the rating (the last answer wins while
the case is resolved), so submitting it twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.config import SUPPORTED_LOCALES
from aftersail.kit.errors import InvalidInput, NotFound, PermissionDenied
from aftersail.kit.i18n import N_, negotiate_locale
from aftersail.orders.models import Customer
from aftersail.support import csat
from aftersail.support import service as tickets
from aftersail.support.models import CsatRating, Ticket
from aftersail.support.rules import CATEGORIES
from aftersail.tenants import service as tenants
from aftersail.tenants.links import LinkScope
from aftersail.tenants.models import Tenant
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant
from aftersail.web.rendering import CONTENT_SECURITY_POLICY, BuyerPageRoute, buyer_locale, gettext_for, render
from aftersail.web.services import Services

LINK_NOT_VALID = N_("This link is not valid.")
STORE_NOT_FOUND = N_("We could not find that store. Use the link from your order email.")
# The widget's own button lives on the store's page, outside our templates: its labels come from here.
WIDGET_OPEN = N_("Chat with us")
WIDGET_CLOSE = N_("Close chat")
SLUG = Annotated[str, Query(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
# The embedded chat is framed by the seller's store, wherever it is hosted.
EMBED_CSP = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors *")
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
# What a buyer may pick as the topic of a new chat: ticket categories (rules.CATEGORIES) less those that are
# the agents' to set, such as "thanks"; labelled in chat.html.
BUYER_TOPICS = tuple(c for c in CATEGORIES if c not in ("thanks", "suggestion"))


class ChatPageRoute(BuyerPageRoute):
    """Buyer pages, except that the embedded chat may be framed by the seller's store: its answer carries
    `frame-ancestors *` and no X-Frame-Options (which cannot list origins, and would say DENY)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def framable(request: Request) -> Response:
            response = await handler(request)
            if response.headers.get("Content-Security-Policy") == EMBED_CSP:
                del response.headers["X-Frame-Options"]
            return response

        return framable


router = APIRouter(route_class=ChatPageRoute, include_in_schema=False)


async def _tenant_by_slug(session: AsyncSession, services: Services, slug: str) -> Tenant:
    await as_system(session, services)
    try:
        tenant = await tenants.find_tenant_by_slug(session, slug)
    except NotFound as error:
        raise NotFound(STORE_NOT_FOUND) from error
    await scope_to_tenant(session, services, tenant.id)
    return tenant


@router.get("/chat")
async def chat_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    t: SLUG,
    link: Annotated[str, Query(max_length=500)] = "",
    embed: Annotated[int, Query(ge=0, le=1)] = 0,
) -> HTMLResponse:
    """The conversation. The page keeps the buyer's chat token in localStorage (one key per store)."""
    tenant = await _tenant_by_slug(session, services, t)
    locale = buyer_locale(request, tenant.default_locale)
    request.state.locale = locale
    config = {
        "tenant": tenant.slug,
        "shop": tenant.name,
        "locale": locale,
        "embed": bool(embed),
        "link": link,
        "maxPhotoBytes": services.settings.attachment_max_bytes,
    }
    context = {
        "request": request,
        "tenant": tenant,
        "config": config,
        "embed": bool(embed),
        "categories": BUYER_TOPICS,
    }
    headers = dict(TOKEN_PAGE_HEADERS) if link else {}
    if embed:
        headers["Content-Security-Policy"] = EMBED_CSP
    return render("buyer/chat.html", context, locale=locale, headers=headers)


@router.get("/chat/widget-demo")
async def widget_demo(request: Request, session: SessionDep, services: ServicesDep, t: SLUG) -> HTMLResponse:
    """A pretend store page with the widget on it: sellers try the widget here; the browser tests too."""
    tenant = await _tenant_by_slug(session, services, t)
    locale = buyer_locale(request, tenant.default_locale)
    request.state.locale = locale
    snippet = (
        f'<script src="{services.settings.base_url}/static/js/chat-widget.js" '
        f'data-tenant="{tenant.slug}" async></script>'
    )
    context = {"request": request, "tenant": tenant, "snippet": snippet}
    return render("buyer/widget_demo.html", context, locale=locale)


@router.get("/chat/widget-labels")
async def widget_labels(request: Request, services: ServicesDep) -> JSONResponse:
    """The floating button's labels in the store page's language (read cross-origin by the widget)."""
    locale = negotiate_locale(
        request.query_params.get("lang"),
        accept_language=request.headers.get("accept-language"),
        allowed=SUPPORTED_LOCALES,
        default=services.settings.default_locale,
    )
    gettext = gettext_for(locale)
    return JSONResponse(
        {"locale": locale, "open": gettext(WIDGET_OPEN), "close": gettext(WIDGET_CLOSE)},
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"},
    )


# --- CSAT -----------------------------------------------------------------------------------------------


async def _rated_ticket(
    request: Request, session: AsyncSession, services: Services, token: str
) -> tuple[Ticket, str]:
    """The ticket of a rating link and the page's language: `?lang=`, else the case's own language (the
    e-mail that carried the link was written in it), else the buyer's, else the browser's."""
    try:
        grant = services.links.verify(token, LinkScope.TICKET)
    except PermissionDenied as error:  # a valid link, but for an order or a chat
        raise NotFound(LINK_NOT_VALID) from error
    await scope_to_tenant(session, services, grant.tenant_id)
    try:
        ticket = await tickets.access_ticket(session, grant.tenant_id, grant.object_id)
    except NotFound as error:
        raise NotFound(LINK_NOT_VALID) from error
    customer = await session.get(Customer, ticket.customer_id)
    locale = negotiate_locale(
        request.query_params.get("lang"),
        ticket.language,
        customer.preferred_language if customer else None,
        accept_language=request.headers.get("accept-language"),
        allowed=SUPPORTED_LOCALES,
        default=services.settings.default_locale,
    )
    request.state.locale = locale
    return ticket, locale


def _rating_param(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 1 <= int(value) <= 5 else None


def _rate_page(
    request: Request,
    token: str,
    ticket: Ticket,
    locale: str,
    tenant: Tenant,
    row: CsatRating | None,
    *,
    status_code: int = 200,
    confirm: int | None = None,
) -> HTMLResponse:
    if ticket.status not in csat.RATEABLE:
        state = "open"
    elif confirm is not None and (row is None or row.rating != confirm):
        state = "confirm"  # the page's script posts the rating from the link at once
    else:
        state = "thanks" if row is not None else "ask"
    context = {
        "request": request,
        "state": state,
        "tenant": tenant,
        "ticket": ticket,
        "rating": confirm if state == "confirm" else (row.rating if row else None),
        "comment": row.comment if row else "",
        "saved": request.query_params.get("saved", ""),
        "action": f"/rate/{quote(token, safe='')}?{urlencode({'lang': locale})}",
        "max_comment": csat.MAX_COMMENT_CHARS,
    }
    return render(
        "buyer/rate.html", context, locale=locale, status_code=status_code, headers=TOKEN_PAGE_HEADERS
    )


@router.get("/rate/{token}")
async def rate_page(request: Request, token: str, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    ticket, locale = await _rated_ticket(request, session, services, token)
    tenant = await tenants.access_tenant(session, ticket.tenant_id)
    row = await session.get(CsatRating, ticket.id)
    confirm = _rating_param(request.query_params.get("rating"))
    return _rate_page(request, token, ticket, locale, tenant, row, confirm=confirm)


@router.post("/rate/{token}")
async def rate_submit(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    """Record the rating (and the comment, when given); the signed link is the buyer's credential, so a
    page elsewhere cannot post here without it."""
    ticket, locale = await _rated_ticket(request, session, services, token)
    tenant = await tenants.access_tenant(session, ticket.tenant_id)
    form = await request.form()
    rating = _rating_param(str(form.get("rating") or ""))
    comment = str(form.get("comment") or "")[: csat.MAX_COMMENT_CHARS]
    row = await session.get(CsatRating, ticket.id)
    if rating is None or ticket.status not in csat.RATEABLE:
        return _rate_page(request, token, ticket, locale, tenant, row, status_code=422)
    try:
        await csat.do_rate(session, ticket, rating=rating, comment=comment)
    except InvalidInput:
        return _rate_page(request, token, ticket, locale, tenant, row, status_code=422)
    query: dict[str, Any] = {"lang": locale}
    if comment.strip():
        query["saved"] = "comment"
    return RedirectResponse(f"/rate/{quote(token, safe='')}?{urlencode(query)}", status_code=303)
