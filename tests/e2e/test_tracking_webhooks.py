"""Tracking webhooks end to end on the app (both backends): AfterShip, 17TRACK and AfterSail's JSON signed
with the tenant's secrets and sent as raw bytes; repeats, parking, refusals, dead letters and their replay
through the admin API, and what another tenant may see."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.shipping.models import DeadLetter, ParkedEvent, Shipment, TrackingEvent
from aftersail.shipping.rules import Status, SubStatus
from aftersail.shipping.sources import aftership
from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant
from tests.tracking_desk import make_shipped
from tests.tracking_payloads import (
    aftership_body,
    aftership_checkpoint,
    customs_hold_story,
    generic_body,
    seventeen_event,
    seventeen_push,
    sign_17track,
    sign_aftership,
    sign_generic,
)

API = "/api/v1"
AFTERSHIP_SECRET = "as_whsec_" + "7c2e" * 6
SEVENTEEN_KEY = "17key" + "91ab" * 6
GENERIC_SECRET = "gen_" + "d00d" * 8


async def _set_sources(client: httpx.AsyncClient, tenant: TenantFixture, **body: object) -> dict[str, object]:
    body = {
        "aftership_secret": AFTERSHIP_SECRET,
        "seventeen_track_key": SEVENTEEN_KEY,
        "generic_secret": GENERIC_SECRET,
    } | body
    answer = await client.put(f"{API}/settings/tracking-sources", json=body, headers=tenant.headers())
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def _aftership(tenant: TenantFixture, body: bytes, secret: str = AFTERSHIP_SECRET) -> dict[str, object]:
    return {
        "url": f"/webhooks/tracking/{tenant.slug}/aftership",
        "content": body,
        "headers": {
            "Content-Type": "application/json",
            "aftership-hmac-sha256": sign_aftership(secret, body),
            "as-webhook-version": "2025-07",
        },
    }


def _17track(tenant: TenantFixture, body: bytes, key: str = SEVENTEEN_KEY) -> dict[str, object]:
    return {
        "url": f"/webhooks/tracking/{tenant.slug}/17track",
        "content": body,
        "headers": {"Content-Type": "application/json", "sign": sign_17track(key, body)},
    }


def _generic(tenant: TenantFixture, body: bytes, secret: str = GENERIC_SECRET) -> dict[str, object]:
    return {
        "url": f"/webhooks/tracking/{tenant.slug}/generic",
        "content": body,
        "headers": {"Content-Type": "application/json", "X-AfterSail-Signature": sign_generic(secret, body)},
    }


async def _counts(database: Database, tenant_id: int) -> dict[str, int]:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        return {
            model.__tablename__: int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )
            for model in (TrackingEvent, ParkedEvent, DeadLetter)
        }


async def _shipment(database: Database, tenant_id: int, shipment_id: int) -> Shipment:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipment_id)
        assert shipment is not None
        return shipment


def _iso(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat()


async def test_each_format_signed_is_accepted_and_a_redelivery_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    shipped = await make_shipped(database, country="DE")
    tenant = shipped.tenant
    settings = await _set_sources(client, tenant)
    assert (
        settings["aftership"]
        == {  # type: ignore[comparison-overlap]
            "secret_set": True,
            "secret_hint": "…" + AFTERSHIP_SECRET[-4:],
            "webhook_path": f"/webhooks/tracking/{tenant.slug}/aftership",
            "signature_header": "aftership-hmac-sha256",
        }
    )
    assert AFTERSHIP_SECRET not in json.dumps(settings) and SEVENTEEN_KEY not in json.dumps(settings)
    number = shipped.tracking_number

    deliveries = [
        _aftership(
            tenant,
            aftership_body(
                number,
                [
                    aftership_checkpoint(
                        _iso(40), "InTransit", "InTransit_002", "Picked up", location="Frankfurt, DE"
                    ),
                    aftership_checkpoint(_iso(30), "InTransit", "InTransit_006", "Customs clearance started"),
                ],
            ),
        ),
        _17track(
            tenant,
            seventeen_push(
                number,
                [
                    seventeen_event(
                        _iso(20).replace("+00:00", "Z"), None, "InTransit_CustomsReleased", "Released"
                    ),
                    # 17TRACK repeats what it already sent: the same event as AfterShip's, by fingerprint
                    seventeen_event(
                        _iso(30), None, "InTransit_CustomsProcessing", "Customs clearance started"
                    )
                    | {"location": "Leipzig, DE"},
                ],
            ),
        ),
        _generic(
            tenant,
            generic_body(
                {
                    "tracking_number": number.lower(),
                    "carrier": "DHL",
                    "occurred_at": _iso(2),
                    "status": "out_for_delivery",
                    "description": "Out for delivery",
                    "location": "Leipzig, DE",
                }
            ),
        ),
    ]
    answers = [await client.post(**delivery) for delivery in deliveries]  # type: ignore[arg-type]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    assert [a.json() for a in answers] == [
        {"applied": 2, "duplicates": 0, "parked": 0},
        {"applied": 1, "duplicates": 1, "parked": 0},
        {"applied": 1, "duplicates": 0, "parked": 0},
    ]
    again = [await client.post(**delivery) for delivery in deliveries]  # type: ignore[arg-type]
    assert [a.json() for a in again] == [
        {"applied": 0, "duplicates": 2, "parked": 0},
        {"applied": 0, "duplicates": 2, "parked": 0},
        {"applied": 0, "duplicates": 1, "parked": 0},
    ]
    shipment = await _shipment(database, tenant.tenant_id, shipped.shipment_id)
    assert (shipment.status, shipment.events_count) == (Status.OUT_FOR_DELIVERY, 4)
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        events = (
            await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.shipment_id == shipped.shipment_id)
                .order_by(TrackingEvent.occurred_at)
            )
        ).all()
    assert [(e.source, e.status, e.sub_status) for e in events] == [
        ("aftership", Status.IN_TRANSIT, SubStatus.NONE),
        ("aftership", Status.CUSTOMS, SubStatus.NONE),
        ("17track", Status.CUSTOMS, SubStatus.CUSTOMS_RELEASED),
        ("generic", Status.OUT_FOR_DELIVERY, SubStatus.NONE),
    ]
    assert (
        events[0].raw["subtag"] == "InTransit_002"
        and events[2].raw["sub_status"] == "InTransit_CustomsReleased"
    )


async def test_an_unknown_number_is_parked_until_its_parcel_is_recorded(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    await _set_sources(client, tenant)
    number = f"JD{uuid.uuid4().int % 10**16:016d}"
    answer = await client.post(**_aftership(tenant, customs_hold_story(number)))  # type: ignore[arg-type]
    assert answer.status_code == 202 and answer.json() == {"applied": 0, "duplicates": 0, "parked": 3}
    again = await client.post(**_aftership(tenant, customs_hold_story(number)))  # type: ignore[arg-type]
    assert again.json() == {"applied": 0, "duplicates": 3, "parked": 0}
    shipped = await make_shipped(database, tenant=tenant, tracking_number=number)  # ships the allocation
    shipment = await _shipment(database, tenant.tenant_id, shipped.shipment_id)
    assert (shipment.status, shipment.sub_status, shipment.events_count) == (
        Status.CUSTOMS,
        SubStatus.CUSTOMS_HELD,
        3,
    )
    assert await _counts(database, tenant.tenant_id) == {
        "tracking_events": 3,
        "parked_tracking_events": 0,
        "tracking_dead_letters": 0,
    }


async def test_bad_signatures_and_missing_secrets_are_refused_and_store_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    number = f"JD{uuid.uuid4().int % 10**16:016d}"
    body = customs_hold_story(number)
    unset = await client.post(**_aftership(tenant, body))  # type: ignore[arg-type]
    assert unset.status_code == 401 and "aftership_secret" in unset.json()["error"]["message"]
    await _set_sources(client, tenant, generic_secret="")
    generic = generic_body(
        {"tracking_number": number, "occurred_at": _iso(1), "status": "in_transit", "description": "x"}
    )
    push = seventeen_push(number, [seventeen_event(_iso(1), None, "InTransit_Other", "x")])
    cases = [
        _aftership(tenant, body, secret="wrong"),
        {**_aftership(tenant, body), "content": body.replace(b"Leipzig", b"Leipzjg")},
        _17track(tenant, push, key="wrong"),
        {**_17track(tenant, push), "headers": {"Content-Type": "application/json"}},
        _generic(tenant, generic),  # its secret was removed
        _aftership(tenant, b"{not json", secret="wrong"),  # unreadable and unsigned: 401, no dead letter
    ]
    for case in cases:
        answer = await client.post(**case)  # type: ignore[arg-type]
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthenticated"
    assert await _counts(database, tenant.tenant_id) == {
        "tracking_events": 0,
        "parked_tracking_events": 0,
        "tracking_dead_letters": 0,
    }
    missing = await client.post(**{**_aftership(tenant, body), "url": "/webhooks/tracking/no-such/aftership"})  # type: ignore[arg-type]
    assert missing.status_code == 404


async def test_oversize_bodies_are_413(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await make_tenant(database)
    await _set_sources(client, tenant)
    body = json.dumps({"events": [], "padding": "x" * 1_100_000}).encode()
    answer = await client.post(**_generic(tenant, body))  # type: ignore[arg-type]
    assert answer.status_code == 413
    assert (await _counts(database, tenant.tenant_id))["tracking_dead_letters"] == 0


async def test_unreadable_payloads_become_dead_letters_an_admin_can_replay(
    client: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = await make_shipped(database)
    tenant = shipped.tenant
    await _set_sources(client, tenant)
    number = shipped.tracking_number
    # AfterShip sends a sub-status AfterSail has not mapped yet: refused whole, never guessed.
    unmapped = aftership_body(
        number,
        [
            aftership_checkpoint(_iso(30), "InTransit", "InTransit_007", "Departure scan"),
            aftership_checkpoint(_iso(3), "Exception", "Exception_015", "Held at depot for inspection"),
        ],
    )
    refused = await client.post(**_aftership(tenant, unmapped))  # type: ignore[arg-type]
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "unreadable_payload" and "Exception_015" in error["message"]
    assert error["fields"][0]["path"] == "msg.checkpoints.1.subtag"
    unmapped_id = error["dead_letter_id"]
    broken = await client.post(**_generic(tenant, b'{"events": [{"tracking_number": "JD1",'))  # type: ignore[arg-type]
    assert broken.status_code == 422 and "not a JSON document" in broken.json()["error"]["message"]
    assert await _counts(database, tenant.tenant_id) == {
        "tracking_events": 0,
        "parked_tracking_events": 0,
        "tracking_dead_letters": 2,
    }

    listed = await client.get(f"{API}/tracking/dead-letters", headers=tenant.headers())
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [(i["source"], i["id"]) for i in items] == [
        ("generic", broken.json()["error"]["dead_letter_id"]),
        ("aftership", unmapped_id),
    ]
    assert items[1]["body"] == unmapped.decode() and items[1]["replayed_at"] is None
    assert items[1]["headers"]["as-webhook-version"] == "2025-07" and "Exception_015" in items[1]["error"]
    only = await client.get(
        f"{API}/tracking/dead-letters", params={"source": "aftership"}, headers=tenant.headers()
    )
    assert [i["id"] for i in only.json()["items"]] == [unmapped_id]

    still = await client.post(f"{API}/tracking/dead-letters/{unmapped_id}/replay", headers=tenant.headers())
    assert still.status_code == 422 and "Exception_015" in still.json()["error"]["message"]
    # The mapping table gains the code (as a release would): the replay ingests the delivery.
    monkeypatch.setitem(aftership.SUBTAGS, "Exception_015", (Status.CUSTOMS, SubStatus.CUSTOMS_HELD))
    replayed = await client.post(
        f"{API}/tracking/dead-letters/{unmapped_id}/replay", headers=tenant.headers()
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["ingested"] == {"applied": 2, "duplicates": 0, "parked": 0}
    assert replayed.json()["dead_letter"]["replay_result"].startswith("ingested: 2 applied")
    twice = await client.post(f"{API}/tracking/dead-letters/{unmapped_id}/replay", headers=tenant.headers())
    assert twice.json()["ingested"] == {"applied": 0, "duplicates": 2, "parked": 0}
    shipment = await _shipment(database, tenant.tenant_id, shipped.shipment_id)
    assert (shipment.status, shipment.sub_status) == (Status.CUSTOMS, SubStatus.CUSTOMS_HELD)
    pending = await client.get(
        f"{API}/tracking/dead-letters", params={"pending": "true"}, headers=tenant.headers()
    )
    assert [i["source"] for i in pending.json()["items"]] == ["generic"]
    one = await client.get(f"{API}/tracking/dead-letters/{unmapped_id}", headers=tenant.headers())
    assert one.status_code == 200 and one.json()["replayed_at"] is not None

    # Another tenant's admin sees none of it; agents of the tenant may not look either.
    other = await make_tenant(database)
    theirs = await client.get(f"{API}/tracking/dead-letters", headers=other.headers())
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    for method, path in (
        ("GET", f"{API}/tracking/dead-letters/{unmapped_id}"),
        ("POST", f"{API}/tracking/dead-letters/{unmapped_id}/replay"),
    ):
        assert (await client.request(method, path, headers=other.headers())).status_code == 404
    for path in (f"{API}/tracking/dead-letters", f"{API}/settings/tracking-sources"):
        assert (await client.get(path, headers=tenant.headers(Role.AGENT))).status_code == 403


async def test_settings_keep_secrets_left_out_and_normalize_polled_carriers(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    await _set_sources(client, tenant)
    changed = await client.put(
        f"{API}/settings/tracking-sources",
        json={"generic_secret": "", "polled_carriers": [" Yodel ", "evri", "yodel"], "poll_after_hours": 12},
        headers=tenant.headers(),
    )
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert out["aftership"]["secret_set"] and out["seventeen_track"]["secret_set"]
    assert not out["generic"]["secret_set"] and out["generic"]["secret_hint"] is None
    assert (out["polled_carriers"], out["poll_after_hours"], out["polling_available"]) == (
        ["evri", "yodel"],
        12,
        False,
    )
    read = await client.get(f"{API}/settings/tracking-sources", headers=tenant.headers())
    assert read.json() == out
    refused = await client.put(
        f"{API}/settings/tracking-sources", json={"aftership": "x"}, headers=tenant.headers()
    )
    assert refused.status_code == 422
