"""The calls API (`/api/v1`): start an inspection call on a ticket (the buyer's link goes out on the ticket's
channel), take the staff seat, report media state, mark snapshots, end the call. The staff page uses the same
routes with the console session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import PermissionDenied, ServiceUnavailable
from aftersail.kit.validation import Out, PathId, Strict
from aftersail.support import service as tickets
from aftersail.tenants.models import User
from aftersail.tenants.service import Principal
from aftersail.video import service
from aftersail.video.backend import video_off_reason
from aftersail.video.invite import do_invite_buyer
from aftersail.video.media import MediaBackend
from aftersail.video.models import CallSnapshot, InspectionCall
from aftersail.video.rules import CallPurpose, EndReason, Seat
from aftersail.web.deps import PrincipalDep, ServicesDep, SessionDep
from aftersail.web.services import Services

router = APIRouter(tags=["video"])


async def _call_staff(principal: PrincipalDep) -> Principal:
    service.check_may_hold_calls(principal.role)
    return principal


CallStaff = Annotated[Principal, Depends(_call_staff)]


def media_of(services: Services) -> MediaBackend:
    """The media backend, or a 503 that says why video calls are off."""
    state = services.extras.get("media")
    if state is None or state.backend is None:
        raise ServiceUnavailable(video_off_reason(state))
    backend: MediaBackend = state.backend
    return backend


class CallStart(Strict):
    purpose: CallPurpose = CallPurpose.RETURN_INSPECTION
    return_id: int | None = Field(default=None, gt=0)
    send_link: bool = True


class SeatAsk(Strict):
    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    network: str = Field(default="", max_length=20)
    downlink: float | None = Field(default=None, ge=0, le=10_000)

    async def take(
        self,
        session: AsyncSession,
        call: InspectionCall,
        seat: Seat,
        media: MediaBackend,
        user_id: int | None,
    ) -> dict[str, Any]:
        """Seat the asking page (the buyer's or the staff page): what it needs to join the room."""
        grant = await service.do_take_seat(
            session,
            call,
            seat,
            client_id=self.client_id,
            media=media,
            now=utcnow(),
            user_id=user_id,
            network=self.network,
            downlink_mbps=self.downlink,
        )
        return grant.as_json()


class Report(Strict):
    client_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    feed_id: int | None = Field(default=None, gt=0)
    media_up: bool | None = None
    peer_present: bool | None = None

    async def apply(self, session: AsyncSession, call: InspectionCall, seat: Seat) -> None:
        """One page's heartbeat and what it sees (`service.do_report`)."""
        await service.do_report(
            session,
            call,
            seat,
            client_id=self.client_id,
            now=utcnow(),
            feed_id=self.feed_id,
            media_up=self.media_up,
            peer_present=self.peer_present,
        )


class SnapshotAsk(Strict):
    seat: Seat = Seat.BUYER
    marks: list[dict[str, Any]] = Field(default_factory=list, max_length=service.MAX_MARKS)
    note: str = Field(default="", max_length=service.MAX_NOTE)


class SnapshotMarks(Strict):
    marks: list[dict[str, Any]] = Field(default_factory=list, max_length=service.MAX_MARKS)
    note: str = Field(default="", max_length=service.MAX_NOTE)


class SnapshotOut(Out):
    id: int
    seat: Seat
    taken_at: datetime
    marks: list[Any]
    note: str
    attachment_id: int | None
    offset_ms: int | None
    error: str


class CallOut(Out):
    id: int
    ticket_id: int
    return_id: int | None
    purpose: CallPurpose
    status: str
    status_since: datetime
    language: str
    created_at: datetime
    link_expires_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    recording_status: str
    recording_error: str
    recording_ms: int
    buyer_link: str | None = None


def _out(call: InspectionCall, link: str | None = None) -> CallOut:
    out = CallOut.model_validate(call)
    out.buyer_link = link
    return out


async def _user(session: SessionDep, principal: Principal) -> User:
    if principal.user_id is None:
        raise PermissionDenied("Only a person signed in to the console can do this, not an API key.")
    user = await session.get(User, principal.user_id)
    if user is None:
        raise PermissionDenied("Your account no longer exists.")
    return user


@router.post("/tickets/{ticket_id}/calls", response_model=CallOut, status_code=201)
async def start_call(
    ticket_id: PathId, body: CallStart, session: SessionDep, principal: CallStaff, services: ServicesDep
) -> CallOut:
    """Open a recorded room for the case and, unless `send_link` is false, send the buyer the link (on the
    ticket's channel, in the buyer's language). The link is in the answer either way."""
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    media = media_of(services)
    now = utcnow()
    call = await service.do_start_call(
        session,
        ticket,
        purpose=body.purpose,
        started_by=await _user(session, principal),
        media=media,
        recordings_root=services.settings.data_dir / "recordings",
        bitrate=services.settings.video_bitrate,
        now=now,
        return_id=body.return_id,
    )
    link = await do_invite_buyer(session, call, ticket, services, send=body.send_link, now=now)
    return _out(call, link)


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: PathId, session: SessionDep, principal: PrincipalDep) -> CallOut:
    return _out(await service.access_call(session, principal.tenant_id, call_id))


