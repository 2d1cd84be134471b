"""The buyer's call page, from the signed link (no app, no account): why the camera and microphone are asked
for, a preview, Connect, the front/back camera switch and the torch where the phone has one. Its small JSON
routes seat the page in the call and carry its heartbeat; a forged or expired link gets a clear page and no
room is joined."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import NotFound, PermissionDenied, Unauthenticated
from aftersail.kit.i18n import N_
from aftersail.orders import service as orders
from aftersail.tenants import service as tenants
from aftersail.tenants.links import LinkScope
from aftersail.video import service
from aftersail.video.api import Report, SeatAsk, media_of
from aftersail.video.backend import browser_url, video_off_reason
from aftersail.video.models import InspectionCall
from aftersail.video.rules import CallPurpose, CallStatus, EndReason, Seat
from aftersail.web.deps import ServicesDep, SessionDep, scope_to_tenant
from aftersail.web.rendering import BuyerPageRoute, buyer_locale, render
from aftersail.web.services import Services

router = APIRouter(route_class=BuyerPageRoute, include_in_schema=False)
calls_api = APIRouter(include_in_schema=False)  # JSON for the page's script (errors as JSON)

PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
PURPOSE_TITLES = {
    CallPurpose.RETURN_INSPECTION: N_("Show us the item"),
    CallPurpose.PRE_SHIPMENT: N_("See your item before it ships"),
    CallPurpose.USAGE_HELP: N_("Set-up help by video"),
}
PURPOSE_LEADS = {
    CallPurpose.RETURN_INSPECTION: N_(
        "Show the item and any damage to our team on a short video call. It takes about two minutes."
    ),
    CallPurpose.PRE_SHIPMENT: N_("Our warehouse will show you your item, packed, before it leaves."),
    CallPurpose.USAGE_HELP: N_("Point your camera at the product and we will guide you step by step."),
}
LINK_EXPIRED = N_("This call link has expired. Ask us for a new one in the chat or by e-mail.")
LINK_INVALID = N_(
    "This call link is not valid. Open the link exactly as we sent it, or ask us for a new one."
)
CALL_OVER = N_("This call has ended. Thank you! If you need another call, ask us for a new link.")


def with_call_headers(response: Response, janus_url: str) -> Response:
    """A call page's policies: its own origin plus the media server's WebSocket, and the camera and
    microphone for this origin (both the buyer's and the staff page)."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self' {janus_url}; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ).replace("  ", " ")
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=(), payment=()"
    return response


async def _linked_call(token: str, session: AsyncSession, services: Services) -> InspectionCall:
    grant = services.links.verify(token, LinkScope.CALL)
    await scope_to_tenant(session, services, grant.tenant_id)
    return await service.access_call_for_buyer(session, grant.tenant_id, grant.object_id, utcnow())


def _refusal(request: Request, message: str, status_code: int) -> HTMLResponse:
    locale = buyer_locale(request)
    return render(
        "buyer/call_gone.html",
        {"request": request, "message": message},
        locale=locale,
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


@router.get("/v/{token}")
async def call_page(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    try:
        call = await _linked_call(token, session, services)
    except Unauthenticated as exc:
        expired = "expired" in exc.message
        return _refusal(request, LINK_EXPIRED if expired else LINK_INVALID, 401)
    except (PermissionDenied, NotFound):
        return _refusal(request, LINK_INVALID, 404)
    if call.status is CallStatus.ENDED:
        return _refusal(request, CALL_OVER, 410)
    tenant = await tenants.access_tenant(session, call.tenant_id)
    order = await orders.access_order(session, call.tenant_id, call.order_id) if call.order_id else None
    locale = buyer_locale(request, call.language)
    state = services.extras.get("media")
    response = render(
        "buyer/call.html",
        {
            "request": request,
            "token": token,
            "shop": tenant.name,
            "order_number": order.number if order else "",
            "title": PURPOSE_TITLES[call.purpose],
            "lead": PURPOSE_LEADS[call.purpose],
            "video_off": video_off_reason(state),
        },
        locale=locale,
        headers=PAGE_HEADERS,
    )
    return with_call_headers(response, browser_url(state))


@calls_api.post("/v/{token}/seat")
async def take_buyer_seat(
    token: str, body: SeatAsk, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Seat the buyer's page: refused (409) when another device holds the buyer's seat."""
    call = await _linked_call(token, session, services)
    return await body.take(session, call, Seat.BUYER, media_of(services), None)


@calls_api.post("/v/{token}/report")
async def report_buyer_side(
    token: str, body: Report, session: SessionDep, services: ServicesDep
) -> dict[str, str]:
    call = await _linked_call(token, session, services)
    await body.apply(session, call, Seat.BUYER)
    return {"status": call.status.value}


@calls_api.post("/v/{token}/leave")
async def buyer_leaves(token: str, session: SessionDep, services: ServicesDep) -> dict[str, str]:
    """The buyer hung up: the call ends (the recording up to here is kept)."""
    call = await _linked_call(token, session, services)
    await service.do_end_call(session, call, EndReason.BUYER_LEFT, media=media_of(services), now=utcnow())
    return {"status": call.status.value}
