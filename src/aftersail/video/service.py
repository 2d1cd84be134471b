"""Inspection calls: start one on a case (a room for two, recorded), seat the buyer and the staff member,
follow what their pages report (media up, lost, back), end it, and mark moments to snapshot. The recording is
post-processed by a job after the call (`recording.py`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from aftersail.kit.outbox import emit, schedule_job
from aftersail.support.models import Ticket, TicketStatus
from aftersail.tenants.models import Role, User
from aftersail.tenants.rules import Permission, role_allows
from aftersail.video.media import MediaBackend, RoomSpec, new_pin
from aftersail.video.models import CallSeat, CallSnapshot, InspectionCall
from aftersail.video.rules import (
    LINK_LIFETIME,
    RECONNECT_GRACE,
    SEAT_SILENCE,
    CallPurpose,
    CallStatus,
    EndReason,
    RecordingStatus,
    Seat,
    SeatState,
    bitrate_for,
    is_abandoned,
    seat_taken_by_other,
    status_for_media,
    transition,
)

CHECK_TOPIC = "video.call_check"  # the call's watchdog: link expiry, silent seats, reconnect grace
RECORDING_TOPIC = "video.recording"  # after the call: close the room, post-process, chain the evidence
MAX_MARKS = 20
MAX_NOTE = 500
# How long the media server token a page gets is good for (it is asked again on every join).
MEDIA_TOKEN_SECONDS = 2 * 3600


class SeatTaken(Conflict):
    code = "seat_taken"


class CallEnded(Conflict):
    code = "call_ended"


@dataclass(frozen=True, slots=True)
class SeatGrant:
    """What one page needs to join the call's room."""

    call_id: int
    seat: Seat
    janus_url: str
    janus_token: str
    room: int
    pin: str
    room_token: str
    bitrate: int
    peer_feed: int | None
    ice_servers: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "seat": self.seat.value,
            "janus_url": self.janus_url,
            "janus_token": self.janus_token,
            "room": self.room,
            "pin": self.pin,
            "room_token": self.room_token,
            "bitrate": self.bitrate,
            "peer_feed": self.peer_feed,
            "ice_servers": self.ice_servers,
        }


def check_may_hold_calls(role: Role) -> None:
    """Agents (tickets) and warehouse staff (stock) hold inspection calls; viewers do not."""
    if not (role_allows(role, Permission.WRITE_TICKETS) or role_allows(role, Permission.WRITE_STOCK)):
        raise PermissionDenied(f"The {role.value} role may not hold inspection calls.")


def recordings_dir(recordings_root: Path, call: InspectionCall) -> Path:
    return recordings_root / str(call.tenant_id) / str(call.room)


async def do_start_call(
    session: AsyncSession,
    ticket: Ticket,
    *,
    purpose: CallPurpose,
    started_by: User,
    media: MediaBackend,
    recordings_root: Path,
    bitrate: int,
    now: datetime,
    return_id: int | None = None,
) -> InspectionCall:
    """Open a recorded room for two on the media server and the call's row, ringing until the buyer joins."""
    if ticket.status is TicketStatus.CLOSED:
        raise InvalidInput("This ticket is closed: reopen it to start a call.", field="ticket_id")
    busy = await session.scalar(
        select(InspectionCall.id).where(
            InspectionCall.tenant_id == ticket.tenant_id,
            InspectionCall.ticket_id == ticket.id,
            InspectionCall.status != CallStatus.ENDED,
        )
    )
    if busy is not None:
        raise Conflict("This ticket already has a call going on; end it first.", call_id=busy)
    call = InspectionCall(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        return_id=return_id,
        order_id=ticket.order_id,
        purpose=purpose,
        status=CallStatus.RINGING,
        status_since=now,
        language=ticket.language,
        created_by_id=started_by.id,
        media_instance=media.name,
        room=secrets.randbelow(2**52) + 1,  # JavaScript numbers hold it exactly
        room_pin=new_pin(),
        bitrate=bitrate,
        created_at=now,
        link_expires_at=now + LINK_LIFETIME,
    )
    seats = {seat: CallSeat(seat=seat, room_token=secrets.token_urlsafe(24)) for seat in Seat}
    await media.open_room(
        RoomSpec(
            room=call.room,
            pin=call.room_pin,
            seat_tokens=tuple(s.room_token for s in seats.values()),
            recordings_dir=recordings_dir(recordings_root, call),
            bitrate=bitrate,
            description=f"ticket {ticket.id}",
        )
    )
    session.add(call)
    await session.flush()
    for seat in seats.values():
        seat.tenant_id, seat.call_id = call.tenant_id, call.id
        session.add(seat)
    await session.flush()
    await _schedule_check(session, call, call.link_expires_at)
    return call


