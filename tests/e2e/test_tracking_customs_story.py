"""The issue's story end to end: a parcel to Lena in Berlin is held by German customs. AfterShip tells us in
its own webhook format (signed as AfterShip signs); the server acknowledges at once, its dispatcher evaluates
the parcel, and before Lena has to ask she gets an e-mail in German on a real SMTP server — what happened,
the new date, what she can do, a link to her tracking page — while the agents find a P1 case with the facts
and the seller's own endpoint receives the exception, signed. The same webhook delivered again changes
nothing: no second e-mail, no second case."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aftersail.kit.db import Database
from aftersail.kit.i18n import format_day
from aftersail.orders.models import Customer, Order
from aftersail.shipping.models import ShipmentException
from aftersail.shipping.sources.aftership import sign
from aftersail.support.email_rules import ParsedEmail, parse_email
from aftersail.support.email_transport import InboundEnvelope, SmtpReceiver
from aftersail.support.models import Priority, Ticket, TicketMessage
from tests.e2e.servers import sqlite_server
from tests.threaded_server import ThreadedServer
from tests.tracking_desk import Shipped, make_shipped

SECRET = "aftership-webhook-secret-1"
NOTIFY_SECRET = "seller-endpoint-secret"
WAIT_SECONDS = 20.0


class BuyersMailbox:
    def __init__(self) -> None:
        self.received: list[ParsedEmail] = []

    async def on_message(self, raw: bytes, envelope: InboundEnvelope) -> None:
        self.received.append(parse_email(raw))


class SellerEndpoint(ThreadedServer):
    """The seller's own system: keeps every signed notification AfterSail posts."""

    what = "seller endpoint"

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: Request) -> JSONResponse:
            self.received.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        super().__init__(Starlette(routes=[Route("/hooks/parcels", hook, methods=["POST"])]))


@dataclass
class Story:
    base_url: str
    db_url: str
    mailbox: BuyersMailbox
    seller: SellerEndpoint


@pytest.fixture
async def story(tmp_path: Path) -> AsyncIterator[Story]:
    mailbox = BuyersMailbox()
    relay = SmtpReceiver(mailbox.on_message, recipient_domains=["example.de"], port=0)
    await relay.start()
    seller = SellerEndpoint()
    seller.start()
    try:
        with sqlite_server(
            tmp_path,
            RUN_DISPATCHER="true",
            OUTBOX_POLL_SECONDS="0.1",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(relay.port),
            SMTP_STARTTLS="false",
            PUBLIC_BASE_URL="https://help.shop.example",
        ) as (base_url, db_url):
            yield Story(base_url, db_url, mailbox, seller)
    finally:
        seller.stop()
        await relay.stop()


def aftership_update(shipped: Shipped, now: datetime) -> dict[str, object]:
    """AfterShip's `tracking_update` for the parcel: its whole checkpoint history, newest last, customs hold
    (Exception_004) three days ago."""

    def checkpoint(days_ago: float, tag: str, subtag: str, message: str, city: str) -> dict[str, object]:
        when = (now - timedelta(days=days_ago)).astimezone(UTC).replace(microsecond=0)
        return {
            "slug": "dhl",
            "city": city,
            "created_at": when.isoformat(),
            "location": f"{city}, Germany",
            "country_name": "Germany",
            "message": message,
            "country_iso3": "DEU",
            "tag": tag,
            "subtag": subtag,
            "subtag_message": message,
            "checkpoint_time": when.isoformat(),
            "coordinates": [],
            "state": None,
            "zip": None,
            "raw_tag": "",
        }

    return {
        "event": "tracking_update",
        "event_id": str(uuid.uuid4()),
        "is_tracking_first_tag": False,
        "msg": {
            "id": uuid.uuid4().hex[:24],
            "tracking_number": shipped.tracking_number,
            "slug": "dhl",
            "tag": "Exception",
            "subtag": "Exception_004",
            "subtag_message": "Delayed (Customs clearance)",
            "order_id": shipped.number,
            "checkpoints": [
                checkpoint(
                    4.5, "InfoReceived", "InfoReceived_001", "Shipment information received", "Frankfurt"
                ),
                checkpoint(4, "InTransit", "InTransit_001", "Shipment picked up", "Frankfurt"),
                checkpoint(3.5, "InTransit", "InTransit_006", "Customs clearance started", "Leipzig"),
                checkpoint(3, "Exception", "Exception_004", "Clearance delay - import", "Leipzig"),
            ],
        },
        "ts": int(now.timestamp()),
    }


