"""Console forms for cooling-off changes: cancel, change address, change a line, release for picking.

Each form posts with the session's CSRF token (checked by `ConsoleDep`), runs the same use case as the API
(orders/changes.py) as the signed-in user, and redirects back to the order page with a one-shot notice. A
refused change (released meanwhile, no lane to the new country, not enough stock under a reject policy)
re-renders the page with the reason and the status code, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from aftersail.kit.errors import DomainError, PermissionDenied
from aftersail.kit.validation import PathId
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.models import Order
from aftersail.orders.page_forms import (
    CONSOLE_REFUSALS,
    form_text,
    read_address,
    refusal_key,
    remember_notice,
)
from aftersail.orders.pages import order_page_response
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, status_for

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)
Change = Callable[[Order], Awaitable[object]]


def _require(console: ConsoleContext, permission: Permission) -> None:
    if not role_allows(console.user.role, permission):
        raise PermissionDenied(
            f"The {console.user.role.value} role may not {permission.value.replace('_', ' ')}."
        )


async def _apply(
    request: Request,
    console: ConsoleContext,
    session: SessionDep,
    order_id: int,
    notice: str,
    change: Change,
    *,
    form: str = "",
    address_values: dict[str, str] | None = None,
) -> Response:
    order = await orders.access_order(session, console.tenant.id, order_id)
    try:
        await change(order)
    except DomainError as exc:
        order = await orders.access_order(session, console.tenant.id, order_id)  # re-read after rollback
        key = refusal_key(exc, order.status)
        if key is None and isinstance(exc, changes.NotReleasable):
            key = "not_releasable"
        if key is None:
            raise
        params = {"country": (address_values or {}).get("country", "")} if key == "no_lane" else {}
        return await order_page_response(
            request,
            console,
            session,
            order_id,
            error=(CONSOLE_REFUSALS[key], params),
            status_code=status_for(exc),
            address_values=address_values,
            open_form=form,
        )
    path = f"/orders/{order_id}"
    response = RedirectResponse(path, status_code=303)
    remember_notice(response, notice, path, request.app.state.services.settings.cookies_secure)
    return response


@router.post("/orders/{order_id}/cancel")
async def cancel_order(
    request: Request, order_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require(console, Permission.WRITE_ORDERS)
    reason = form_text(await request.form(), "reason", 500)[:500]
    if not reason:
        return await order_page_response(
            request,
            console,
            session,
            order_id,
            error=(CONSOLE_REFUSALS["reason"], {}),
            status_code=422,
            open_form="cancel",
        )

    async def cancel(order: Order) -> object:
        return await changes.do_cancel_order(
            session, order, actor=f"user:{console.user.id}", reason=reason, actor_name=console.user.name
        )

    return await _apply(request, console, session, order_id, "cancelled", cancel, form="cancel")


@router.post("/orders/{order_id}/address")
async def change_address(
    request: Request, order_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require(console, Permission.WRITE_ORDERS)
    address, errors, values = read_address(await request.form())
    if address is None:
        return await order_page_response(
            request,
            console,
            session,
            order_id,
            status_code=422,
            address_values=values,
            address_errors=errors,
            open_form="address",
        )

    async def move(order: Order) -> object:
        return await changes.do_change_address(
            session, order, address, actor=f"user:{console.user.id}", actor_name=console.user.name
        )

    return await _apply(
        request, console, session, order_id, "address", move, form="address", address_values=values
    )


@router.post("/orders/{order_id}/lines/{line_id}")
async def change_line(
    request: Request, order_id: PathId, line_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require(console, Permission.WRITE_ORDERS)
    form = await request.form()
    sku_text, quantity_text = form_text(form, "sku_id", 20), form_text(form, "quantity", 10)
    sku_id = int(sku_text) if sku_text.isdigit() else None
    quantity = int(quantity_text) if quantity_text.isdigit() else -1

    async def edit(order: Order) -> object:
        return await changes.do_change_line(
            session,
            order,
            line_id,
            sku_id=sku_id,
            quantity=quantity,
            actor=f"user:{console.user.id}",
            actor_name=console.user.name,
        )

    return await _apply(request, console, session, order_id, "line", edit, form=f"line-{line_id}")


@router.post("/orders/{order_id}/release")
async def release_order(
    request: Request, order_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require(console, Permission.WRITE_STOCK)

    async def release(order: Order) -> object:
        return await changes.do_release_for_picking(
            session, order, actor=f"user:{console.user.id}", actor_name=console.user.name
        )

    return await _apply(request, console, session, order_id, "released", release)