async def access_call(session: AsyncSession, tenant_id: int, call_id: int) -> InspectionCall:
    call = await session.scalar(
        select(InspectionCall).where(InspectionCall.tenant_id == tenant_id, InspectionCall.id == call_id)
    )
    if call is None:
        raise NotFound(f"Call {call_id} does not exist.", call_id=call_id)
    return call


async def access_call_for_buyer(
    session: AsyncSession, tenant_id: int, call_id: int, now: datetime
) -> InspectionCall:
    """The call of a buyer's link: gone once ended or past the link's life."""
    call = await access_call(session, tenant_id, call_id)
    if call.status is CallStatus.RINGING and now >= call.link_expires_at:
        raise Unauthenticated("This call link has expired; ask for a new one.")
    return call


async def lock_call(session: AsyncSession, call: InspectionCall) -> None:
    """Take the call's row lock (PostgreSQL; SQLite's writers are serial already) and read it afresh: the
    two pages report at the same time, and each decision reads both seats."""
    await session.refresh(call, with_for_update=True)


async def call_seats(session: AsyncSession, call: InspectionCall) -> dict[Seat, CallSeat]:
    rows = await session.scalars(select(CallSeat).where(CallSeat.call_id == call.id))
    return {row.seat: row for row in rows}


async def calls_of_ticket(session: AsyncSession, tenant_id: int, ticket_id: int) -> list[InspectionCall]:
    rows = await session.scalars(
        select(InspectionCall)
        .where(InspectionCall.tenant_id == tenant_id, InspectionCall.ticket_id == ticket_id)
        .order_by(InspectionCall.created_at.desc(), InspectionCall.id.desc())
    )
    return list(rows)


def _state(seat: CallSeat | None) -> SeatState | None:
    return None if seat is None else SeatState(seat.client_id, seat.last_seen_at, seat.media_up)


async def do_take_seat(
    session: AsyncSession,
    call: InspectionCall,
    seat: Seat,
    *,
    client_id: str,
    media: MediaBackend,
    now: datetime,
    user_id: int | None = None,
    network: str = "",
    downlink_mbps: float | None = None,
) -> SeatGrant:
    """Seat a page in the call: refused when the call is over or someone else holds the seat (a third
    participant); the same page coming back after a network change takes its seat again, and its old feed,
    if the media server still has it, is removed."""
    await lock_call(session, call)
    if call.status is CallStatus.ENDED:
        raise CallEnded("This call has ended.")
    if not client_id or len(client_id) > 64:
        raise InvalidInput("A client id (1–64 characters) is required.", field="client_id")
    seats = await call_seats(session, call)
    held = seats[seat]
    if seat_taken_by_other(_state(held), client_id, now):
        raise SeatTaken(f"Someone is already in this call as the {seat.value}.", seat=seat.value)
    if held.feed_id is not None:
        await media.kick(call.room, held.feed_id)  # a stale feed of this seat would hold a publisher slot
        held.feed_id = None
    held.client_id = client_id
    held.user_id = user_id
    held.joined_at = now
    held.last_seen_at = now
    held.media_up = False
    held.network = network[:20]
    other = seats[Seat.STAFF if seat is Seat.BUYER else Seat.BUYER]
    peer_feed = other.feed_id if other.last_seen_at and now - other.last_seen_at < SEAT_SILENCE else None
    browser = media.browser_media(MEDIA_TOKEN_SECONDS)
    await session.flush()
    return SeatGrant(
        call_id=call.id,
        seat=seat,
        janus_url=browser.url,
        janus_token=browser.token,
        room=call.room,
        pin=call.room_pin,
        room_token=held.room_token,
        bitrate=bitrate_for(network, downlink_mbps, call.bitrate),
        peer_feed=peer_feed,
        ice_servers=browser.ice_servers,
    )