@router.get("/calls/{call_id}/snapshots", response_model=list[SnapshotOut])
async def list_snapshots(call_id: PathId, session: SessionDep, principal: PrincipalDep) -> list[SnapshotOut]:
    call = await service.access_call(session, principal.tenant_id, call_id)
    return [SnapshotOut.model_validate(s) for s in await service.call_snapshots(session, call)]


@router.post("/calls/{call_id}/seat")
async def take_staff_seat(
    call_id: PathId, body: SeatAsk, session: SessionDep, principal: CallStaff, services: ServicesDep
) -> dict[str, Any]:
    """The staff seat: what the page needs to join the room (a second staff page is refused, 409)."""
    call = await service.access_call(session, principal.tenant_id, call_id)
    return await body.take(session, call, Seat.STAFF, media_of(services), principal.user_id)


@router.post("/calls/{call_id}/report", response_model=CallOut)
async def report_staff_side(
    call_id: PathId, body: Report, session: SessionDep, principal: CallStaff
) -> CallOut:
    call = await service.access_call(session, principal.tenant_id, call_id)
    await body.apply(session, call, Seat.STAFF)
    return _out(call)


@router.post("/calls/{call_id}/snapshots", response_model=SnapshotOut, status_code=201)
async def take_snapshot(
    call_id: PathId, body: SnapshotAsk, session: SessionDep, principal: CallStaff
) -> SnapshotOut:
    """Mark this moment: the frame is decoded from the recording after the call and chained as evidence."""
    call = await service.access_call(session, principal.tenant_id, call_id)
    snapshot = await service.do_take_snapshot(
        session,
        call,
        seat=body.seat,
        taken_by=await _user(session, principal),
        now=utcnow(),
        marks=service.check_marks(body.marks),
        note=body.note,
    )
    return SnapshotOut.model_validate(snapshot)


@router.put("/calls/{call_id}/snapshots/{snapshot_id}", response_model=SnapshotOut)
async def mark_snapshot(
    call_id: PathId, snapshot_id: PathId, body: SnapshotMarks, session: SessionDep, principal: CallStaff
) -> SnapshotOut:
    """Mark the damage on a snapshot: rectangles or circles in 0–1 coordinates of the frame, and a note."""
    call = await service.access_call(session, principal.tenant_id, call_id)
    snapshot: CallSnapshot = await service.access_snapshot(session, call, snapshot_id)
    await service.do_mark_snapshot(session, snapshot, marks=service.check_marks(body.marks), note=body.note)
    return SnapshotOut.model_validate(snapshot)


@router.post("/calls/{call_id}/end", response_model=CallOut)
async def end_call(
    call_id: PathId, session: SessionDep, principal: CallStaff, services: ServicesDep
) -> CallOut:
    """Hang up: the room closes and the recording becomes evidence on the case shortly after."""
    call = await service.access_call(session, principal.tenant_id, call_id)
    await service.do_end_call(session, call, EndReason.HUNG_UP, media=media_of(services), now=utcnow())
    return _out(call)
