"""The buyer's own cooling-off changes through the signed order link (/o/{token}): cancel the order or change
its address while it is not yet packed.

The forms carry a token signed for this order (tied to a nonce cookie, like the help form), so another site
cannot post them even if it knew the link. Changes run as `buyer:<order id>` through orders/changes.py; each
answer redirects back to the order page with a notice, or with the reason a change was refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import DomainError, NotFound, PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.models import Order, OrderStatus
from aftersail.orders.page_forms import (
    ADDRESS_FIELDS,
    BUYER_NOTICES,
    BUYER_REFUSALS,
    country_choices,
    forget_notice,
    form_text,
    read_address,
    refusal_key,
    remember_notice,
    take_notice,
)
from aftersail.orders.rules import CHANGEABLE
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.web.console import check_form_token, issue_form_token, remember_form_nonce
from aftersail.web.deps import ServicesDep, SessionDep, scope_to_tenant
from aftersail.web.rendering import BuyerPageRoute
from aftersail.web.services import Services

router = APIRouter(route_class=BuyerPageRoute, include_in_schema=False)
LINK_NOT_VALID = N_("This link is not valid.")
AFTER_RELEASE = frozenset({OrderStatus.RELEASED, OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def _purpose(grant: BuyerGrant) -> str:
    return f"buyer-order-change:{grant.tenant_id}:{grant.object_id}"


def _order_path(token: str) -> str:
    return f"/o/{quote(token, safe='')}"


async def access_linked_order(
    token: str, session: AsyncSession, services: Services
) -> tuple[BuyerGrant, Order]:
    """The order a signed link leads to, with the transaction scoped to its tenant."""
    try:
        grant = services.links.verify(token, LinkScope.ORDER)
    except PermissionDenied as exc:  # a valid link, but for a ticket or a return
        raise NotFound(LINK_NOT_VALID) from exc
    await scope_to_tenant(session, services, grant.tenant_id)
    try:
        order = await orders.access_order(session, grant.tenant_id, grant.object_id)
    except NotFound as exc:  # the order is gone: the link no longer leads anywhere
        raise NotFound(LINK_NOT_VALID) from exc
    return grant, order


async def change_context(
    request: Request,
    services: Services,
    session: AsyncSession,
    token: str,
    grant: BuyerGrant,
    order: Order,
    locale: str,
) -> tuple[dict[str, Any], Any]:
    """What the order page needs for the change forms, and a function to call on its response (it keeps
    the form nonce and clears the one-shot notice)."""
    nonce, form_token = issue_form_token(request, services.settings, _purpose(grant))
    key = request.cookies.get("aftersail_notice", "")
    notice = take_notice(request, {**BUYER_NOTICES, **BUYER_REFUSALS})
    changeable = order.status in CHANGEABLE
    context = {
        "changeable": changeable,
        "after_release": order.status in AFTER_RELEASE,
        "change_form_token": form_token,
        "change_base": _order_path(token),
        "countries": await country_choices(session, grant.tenant_id, locale, order.country)
        if changeable
        else [],
        "address_values": {k: str((order.shipping_address or {}).get(k) or "") for k in ADDRESS_FIELDS},
        "notice": notice,
        "notice_is_error": key in BUYER_REFUSALS,
    }
    path = _order_path(token)

    def finish(response: Response) -> None:
        remember_form_nonce(response, nonce, services.settings)
        if notice:
            forget_notice(response, path, services.settings.cookies_secure)

    return context, finish


def _back(request: Request, token: str, services: Services, key: str) -> Response:
    path = _order_path(token)
    lang = request.query_params.get("lang", "")
    target = path + (f"?lang={lang}" if lang.isalpha() and len(lang) <= 8 else "")
    response = RedirectResponse(target, status_code=303)
    remember_notice(response, key, path, services.settings.cookies_secure)
    return response


def _refusal(exc: DomainError, order: Order) -> str:
    key = refusal_key(exc, order.status)
    if key == "cancelled":
        return "cancelled_before"
    if key in BUYER_REFUSALS:
        return key
    raise exc


@router.post("/o/{token}/cancel")
async def buyer_cancel(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    grant, order = await access_linked_order(token, session, services)
    form = await request.form()
    check_form_token(request, form_text(form, "form_token", 500), services.settings, _purpose(grant))
    try:
        await changes.do_cancel_order(
            session, order, actor=changes.buyer_actor(order.id), reason=form_text(form, "reason", 500)[:500]
        )
    except DomainError as exc:
        order = await orders.access_order(session, grant.tenant_id, grant.object_id)
        return _back(request, token, services, _refusal(exc, order))
    return _back(request, token, services, "cancelled")


@router.post("/o/{token}/address")
async def buyer_change_address(
    request: Request, token: str, session: SessionDep, services: ServicesDep
) -> Response:
    grant, order = await access_linked_order(token, session, services)
    form = await request.form()
    check_form_token(request, form_text(form, "form_token", 500), services.settings, _purpose(grant))
    address, _errors, _values = read_address(form)
    if address is None:
        return _back(request, token, services, "address_incomplete")
    try:
        await changes.do_change_address(session, order, address, actor=changes.buyer_actor(order.id))
    except DomainError as exc:
        order = await orders.access_order(session, grant.tenant_id, grant.object_id)
        return _back(request, token, services, _refusal(exc, order))
    return _back(request, token, services, "address")
