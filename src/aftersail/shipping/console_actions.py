"""Console actions on parcels: the warehouse hands an allocation's parcel to a carrier (from the order page),
and an agent reports a delivered parcel missing for the buyer or decides a delivered-not-received claim
(from the parcel page). The same service functions as the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, DomainError, InvalidInput, PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.kit.validation import PathId
from aftersail.orders import fulfilment
from aftersail.orders.page_forms import form_text, remember_notice
from aftersail.orders.pages import order_page_response
from aftersail.shipping import claims
from aftersail.shipping import service as shipping
from aftersail.shipping.rules import ClaimStatus
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, status_for

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

SHIP_REFUSALS = {
    "fields": N_("Enter the carrier and a tracking number (letters and digits)."),
    "taken": N_("This tracking number already belongs to another parcel."),
    "state": N_("This allocation cannot be shipped: it is cancelled or already shipped."),
}
CLAIM_OUTCOMES = {"found": ClaimStatus.FOUND, "reship": ClaimStatus.RESHIPPED, "refund": ClaimStatus.REFUNDED}


def _require(console: ConsoleContext, permission: Permission) -> None:
    if not role_allows(console.user.role, permission):
        raise PermissionDenied(
            f"The {console.user.role.value} role may not {permission.value.replace('_', ' ')}."
        )


def _ship_refusal(exc: DomainError) -> str:
    if isinstance(exc, InvalidInput):
        return "fields"
    if isinstance(exc, Conflict) and exc.details.get("field") == "tracking_number":
        return "taken"
    return "state"


@router.post("/orders/{order_id}/allocations/{allocation_id}/ship")
async def ship_allocation(
    request: Request, order_id: PathId, allocation_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    """The warehouse hands the allocation's parcel to the carrier: stock leaves, tracking starts."""
    _require(console, Permission.WRITE_STOCK)
    form = await request.form()
    allocation = await fulfilment.access_allocation(session, console.tenant.id, allocation_id)
    if allocation.order_id != order_id:
        raise PermissionDenied("This allocation belongs to another order.")
    try:
        async with session.begin_nested():
            await shipping.do_ship_allocation(
                session,
                console.tenant.id,
                allocation.id,
                carrier=form_text(form, "carrier", 64),
                tracking_number=form_text(form, "tracking_number", 80),
                actor=f"user:{console.user.id}",
            )
    except DomainError as exc:
        return await order_page_response(
            request,
            console,
            session,
            order_id,
            error=(SHIP_REFUSALS[_ship_refusal(exc)], {}),
            status_code=status_for(exc),
        )
    path = f"/orders/{order_id}"
    response = RedirectResponse(path, status_code=303)
    remember_notice(response, "shipped", path, request.app.state.services.settings.cookies_secure)
    return response


@router.post("/shipments/{shipment_id}/missing")
async def report_missing(
    request: Request, shipment_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    """An agent reports, for the buyer, that the delivered parcel is not there: the claim starts."""
    _require(console, Permission.WRITE_ORDERS)
    form = await request.form()
    shipment = await shipping.access_shipment(session, console.tenant.id, shipment_id)
    await claims.do_report_missing(
        session,
        shipment,
        note=form_text(form, "note", 2000)[:2000],
        actor=f"user:{console.user.id}",
        now=utcnow(),
    )
    return RedirectResponse(f"/shipments/{shipment_id}", status_code=303)


@router.post("/shipments/{shipment_id}/claim")
async def decide_claim(
    request: Request, shipment_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    """A person decides the claim: found, sent again (a free replacement order) or refunded (once)."""
    _require(console, Permission.WRITE_ORDERS)
    form = await request.form()
    outcome = CLAIM_OUTCOMES.get(form_text(form, "outcome", 20))
    if outcome is None:
        raise InvalidInput("Choose found, reship or refund.", field="outcome")
    shipment = await shipping.access_shipment(session, console.tenant.id, shipment_id)
    claim = await claims.shipment_claim(session, shipment)
    if claim is None:
        raise InvalidInput("This parcel has no claim to decide.", field="outcome")
    await claims.do_resolve_claim(session, claim, outcome, actor=f"user:{console.user.id}", now=utcnow())
    return RedirectResponse(f"/shipments/{shipment_id}", status_code=303)