async def do_report(
    session: AsyncSession,
    call: InspectionCall,
    seat: Seat,
    *,
    client_id: str,
    now: datetime,
    feed_id: int | None = None,
    media_up: bool | None = None,
    peer_present: bool | None = None,
) -> InspectionCall:
    """A page's heartbeat and what it sees: its feed, whether its media flows both ways, whether the other
    side is still there. Moves the call between ringing, connected and reconnecting."""
    await lock_call(session, call)
    seats = await call_seats(session, call)
    held = seats[seat]
    if held.client_id != client_id:
        raise SeatTaken("This page no longer holds its seat in the call.", seat=seat.value)
    if call.status is CallStatus.ENDED:
        raise CallEnded("This call has ended.")
    held.last_seen_at = now
    if feed_id is not None and feed_id != held.feed_id:
        held.feed_id = feed_id
        held.feeds = [*held.feeds, feed_id]
    if media_up is not None:
        held.media_up = media_up
    if peer_present is False:
        seats[Seat.STAFF if seat is Seat.BUYER else Seat.BUYER].media_up = False
    await _follow_media(session, call, seats, now)
    await session.flush()
    return call


async def _follow_media(
    session: AsyncSession, call: InspectionCall, seats: dict[Seat, CallSeat], now: datetime
) -> None:
    wanted = status_for_media(call.status, _state(seats[Seat.BUYER]), _state(seats[Seat.STAFF]))
    if wanted is call.status:
        return
    call.status = transition(call.status, wanted)
    call.status_since = now
    if wanted is CallStatus.CONNECTED and call.connected_at is None:
        call.connected_at = now
        call.recording_status = RecordingStatus.RECORDING
    # Every state but ended is watched: a silent seat, a reconnect that never comes back.
    await _schedule_check(
        session, call, now + (RECONNECT_GRACE if wanted is CallStatus.RECONNECTING else SEAT_SILENCE)
    )


async def do_end_call(
    session: AsyncSession, call: InspectionCall, reason: EndReason, *, media: MediaBackend, now: datetime
) -> InspectionCall:
    """End the call (idempotent): the room closes, which closes the recording files; the job that turns them
    into evidence is queued."""
    await lock_call(session, call)
    if call.status is CallStatus.ENDED:
        return call
    if reason is EndReason.HUNG_UP and call.status is CallStatus.RINGING:
        reason = EndReason.CANCELLED
    call.status = transition(call.status, CallStatus.ENDED)
    call.status_since = now
    call.ended_at = now
    call.end_reason = reason
    await media.close_room(call.room)
    if call.connected_at is not None:
        call.recording_status = RecordingStatus.PROCESSING
        await emit(session, RECORDING_TOPIC, {"call_id": call.id}, tenant_id=call.tenant_id)
    await session.flush()
    return call


async def do_check_call(
    session: AsyncSession, call: InspectionCall, *, media: MediaBackend, now: datetime
) -> None:
    """The watchdog: a ringing call past its link, a seat silent past `SEAT_SILENCE` (its media counts as
    down), a reconnect past its grace — each moves the call; a live call is checked again later."""
    await lock_call(session, call)
    if call.status is CallStatus.ENDED:
        return
    abandoned = is_abandoned(call.status, call.status_since, call.link_expires_at, now)
    if abandoned is not None:
        await do_end_call(session, call, abandoned, media=media, now=now)
        return
    seats = await call_seats(session, call)
    for held in seats.values():
        if held.media_up and (held.last_seen_at is None or now - held.last_seen_at >= SEAT_SILENCE):
            held.media_up = False
    await _follow_media(session, call, seats, now)
    if call.status is not CallStatus.RINGING:
        await _schedule_check(session, call, now + SEAT_SILENCE)
    await session.flush()


