"""AfterShip Tracking webhooks (`tracking_update`, `edd_revise`, `tracking_pending_time`): every checkpoint
of the tracking in `msg` becomes one event, its `tag`/`subtag` mapped through the tables below.

Followed: AfterShip Tracking docs — "Webhook Specifications" (body: `event`, `event_id`, `msg` = the tracking
with `tracking_number`, `slug`, `tag`, `subtag`, `checkpoints[]` of `checkpoint_time`, `message`, `location`,
`tag`, `subtag`, `slug`), "Webhook Signature" (header `aftership-hmac-sha256` = base64 of HMAC-SHA256 of the
raw body with the webhook secret as UTF-8; nothing else is signed), "Delivery Statuses" and "Delivery
Sub-statuses" (the `Tag_NNN` codes). `checkpoint_time` is the carrier's local time, with an offset when the
carrier gives one; without one it is read as UTC (the raw checkpoint keeps the original string).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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

SIGNATURE_HEADER = "aftership-hmac-sha256"
EVENTS = frozenset({"tracking_update", "edd_revise", "tracking_pending_time"})

# Tags whose every sub-status means the same to AfterSail: a subtag not listed in SUBTAGS still maps by its
# tag (AfterShip adds delivered/in-transit details over time; none of them changes where the parcel is).
TAGS: Mapping[str, Status] = {
    "Pending": Status.PENDING,
    "InfoReceived": Status.INFO_RECEIVED,
    "InTransit": Status.IN_TRANSIT,
    "OutForDelivery": Status.OUT_FOR_DELIVERY,
    "AttemptFail": Status.ATTEMPT_FAILED,
    "AvailableForPickup": Status.AVAILABLE_FOR_PICKUP,
    "Delivered": Status.DELIVERED,
    "Expired": Status.EXPIRED,
}
# The tag alone is not enough here: the subtag says what went wrong, so an unknown one is a dead letter.
DETAILED_TAGS = frozenset({"Exception"})

# Subtags that refine (customs, what the exception is). AfterShip's wording in the comments.
SUBTAGS: dict[str, tuple[Status, SubStatus]] = {
    "InTransit_005": (Status.CUSTOMS, SubStatus.CUSTOMS_RELEASED),  # Customs clearance completed
    "InTransit_006": (Status.CUSTOMS, SubStatus.NONE),  # Customs clearance started
    "Exception_001": (Status.EXCEPTION, SubStatus.NONE),  # Exception
    "Exception_002": (Status.EXCEPTION, SubStatus.ADDRESS_ISSUE),  # Customer moved
    "Exception_003": (Status.EXCEPTION, SubStatus.NONE),  # Customer refused delivery
    "Exception_004": (Status.CUSTOMS, SubStatus.CUSTOMS_HELD),  # Delayed (Customs clearance)
    "Exception_005": (Status.EXCEPTION, SubStatus.NONE),  # Delayed (External factors)
    "Exception_006": (Status.CUSTOMS, SubStatus.DUTIES_DUE),  # Held for payment (duties, taxes)
    "Exception_007": (Status.EXCEPTION, SubStatus.ADDRESS_ISSUE),  # Incorrect address
    "Exception_008": (Status.EXCEPTION, SubStatus.NONE),  # Pick up missed
    "Exception_009": (Status.EXCEPTION, SubStatus.NONE),  # Rejected by carrier
    "Exception_010": (Status.EXCEPTION, SubStatus.RETURNED_TO_SENDER),  # Returning to sender
    "Exception_011": (Status.EXCEPTION, SubStatus.RETURNED_TO_SENDER),  # Returned to sender
    "Exception_012": (Status.EXCEPTION, SubStatus.DAMAGED),  # Shipment damage
    "Exception_013": (Status.EXCEPTION, SubStatus.LOST),  # Shipment lost
    "Exception_016": (Status.EXCEPTION, SubStatus.NONE),  # Delayed (Processing issue)
    "Exception_017": (Status.EXCEPTION, SubStatus.NONE),  # Delayed (Extreme weather)
    "Exception_018": (Status.CUSTOMS, SubStatus.DOCUMENTS_REQUIRED),  # Incorrect / missing documents
}


def sign(secret: str, body: bytes) -> str:
    """The `aftership-hmac-sha256` value for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def check_signature(secret: str, body: bytes, presented: str | None) -> None:
    if not presented:
        raise Unauthenticated("Missing aftership-hmac-sha256 header: unsigned webhooks are refused.")
    if not hmac.compare_digest(sign(secret, body).encode(), presented.strip().encode()):
        raise Unauthenticated("aftership-hmac-sha256 does not match the body: wrong secret or altered body.")


