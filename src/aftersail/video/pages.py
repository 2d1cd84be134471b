"""Console pages of video calls: start a call from a ticket or a return (a form), and the staff page of the
call (the buyer's video, the own preview, snapshots with marks, end call; the recording's state after it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.i18n import N_
from aftersail.kit.validation import PathId
from aftersail.orders.page_forms import form_text
from aftersail.support import service as tickets
from aftersail.video import service
from aftersail.video.api import media_of
from aftersail.video.backend import browser_url, video_off_reason
from aftersail.video.buyer_pages import with_call_headers
from aftersail.video.invite import buyer_link, do_invite_buyer
from aftersail.video.rules import CallPurpose, CallStatus, EndReason, RecordingStatus
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import ServicesDep, SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

PURPOSE_LABELS = {
    CallPurpose.RETURN_INSPECTION: N_("Return inspection"),
    CallPurpose.PRE_SHIPMENT: N_("Pre-shipment inspection"),
    CallPurpose.USAGE_HELP: N_("Set-up help"),
}
STATUS_LABELS = {
    CallStatus.RINGING: N_("Waiting for the buyer"),
    CallStatus.CONNECTED: N_("Connected"),
    CallStatus.RECONNECTING: N_("Reconnecting"),
    CallStatus.ENDED: N_("Ended"),
}
END_LABELS = {
    EndReason.HUNG_UP: N_("ended by staff"),
    EndReason.BUYER_LEFT: N_("the buyer hung up"),
    EndReason.DROPPED: N_("the connection was lost"),
    EndReason.NOT_ANSWERED: N_("the buyer did not join"),
    EndReason.CANCELLED: N_("cancelled before the buyer joined"),
}
RECORDING_LABELS = {
    RecordingStatus.NONE: N_("Nothing was recorded"),
    RecordingStatus.RECORDING: N_("Recording"),
    RecordingStatus.PROCESSING: N_("Being added to the case…"),
    RecordingStatus.READY: N_("On the case as evidence"),
    RecordingStatus.FAILED: N_("Could not be made playable; the raw recording is on the case"),
    RecordingStatus.DELETED: N_("Deleted (retention ended); the evidence chain keeps its record"),
}


@router.post("/tickets/{ticket_id}/calls")
async def start_call_from_console(
    request: Request, ticket_id: PathId, console: ConsoleDep, session: SessionDep, services: ServicesDep
) -> Response:
    """Start a call on the ticket (or its return), send the buyer the link, and open the staff page."""
    service.check_may_hold_calls(console.user.role)
    form = await request.form()
    try:
        purpose = CallPurpose(form_text(form, "purpose", 40) or CallPurpose.RETURN_INSPECTION.value)
    except ValueError as exc:
        raise InvalidInput("Choose what the call is for.", field="purpose") from exc
    return_id = form_text(form, "return_id", 20)
    ticket = await tickets.access_ticket(session, console.tenant.id, ticket_id)
    now = utcnow()
    call = await service.do_start_call(
        session,
        ticket,
        purpose=purpose,
        started_by=console.user,
        media=media_of(services),
        recordings_root=services.settings.data_dir / "recordings",
        bitrate=services.settings.video_bitrate,
        now=now,
        return_id=int(return_id) if return_id.isdigit() else None,
    )
    await do_invite_buyer(session, call, ticket, services, send=True, now=now)
    return RedirectResponse(f"/calls/{call.id}", status_code=303)


@router.get("/calls/{call_id}")
async def call_page(
    request: Request, call_id: PathId, console: ConsoleDep, session: SessionDep, services: ServicesDep
) -> Response:
    call = await service.access_call(session, console.tenant.id, call_id)
    state = services.extras.get("media")
    response = render(
        "console/call.html",
        {
            "request": request,
            "console": console,
            "nav": "inbox",
            "call": call,
            "buyer_link": buyer_link(call, services),
            "purpose_labels": PURPOSE_LABELS,
            "status_labels": STATUS_LABELS,
            "end_labels": END_LABELS,
            "recording_labels": RECORDING_LABELS,
            "video_off": video_off_reason(state),
        },
        locale=console.locale,
    )
    return with_call_headers(response, browser_url(state))