async def _schedule_check(session: AsyncSession, call: InspectionCall, due_at: datetime) -> None:
    slot = int(due_at.timestamp())  # one job per call and second, however many reports ask for it
    await schedule_job(
        session,
        CHECK_TOPIC,
        {"call_id": call.id},
        due_at=due_at + timedelta(seconds=1),
        tenant_id=call.tenant_id,
        dedupe_key=f"video-check:{call.tenant_id}:{call.id}:{slot}",
    )


def check_marks(raw: Any) -> list[dict[str, Any]]:
    """Shapes drawn on a snapshot: rectangles or circles in 0–1 frame coordinates, at most `MAX_MARKS`."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_MARKS:
        raise InvalidInput(f"Send at most {MAX_MARKS} marks as a list.", field="marks")
    marks: list[dict[str, Any]] = []
    for index, mark in enumerate(raw):
        if not isinstance(mark, dict) or mark.get("shape") not in {"rect", "circle"}:
            raise InvalidInput(f"Mark {index + 1} must be a rect or a circle.", field="marks")
        values = {key: mark.get(key) for key in ("x", "y", "w", "h")}
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in values.values()
        ):
            raise InvalidInput(f"Mark {index + 1} needs x, y, w, h between 0 and 1.", field="marks")
        marks.append(
            {"shape": mark["shape"], **{k: round(float(v), 4) for k, v in values.items() if v is not None}}
        )
    return marks


async def do_take_snapshot(
    session: AsyncSession,
    call: InspectionCall,
    *,
    seat: Seat,
    taken_by: User,
    now: datetime,
    marks: Sequence[dict[str, Any]] = (),
    note: str = "",
) -> CallSnapshot:
    """Mark this moment of one side's video: its frame is decoded from the recording after the call."""
    if call.connected_at is None:
        raise InvalidInput("Nothing is being recorded yet: the buyer has not connected.", field="call_id")
    if call.status is CallStatus.ENDED:
        raise CallEnded("This call has ended.")
    snapshot = CallSnapshot(
        tenant_id=call.tenant_id,
        call_id=call.id,
        seat=seat,
        taken_at=now,
        taken_by_id=taken_by.id,
        marks=list(marks),
        note=note.strip()[:MAX_NOTE],
    )
    session.add(snapshot)
    await session.flush()
    return snapshot


async def do_mark_snapshot(
    session: AsyncSession, snapshot: CallSnapshot, *, marks: Sequence[dict[str, Any]], note: str
) -> CallSnapshot:
    """Mark the damage on a snapshot (until its frame is on the case, after which marks are evidence)."""
    if snapshot.attachment_id is not None:
        raise Conflict("This snapshot is already evidence on the case; its marks cannot change.")
    snapshot.marks = list(marks)
    snapshot.note = note.strip()[:MAX_NOTE]
    await session.flush()
    return snapshot


async def access_snapshot(session: AsyncSession, call: InspectionCall, snapshot_id: int) -> CallSnapshot:
    found = await session.scalar(
        select(CallSnapshot).where(CallSnapshot.call_id == call.id, CallSnapshot.id == snapshot_id)
    )
    if found is None:
        raise NotFound(f"Snapshot {snapshot_id} does not exist.", snapshot_id=snapshot_id)
    return found


async def call_snapshots(session: AsyncSession, call: InspectionCall) -> list[CallSnapshot]:
    rows = await session.scalars(
        select(CallSnapshot).where(CallSnapshot.call_id == call.id).order_by(CallSnapshot.taken_at)
    )
    return list(rows)
