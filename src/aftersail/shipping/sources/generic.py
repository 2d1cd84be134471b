"""AfterSail's own tracking format, for carriers and 3PLs that can post JSON but speak neither AfterShip nor
17TRACK: events already in AfterSail's words. The format and its signature are documented in
docs/tracking-webhooks.md (this module is the reference: the fields below and nothing else).

    {"events": [{"tracking_number": "JD014600006281470133", "carrier": "dhl",
                 "occurred_at": "2025-03-04T09:12:00+01:00", "status": "customs", "sub_status": "held",
                 "description": "Held by customs", "location": "Leipzig, DE", "raw": {...}}]}

Header `X-AfterSail-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aftersail.kit.errors import Unauthenticated
from aftersail.shipping.normalized import Source, TrackingUpdate
from aftersail.shipping.rules import SUB_STATUSES, Status, SubStatus
from aftersail.shipping.service import MAX_UPDATES
from aftersail.shipping.sources import (
    Format,
    TrackingSources,
    UnreadablePayload,
    load_json,
    need_list,
    need_object,
    optional_text,
    parse_time,
    tracking_number,
)

SIGNATURE_HEADER = "x-aftersail-signature"
SIGNATURE_PREFIX = "sha256="
FIELDS = frozenset(
    {"tracking_number", "carrier", "occurred_at", "status", "sub_status", "description", "location", "raw"}
)
REQUIRED = ("tracking_number", "occurred_at", "status")
MAX_CARRIER = 64
MAX_DESCRIPTION = 500
MAX_LOCATION = 200


def sign(secret: str, body: bytes) -> str:
    """The `X-AfterSail-Signature` value for `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(secret: str, body: bytes, presented: str | None) -> None:
    if not presented:
        raise Unauthenticated("Missing X-AfterSail-Signature header: unsigned deliveries are refused.")
    if not hmac.compare_digest(sign(secret, body).encode(), presented.strip().lower().encode()):
        raise Unauthenticated(
            "X-AfterSail-Signature does not match the body: expected sha256=<hex HMAC-SHA256 of raw body>."
        )


def _status(value: Any, where: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise UnreadablePayload(f"{where}: {value!r} is not one of {allowed}", field=where) from None


def _sub_status(status: Status, value: Any, where: str) -> SubStatus:
    if value is None or value == "":
        return SubStatus.NONE
    allowed = sorted(s.value for s in SUB_STATUSES.get(status, frozenset()) if s is not SubStatus.NONE)
    try:
        sub_status = SubStatus(value)
    except ValueError:
        sub_status = None
    if sub_status is None or sub_status not in SUB_STATUSES.get(status, frozenset()):
        hint = f"one of {', '.join(allowed)}" if allowed else "empty"
        raise UnreadablePayload(
            f"{where}: {value!r} is not a sub-status of {status.value!r} (it must be {hint})", field=where
        )
    return sub_status


def _bounded(value: Any, where: str, limit: int) -> str:
    text = optional_text(value, where)
    if len(text) > limit:
        raise UnreadablePayload(f"{where}: at most {limit} characters", field=where)
    return text


def parse_event(item: Any, where: str) -> TrackingUpdate:
    event = need_object(item, where)
    unknown = sorted(set(event) - FIELDS)
    if unknown:
        raise UnreadablePayload(f"{where}: unknown field {unknown[0]!r}", field=f"{where}.{unknown[0]}")
    for name in REQUIRED:
        if event.get(name) in (None, ""):
            raise UnreadablePayload(f"{where}.{name}: required", field=f"{where}.{name}")
    status = _status(event["status"], f"{where}.status")
    raw = event.get("raw")
    return TrackingUpdate(
        tracking_number=tracking_number(event["tracking_number"], f"{where}.tracking_number"),
        occurred_at=parse_time(event["occurred_at"], f"{where}.occurred_at", naive_is_utc=False),
        status=status,
        sub_status=_sub_status(status, event.get("sub_status"), f"{where}.sub_status"),
        carrier=_bounded(event.get("carrier"), f"{where}.carrier", MAX_CARRIER).lower(),
        description=_bounded(event.get("description"), f"{where}.description", MAX_DESCRIPTION),
        location=_bounded(event.get("location"), f"{where}.location", MAX_LOCATION),
        source=Source.GENERIC,
        raw=need_object(raw, f"{where}.raw") if raw is not None else {k: v for k, v in event.items()},
    )


def parse(body: bytes) -> list[TrackingUpdate]:
    document = need_object(load_json(body), "body")
    unknown = sorted(set(document) - {"events"})
    if unknown:
        raise UnreadablePayload(f"body: unknown field {unknown[0]!r}", field=unknown[0])
    events = need_list(document.get("events"), "events")
    if not 1 <= len(events) <= MAX_UPDATES:
        raise UnreadablePayload(f"events: 1 to {MAX_UPDATES} events, got {len(events)}", field="events")
    return [parse_event(item, f"events.{index}") for index, item in enumerate(events)]


def _secret(sources: TrackingSources) -> str | None:
    return sources.generic_secret


FORMAT = Format(
    name=Source.GENERIC,
    label="AfterSail JSON",
    signature_header=SIGNATURE_HEADER,
    secret_of=_secret,
    check_signature=check_signature,
    parse=parse,
    settings_field="generic_secret",
)
