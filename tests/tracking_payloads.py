"""Tracking payloads as AfterShip, 17TRACK and AfterSail's own format send them (written for these tests,
shaped as the providers document them), and their signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def aftership_checkpoint(
    when: str, tag: str, subtag: str, message: str, *, location: str = "Leipzig, DE", slug: str = "dhl"
) -> dict[str, Any]:
    return {
        "slug": slug,
        "city": location.split(",")[0],
        "created_at": "2025-03-04T08:30:11+00:00",
        "location": location,
        "country_region": "DEU",
        "country_region_name": "Germany",
        "message": message,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": message,
        "checkpoint_time": when,
        "coordinates": [],
        "state": None,
        "zip": None,
        "raw_tag": "PO",
        "source": "carrier",
    }


def aftership_body(
    number: str, checkpoints: list[dict[str, Any]], *, event: str = "tracking_update"
) -> bytes:
    last = checkpoints[-1] if checkpoints else {"tag": "Pending", "subtag": "Pending_001"}
    return json.dumps(
        {
            "event": event,
            "event_id": "5c1e5fb8-6d1a-4f7e-9a53-0d8c2b7e9f21",
            "is_tracking_first_tag": False,
            "msg": {
                "id": "k5lh7dy7vvqeck71p5loe011",
                "tracking_number": number,
                "title": number,
                "slug": "dhl",
                "active": True,
                "tag": last["tag"],
                "subtag": last["subtag"],
                "subtag_message": last.get("message", ""),
                "order_number": "#1042",
                "destination_country_region": "DEU",
                "checkpoints": checkpoints,
            },
            "ts": 1741077011,
        }
    ).encode()


def customs_hold_story(number: str) -> bytes:
    """A parcel from Frankfurt held by customs: in transit, customs clearance started, held (customs)."""
    return aftership_body(
        number,
        [
            aftership_checkpoint(
                "2025-03-02T09:40:00+01:00",
                "InTransit",
                "InTransit_002",
                "Shipment picked up",
                location="Frankfurt, DE",
            ),
            aftership_checkpoint(
                "2025-03-03T06:15:00+01:00", "InTransit", "InTransit_006", "Customs clearance started"
            ),
            aftership_checkpoint(
                "2025-03-03T14:05:00+01:00", "Exception", "Exception_004", "Clearance delay - held by customs"
            ),
        ],
    )


def seventeen_event(
    when_utc: str | None, when_iso: str | None, sub_status: str, description: str
) -> dict[str, Any]:
    return {
        "time_iso": when_iso,
        "time_utc": when_utc,
        "time_raw": {"date": (when_iso or "")[:10], "time": (when_iso or "")[11:16], "timezone": None},
        "description": description,
        "location": "Madrid, ES",
        "stage": None,
        "sub_status": sub_status,
        "address": {"country": "ES", "state": None, "city": "Madrid", "street": None, "postal_code": None},
    }


def seventeen_tracking(number: str, events: list[dict[str, Any]], *, carrier: int = 190271) -> dict[str, Any]:
    latest = events[0] if events else None
    return {
        "number": number,
        "carrier": carrier,
        "param": None,
        "tag": "order-1042",
        "track_info": {
            "shipping_info": {"shipper_address": {"country": "DE"}, "recipient_address": {"country": "ES"}},
            "latest_status": {
                "status": (latest["sub_status"].split("_")[0] if latest else "NotFound"),
                "sub_status": latest["sub_status"] if latest else "NotFound_Other",
                "sub_status_descr": None,
            },
            "latest_event": latest,
            "time_metrics": {"days_after_order": 3, "days_of_transit": 2},
            "milestone": [],
            "misc_info": {"risk_factor": 0, "service_type": "Parcel"},
            "tracking": {
                "providers_hash": 907142118,
                "providers": [
                    {
                        "provider": {
                            "key": carrier,
                            "name": "Correos Express",
                            "alias": "Correos Express",
                            "country": "ES",
                        },
                        "service_type": "Parcel",
                        "latest_sync_status": "Success",
                        "latest_sync_time": "2025-03-05T10:00:00Z",
                        "events_hash": -1820441,
                        "events": events,
                    }
                ],
            },
        },
    }


def seventeen_push(number: str, events: list[dict[str, Any]], *, event: str = "TRACKING_UPDATED") -> bytes:
    return json.dumps({"event": event, "data": seventeen_tracking(number, events)}).encode()


def generic_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def sign_aftership(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sign_17track(key: str, body: bytes) -> str:
    return hashlib.sha256(body.decode().encode() + b"/" + key.encode()).hexdigest()


def sign_generic(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