def normalize(tag: str | None, subtag: str | None, where: str) -> tuple[Status, SubStatus]:
    """AfterShip's tag and subtag in AfterSail's words; an unknown code is an error, never a guess."""
    if subtag:
        prefix = subtag.split("_", 1)[0]
        if tag and prefix != tag:
            raise UnreadablePayload(
                f"{where}.subtag: {subtag!r} does not belong to tag {tag!r}", field=f"{where}.subtag"
            )
        if subtag in SUBTAGS:
            return SUBTAGS[subtag]
        if prefix in TAGS:
            return TAGS[prefix], SubStatus.NONE
        if prefix in DETAILED_TAGS:
            raise UnreadablePayload(
                f"{where}.subtag: AfterShip sub-status {subtag!r} is not in AfterSail's table; the delivery "
                "is kept as a dead letter and can be replayed once the code is mapped",
                field=f"{where}.subtag",
            )
        raise UnreadablePayload(
            f"{where}.subtag: unknown AfterShip sub-status {subtag!r}", field=f"{where}.subtag"
        )
    if tag is not None and tag in TAGS:
        return TAGS[tag], SubStatus.NONE
    if tag in DETAILED_TAGS:
        return Status.EXCEPTION, SubStatus.NONE  # AfterShip said only "Exception"
    raise UnreadablePayload(f"{where}.tag: unknown AfterShip delivery status {tag!r}", field=f"{where}.tag")


def _location(checkpoint: dict[str, Any], where: str) -> str:
    location = checkpoint.get("location")
    if isinstance(location, str) and location.strip():
        return " ".join(location.split())
    country = next(
        (
            checkpoint[key]
            for key in ("country_region_name", "country_name", "country_region", "country_iso3")
            if isinstance(checkpoint.get(key), str) and checkpoint[key].strip()
        ),
        None,
    )
    seen: list[str] = []
    for part in (checkpoint.get("city"), checkpoint.get("state"), country):
        if isinstance(part, str) and part.strip() and part.strip() not in seen:
            seen.append(part.strip())
    return ", ".join(seen[:3])


def parse(body: bytes) -> list[TrackingUpdate]:
    document = need_object(load_json(body), "body")
    event = document.get("event")
    if event not in EVENTS:
        raise UnreadablePayload(
            f"event: {event!r} is not an AfterShip Tracking webhook event ({', '.join(sorted(EVENTS))})",
            field="event",
        )
    tracking = need_object(document.get("msg"), "msg")
    number = tracking_number(tracking.get("tracking_number"), "msg.tracking_number")
    slug = optional_text(tracking.get("slug"), "msg.slug")
    checkpoints = tracking.get("checkpoints")
    updates: list[TrackingUpdate] = []
    for index, item in enumerate(
        need_list(checkpoints, "msg.checkpoints") if checkpoints is not None else []
    ):
        where = f"msg.checkpoints.{index}"
        checkpoint = need_object(item, where)
        status, sub_status = normalize(
            optional_text(checkpoint.get("tag"), f"{where}.tag") or None,
            optional_text(checkpoint.get("subtag"), f"{where}.subtag") or None,
            where,
        )
        updates.append(
            TrackingUpdate(
                tracking_number=number,
                occurred_at=parse_time(
                    checkpoint.get("checkpoint_time"), f"{where}.checkpoint_time", naive_is_utc=True
                ),
                status=status,
                sub_status=sub_status,
                carrier=optional_text(checkpoint.get("slug"), f"{where}.slug") or slug,
                description=optional_text(checkpoint.get("message"), f"{where}.message"),
                location=_location(checkpoint, where),
                source=Source.AFTERSHIP,
                raw=checkpoint,
            )
        )
    return check_count(updates)


def _secret(sources: TrackingSources) -> str | None:
    return sources.aftership_secret


FORMAT = Format(
    name=Source.AFTERSHIP,
    label="AfterShip",
    signature_header=SIGNATURE_HEADER,
    secret_of=_secret,
    check_signature=check_signature,
    parse=parse,
    settings_field="aftership_secret",
)
