"""17TRACK API v2 push (`TRACKING_UPDATED`, `TRACKING_STOPPED`) and the same tracking object as its pull API
answers it (`gettrackinfo`, used by `polling.py`): every event of every provider in
`track_info.tracking.providers[].events[]` becomes one event, its `sub_status` mapped through the table below.

Followed: 17TRACK API v2.2 documentation — "WebHook" (body `{"event", "data": {"number", "carrier", "param",
"tag", "track_info"}}`; header `sign` = SHA-256 hex of the raw body text + "/" + the account's security key),
"gettrackinfo" (`POST /track/v2.2/gettrackinfo`, header `17token`, answer `{"code", "data": {"accepted",
"rejected"}}`), and "Status" (9 main statuses, 30 sub-statuses such as `InTransit_CustomsProcessing`,
`Exception_Returning`). An event's time is `time_utc`, else `time_iso` (with the carrier's offset); a time
without an offset is read as UTC (the raw event keeps the original).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from aftersail.kit.errors import Unauthenticated
from aftersail.shipping.normalized import Source, TrackingUpdate
from aftersail.shipping.rules import Status, SubStatus
from aftersail.shipping.sources import (
    Format,
    TrackingSources,
    UnreadablePayload,
    check_count,
    load_json,
    need_list,
    need_object,
    optional_text,
    parse_time,
    tracking_number,
)

SIGNATURE_HEADER = "sign"
POLL_SOURCE = "17track-poll"  # dead letters of polled answers (`polling.py`)
UPDATED = "TRACKING_UPDATED"
STOPPED = "TRACKING_STOPPED"  # 17TRACK stopped tracking the number: nothing to ingest

# Every documented sub-status. The main status is the part before "_" (`InfoReceived` has no detail).
SUB_STATUSES: dict[str, tuple[Status, SubStatus]] = {
    "NotFound_Other": (Status.PENDING, SubStatus.NONE),
    "NotFound_InvalidCode": (Status.PENDING, SubStatus.NONE),
    "InfoReceived": (Status.INFO_RECEIVED, SubStatus.NONE),
    "InTransit_PickedUp": (Status.IN_TRANSIT, SubStatus.NONE),
    "InTransit_Other": (Status.IN_TRANSIT, SubStatus.NONE),
    "InTransit_Departure": (Status.IN_TRANSIT, SubStatus.NONE),
    "InTransit_Arrival": (Status.IN_TRANSIT, SubStatus.NONE),
    "InTransit_CustomsProcessing": (Status.CUSTOMS, SubStatus.NONE),
    "InTransit_CustomsReleased": (Status.CUSTOMS, SubStatus.CUSTOMS_RELEASED),
    "InTransit_CustomsRequiringInformation": (Status.CUSTOMS, SubStatus.DOCUMENTS_REQUIRED),
    "Expired_Other": (Status.EXPIRED, SubStatus.NONE),
    "AvailableForPickup_Other": (Status.AVAILABLE_FOR_PICKUP, SubStatus.NONE),
    "OutForDelivery_Other": (Status.OUT_FOR_DELIVERY, SubStatus.NONE),
    "DeliveryFailure_Other": (Status.ATTEMPT_FAILED, SubStatus.NONE),
    "DeliveryFailure_NoBody": (Status.ATTEMPT_FAILED, SubStatus.NONE),  # recipient not reached
    "DeliveryFailure_Security": (Status.ATTEMPT_FAILED, SubStatus.NONE),  # security, clearance or fees
    "DeliveryFailure_Rejected": (Status.ATTEMPT_FAILED, SubStatus.NONE),
    # The attempt failed because of the address: what the buyer must act on is the address.
    "DeliveryFailure_InvalidAddress": (Status.EXCEPTION, SubStatus.ADDRESS_ISSUE),
    "Delivered_Other": (Status.DELIVERED, SubStatus.NONE),
    "Exception_Other": (Status.EXCEPTION, SubStatus.NONE),
    "Exception_Returning": (Status.EXCEPTION, SubStatus.RETURNED_TO_SENDER),
    "Exception_Returned": (Status.EXCEPTION, SubStatus.RETURNED_TO_SENDER),
    "Exception_NoBody": (Status.EXCEPTION, SubStatus.NONE),  # recipient not found, unclaimed
    "Exception_Security": (Status.CUSTOMS, SubStatus.CUSTOMS_HELD),  # detained (customs, security)
    "Exception_Damage": (Status.EXCEPTION, SubStatus.DAMAGED),
    "Exception_Rejected": (Status.EXCEPTION, SubStatus.NONE),  # refused by the recipient
    "Exception_Delayed": (Status.EXCEPTION, SubStatus.NONE),
    "Exception_Lost": (Status.EXCEPTION, SubStatus.LOST),
    "Exception_Destroyed": (Status.EXCEPTION, SubStatus.LOST),  # destroyed by customs: it will not arrive
    "Exception_Cancel": (Status.EXCEPTION, SubStatus.NONE),
}
# Main statuses whose every detail means the same to AfterSail: a new detail maps by its main status.
# `Exception` is not here: its detail says what went wrong, so an unknown one is a dead letter.
MAIN_STATUSES: Mapping[str, Status] = {
    "NotFound": Status.PENDING,
    "InfoReceived": Status.INFO_RECEIVED,
    "InTransit": Status.IN_TRANSIT,
    "Expired": Status.EXPIRED,
    "AvailableForPickup": Status.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Status.OUT_FOR_DELIVERY,
    "DeliveryFailure": Status.ATTEMPT_FAILED,
    "Delivered": Status.DELIVERED,
}


def sign(key: str, body: bytes) -> str:
    """The `sign` header 17TRACK sends with `body`: SHA-256 hex of the body text, "/" and the key."""
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def check_signature(key: str, body: bytes, presented: str | None) -> None:
    if not presented:
        raise Unauthenticated("Missing sign header: unsigned 17TRACK pushes are refused.")
    if not hmac.compare_digest(sign(key, body).encode(), presented.strip().lower().encode()):
        raise Unauthenticated("sign does not match the body: wrong security key or altered body.")


def normalize(sub_status: str, where: str) -> tuple[Status, SubStatus]:
    """17TRACK's sub-status in AfterSail's words; an unknown code is an error, never a guess."""
    if sub_status in SUB_STATUSES:
        return SUB_STATUSES[sub_status]
    main = sub_status.split("_", 1)[0]
    if main in MAIN_STATUSES:
        return MAIN_STATUSES[main], SubStatus.NONE
    raise UnreadablePayload(
        f"{where}: 17TRACK sub-status {sub_status!r} is not in AfterSail's table; the delivery is kept as a "
        "dead letter and can be replayed once the code is mapped",
        field=where,
    )


def _event_time(event: dict[str, Any], where: str) -> Any:
    for key in ("time_utc", "time_iso"):
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise UnreadablePayload(f"{where}: neither time_utc nor time_iso is given", field=f"{where}.time_utc")


def parse_tracking(data: Any, where: str) -> list[TrackingUpdate]:
    """One tracked number: `{"number", "carrier", "track_info": {...}}` (a push's `data`, or one entry of
    `gettrackinfo`'s `data.accepted`)."""
    data = need_object(data, where)
    number = tracking_number(data.get("number"), f"{where}.number")
    carrier = data.get("carrier")
    info = data.get("track_info")
    if info is None:
        return []
    tracking = need_object(
        need_object(info, f"{where}.track_info").get("tracking") or {}, f"{where}.track_info.tracking"
    )
    providers = tracking.get("providers")
    updates: list[TrackingUpdate] = []
    for p_index, item in enumerate(
        need_list(providers, f"{where}.track_info.tracking.providers") if providers else []
    ):
        p_where = f"{where}.track_info.tracking.providers.{p_index}"
        provider = need_object(item, p_where)
        about = provider.get("provider") if isinstance(provider.get("provider"), dict) else {}
        provider_key = about.get("key") if about else None
        events = provider.get("events")
        for e_index, raw in enumerate(need_list(events, f"{p_where}.events") if events else []):
            e_where = f"{p_where}.events.{e_index}"
            event = need_object(raw, e_where)
            code = optional_text(event.get("sub_status"), f"{e_where}.sub_status")
            if not code:
                raise UnreadablePayload(f"{e_where}.sub_status: missing", field=f"{e_where}.sub_status")
            status, sub_status = normalize(code, f"{e_where}.sub_status")
            updates.append(
                TrackingUpdate(
                    tracking_number=number,
                    occurred_at=parse_time(_event_time(event, e_where), f"{e_where}.time", naive_is_utc=True),
                    status=status,
                    sub_status=sub_status,
                    carrier=str(provider_key if provider_key is not None else carrier or ""),
                    description=optional_text(event.get("description"), f"{e_where}.description"),
                    location=optional_text(event.get("location"), f"{e_where}.location"),
                    source=Source.SEVENTEEN_TRACK,
                    raw=event,
                )
            )
    return updates


def parse(body: bytes) -> list[TrackingUpdate]:
    """A webhook push."""
    document = need_object(load_json(body), "body")
    event = document.get("event")
    if event == STOPPED:
        need_object(document.get("data"), "data")
        return []
    if event != UPDATED:
        raise UnreadablePayload(
            f"event: {event!r} is not a 17TRACK push event ({UPDATED} or {STOPPED})", field="event"
        )
    return check_count(parse_tracking(document.get("data"), "data"))


def parse_answer(body: bytes) -> list[TrackingUpdate]:
    """A `gettrackinfo` answer: every accepted number's events (rejected numbers have none)."""
    document = need_object(load_json(body), "body")
    if document.get("code") != 0:
        raise UnreadablePayload(
            f"code: {document.get('code')!r}, the request was not processed", field="code"
        )
    data = need_object(document.get("data"), "data")
    accepted = data.get("accepted")
    updates: list[TrackingUpdate] = []
    for index, entry in enumerate(need_list(accepted, "data.accepted") if accepted is not None else []):
        updates.extend(parse_tracking(entry, f"data.accepted.{index}"))
    return updates


def answer_text(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False)


def _key(sources: TrackingSources) -> str | None:
    return sources.seventeen_track_key


def _never_signed(_secret: str, _body: bytes, _presented: str | None) -> None:
    raise Unauthenticated("Polled answers are fetched by AfterSail, never received.")


FORMAT = Format(
    name=Source.SEVENTEEN_TRACK,
    label="17TRACK",
    signature_header=SIGNATURE_HEADER,
    secret_of=_key,
    check_signature=check_signature,
    parse=parse,
    settings_field="seventeen_track_key",
)
POLL_FORMAT = Format(
    name=POLL_SOURCE,
    label="17TRACK (polled)",
    signature_header="",
    secret_of=lambda _sources: None,
    check_signature=_never_signed,
    parse=parse_answer,
    settings_field="",
)