async def _seed(story: Story) -> Shipped:
    db = Database(story.db_url)
    try:
        email = f"lena-{uuid.uuid4().hex[:6]}@example.de"
        # Handed over four days ago: not yet silent long enough to be "stalled" when first judged
        # (the evaluation of the new parcel may run before the carrier's webhook arrives).
        shipped = await make_shipped(db, country="DE", language="de", email=email, days_ago=4.2)
        async with db.transaction(tenant_id=shipped.tenant_id) as session:
            order = await session.get(Order, shipped.order_id)
            assert order is not None
            await session.execute(
                update(Customer)
                .where(Customer.tenant_id == shipped.tenant_id, Customer.id == order.customer_id)
                .values(name="Lena Vogel", preferred_language="de", time_zone="Europe/Berlin")
            )
        return shipped
    finally:
        await db.dispose()


async def _wait(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_customs_hold_reaches_the_german_buyer_first(story: Story) -> None:
    shipped = await _seed(story)
    headers = shipped.tenant.headers()
    async with httpx.AsyncClient(base_url=story.base_url, timeout=20) as client:
        settings = await client.put(
            "/api/v1/settings/tracking-sources", headers=headers, json={"aftership_secret": SECRET}
        )
        assert settings.status_code == 200, settings.text
        rules = await client.put(
            "/api/v1/settings/tracking",
            headers=headers,
            json={
                "notify_webhook_url": f"{story.seller.url}/hooks/parcels",
                "notify_webhook_secret": NOTIFY_SECRET,
            },
        )
        assert rules.status_code == 200, rules.text
        assert (
            rules.json()["notify_webhook_secret_set"] is True and "notify_webhook_secret" not in rules.json()
        )
        body = json.dumps(aftership_update(shipped, datetime.now(UTC))).encode()
        url = f"/webhooks/tracking/{shipped.tenant.slug}/aftership"
        forged = await client.post(
            url,
            content=body,
            headers={
                "aftership-hmac-sha256": sign("not-the-secret", body),
                "Content-Type": "application/json",
            },
        )
        assert forged.status_code == 401
        signed = {"aftership-hmac-sha256": sign(SECRET, body), "Content-Type": "application/json"}
        started = time.monotonic()
        first = await client.post(url, content=body, headers=signed)
        assert first.status_code == 202, first.text
        assert first.json()["applied"] == 4 and first.json()["duplicates"] == 0
        assert time.monotonic() - started < 5  # acknowledged, evaluated later by a job

        await _wait(lambda: _has_mail(story), "the buyer's e-mail")
        replay = await client.post(url, content=body, headers=signed)
        assert (
            replay.status_code == 202 and replay.json()["applied"] == 0 and replay.json()["duplicates"] == 4
        )

        shipment = (await client.get(f"/api/v1/orders/{shipped.order_id}/shipments", headers=headers)).json()[
            0
        ]
        assert shipment["status"] == "customs" and shipment["open_exceptions"] == ["customs_hold"]

    mail = story.mailbox.received[0]
    assert mail.to and shipped.email in mail.to[0]
    text = mail.text or ""
    assert "Zoll" in text and shipped.number in text  # German, about this order
    assert "https://help.shop.example/track/" in text  # the link to her tracking page
    new_date = format_day(datetime.fromisoformat(shipment["eta"]), "Europe/Berlin", "de")
    assert new_date in text  # the new expected date, as a German reader writes it

    db = Database(story.db_url)
    try:
        async with db.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
            row = await session.scalar(
                select(ShipmentException).where(ShipmentException.shipment_id == shipped.shipment_id)
            )
            assert (
                row is not None
                and row.priority == "p1"
                and row.ticket_id is not None
                and row.notified_at is not None
            )
            ticket = await session.get(Ticket, row.ticket_id)
            assert (
                ticket is not None and ticket.priority is Priority.P1 and ticket.order_id == shipped.order_id
            )
            notes = (
                await session.scalars(
                    select(TicketMessage.body).where(
                        TicketMessage.ticket_id == ticket.id, TicketMessage.internal.is_(True)
                    )
                )
            ).all()
            assert any("Customs hold" in note for note in notes)
            tickets = await session.scalar(
                select(func.count(Ticket.id)).where(Ticket.order_id == shipped.order_id)
            )
            assert tickets == 1
    finally:
        await db.dispose()

    await _wait(lambda: _seller_told(story), "the seller's endpoint")
    received_headers, raw = story.seller.received[0]
    expected = "sha256=" + hmac.new(NOTIFY_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert received_headers["x-aftersail-signature"] == expected
    notice = json.loads(raw)
    assert (notice["type"], notice["exception"], notice["priority"]) == (
        "shipment.exception",
        "customs_hold",
        "p1",
    )
    assert notice["tracking_number"] == shipped.tracking_number
    await asyncio.sleep(1.0)  # the replay had time to be evaluated: still one e-mail, one notification
    assert len(story.mailbox.received) == 1 and len(story.seller.received) == 1


async def _has_mail(story: Story) -> bool:
    return bool(story.mailbox.received)


async def _seller_told(story: Story) -> bool:
    return bool(story.seller.received)
