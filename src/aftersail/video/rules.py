"""Pure rules of inspection calls: the call's state machine, who may sit in it, when a silent side counts as
gone, the bitrate a weak network gets, and when a recording's retention ends. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aftersail.kit.errors import IllegalTransition


class CallPurpose(StrEnum):
    RETURN_INSPECTION = "return_inspection"  # the buyer shows the item they want to return
    PRE_SHIPMENT = "pre_shipment"  # the warehouse shows the packed item before it ships
    USAGE_HELP = "usage_help"  # an agent guides the buyer through setting it up


class CallStatus(StrEnum):
    RINGING = "ringing"  # the link is out, the buyer has not joined yet
    CONNECTED = "connected"  # both sides send and receive media
    RECONNECTING = "reconnecting"  # one side lost its network and is coming back
    ENDED = "ended"


class EndReason(StrEnum):
    HUNG_UP = "hung_up"  # staff ended the call
    BUYER_LEFT = "buyer_left"
    DROPPED = "dropped"  # a side went silent and did not come back
    NOT_ANSWERED = "not_answered"  # the link expired before the buyer joined
    CANCELLED = "cancelled"  # staff cancelled before the buyer joined


class Seat(StrEnum):
    """A call has two seats; a third participant has nowhere to sit."""

    BUYER = "buyer"
    STAFF = "staff"


class RecordingStatus(StrEnum):
    NONE = "none"  # nothing recorded (the buyer never connected)
    RECORDING = "recording"
    PROCESSING = "processing"
    READY = "ready"  # a playable file per side is on the case
    FAILED = "failed"  # post-processing failed: the raw .mjr files are on the case
    DELETED = "deleted"  # retention ended; the chain entries stay, marked deleted


TRANSITIONS: Mapping[CallStatus, frozenset[CallStatus]] = {
    CallStatus.RINGING: frozenset({CallStatus.CONNECTED, CallStatus.ENDED}),
    CallStatus.CONNECTED: frozenset({CallStatus.RECONNECTING, CallStatus.ENDED}),
    CallStatus.RECONNECTING: frozenset({CallStatus.CONNECTED, CallStatus.ENDED}),
    CallStatus.ENDED: frozenset(),
}


def transition(current: CallStatus, target: CallStatus) -> CallStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("inspection call", current.value, target.value)
    return target


@dataclass(frozen=True, slots=True)
class SeatState:
    """What the server knows of one seat: who holds it, when it was last heard of, whether media flows."""

    client_id: str
    last_seen_at: datetime | None
    media_up: bool


# A page sends a heartbeat every few seconds; silent this long, its seat is free and its side counts as gone.
SEAT_SILENCE = timedelta(seconds=15)
# A call that lost a side is ended as dropped when nobody came back within this time.
RECONNECT_GRACE = timedelta(seconds=60)
# The link a buyer gets for a call.
LINK_LIFETIME = timedelta(hours=24)


def seat_taken_by_other(seat: SeatState | None, client_id: str, now: datetime) -> bool:
    """True when someone else holds the seat and was heard from recently (a third participant is refused;
    the same page coming back, or a seat whose holder went silent, is let in)."""
    if seat is None or not seat.client_id or seat.client_id == client_id:
        return False
    return seat.last_seen_at is not None and now - seat.last_seen_at < SEAT_SILENCE


def status_for_media(current: CallStatus, buyer: SeatState | None, staff: SeatState | None) -> CallStatus:
    """The status the seats' reports call for (the caller moves there through `transition`)."""
    if current is CallStatus.ENDED:
        return current
    both_up = buyer is not None and staff is not None and buyer.media_up and staff.media_up
    if both_up:
        return CallStatus.CONNECTED
    if current is CallStatus.CONNECTED:
        return CallStatus.RECONNECTING
    return current


def is_abandoned(
    status: CallStatus, since: datetime, link_expires_at: datetime, now: datetime
) -> EndReason | None:
    """Why a call the sweeper looks at should end now, or None: ringing past its link, or reconnecting for
    longer than the grace (`since` is when it left CONNECTED)."""
    if status is CallStatus.RINGING and now >= link_expires_at:
        return EndReason.NOT_ANSWERED
    if status is CallStatus.RECONNECTING and now - since >= RECONNECT_GRACE:
        return EndReason.DROPPED
    return None


# Video bitrates (bits per second): the room's cap, and what a page on a weak network asks for.
DEFAULT_BITRATE = 1_000_000
WEAK_NETWORK_BITRATE = 256_000
WEAK_EFFECTIVE_TYPES = frozenset({"slow-2g", "2g", "3g"})


def bitrate_for(effective_type: str, downlink_mbps: float | None, room_cap: int) -> int:
    """The publisher's bitrate for the network the browser reports (Network Information API)."""
    weak = effective_type in WEAK_EFFECTIVE_TYPES or (downlink_mbps is not None and downlink_mbps < 1.0)
    return min(room_cap, WEAK_NETWORK_BITRATE) if weak else room_cap


DEFAULT_RETENTION_DAYS = 180
MIN_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 3650


def retention_days(settings: Mapping[str, object] | None) -> int:
    """The tenant's recording retention (tenant setting `video.retention_days`), within bounds."""
    raw = (settings or {}).get("video")
    value = raw.get("retention_days") if isinstance(raw, Mapping) else None
    if not isinstance(value, int) or isinstance(value, bool):
        return DEFAULT_RETENTION_DAYS
    return max(MIN_RETENTION_DAYS, min(MAX_RETENTION_DAYS, value))


def retention_ends(received_at: datetime, days: int) -> datetime:
    return received_at + timedelta(days=days)
