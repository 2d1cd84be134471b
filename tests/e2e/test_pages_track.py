"""The buyer's tracking page over HTTP: finding an order by number and e-mail in any case (one neutral answer
for every miss, rate limited in the buyer's language), forged and expired links answered with a clear page,
a parcel's events newest first in the buyer's time zone with the ETA and a customs-hold alert, Arabic right
to left, and "delivered but not here?" making one claim however often it is sent."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_skeleton, format_time, get_timezone_location
from fastapi import FastAPI
from sqlalchemy import func, select, update

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders.models import Customer, Order
from aftersail.shipping import watch
from aftersail.shipping.models import DeliveryClaim, Shipment
from aftersail.shipping.rules import Status, SubStatus
from aftersail.tenants.links import BuyerGrant, LinkScope
from tests.e2e.test_pages_shop import hidden_value
from tests.tracking_desk import Shipped, feed, make_shipped, scan

NEUTRAL_DE = "Wir konnten keine Bestellung mit diesen Angaben finden."


@pytest.fixture
async def buyer(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from its own address, so that the find-your-order rate limit is this test's alone."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def set_customer(db: Database, shipped: Shipped, **values: str) -> None:
    async with db.transaction(tenant_id=shipped.tenant_id) as session:
        order = await session.get(Order, shipped.order_id)
        assert order is not None
        await session.execute(
            update(Customer)
            .where(Customer.tenant_id == shipped.tenant_id, Customer.id == order.customer_id)
            .values(**values)
        )


async def evaluate(db: Database, shipped: Shipped, now: datetime) -> Shipment:
    """What the `shipping.evaluate` job does after events: status, ETA and exceptions brought up to date."""
    async with db.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None
        await watch.do_evaluate(session, shipment, now=now)
    async with db.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None
        return shipment


def track_url(app: FastAPI, shipped: Shipped, scope: LinkScope = LinkScope.ORDER) -> str:
    token = app.state.services.links.sign(BuyerGrant(shipped.tenant_id, scope, shipped.order_id))
    return f"/track/{quote(token, safe='')}"


async def find(
    client: httpx.AsyncClient, shop: str, number: str, email: str, *, lang: str = "de"
) -> httpx.Response:
    page = await client.get(f"/track?shop={shop}&lang={lang}")
    assert page.status_code == 200
    data = {"form_token": hidden_value(page.text, "form_token"), "number": number, "email": email}
    return await client.post(f"/track?shop={shop}&lang={lang}", data=data)


def error_text(html: str) -> str:
    found = re.search(r'id="find-error">([^<]*)<', html)
    assert found, "no error on the page"
    return found.group(1)


def event_statuses(html: str) -> list[str]:
    return re.findall(r'data-test="event" data-status="(\w+)"', html)


async def test_find_by_number_and_email_in_any_case(
    buyer: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    shipped = await make_shipped(database)
    found = await find(buyer, shipped.tenant.slug, f" {shipped.number.lower()} ", shipped.email.upper())
    assert found.status_code == 303
    location = found.headers["location"]
    assert location.startswith("/track/") and location.endswith("?lang=de")
    page = await buyer.get(location)
    assert page.status_code == 200 and '<html lang="de" dir="ltr">' in page.text
    assert "Ihr Paket verfolgen" in page.text and shipped.tracking_number in page.text
    assert '<dd data-test="carrier">DHL</dd>' in page.text
    assert 'data-test="no-events"' in page.text  # not scanned yet
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Project-Id-Version" not in page.text
    # The same link opens the order page, which links back here.
    token = unquote(location.split("/")[-1].split("?")[0])
    order_page = await buyer.get(f"/o/{quote(token, safe='')}?lang=de")
    assert f'href="/track/{quote(token, safe="")}?lang=de" data-test="track-order"' in order_page.text
    # Without ?lang=, the browser's language comes before the buyer's own.
    french = await buyer.get(location.split("?")[0], headers={"Accept-Language": "fr-FR, fr;q=0.9"})
    assert '<html lang="fr" dir="ltr">' in french.text and "Suivez votre colis" in french.text
    german = await buyer.get(location.split("?")[0])
    assert '<html lang="de" dir="ltr">' in german.text


async def test_every_miss_gets_the_same_neutral_answer(buyer: httpx.AsyncClient, database: Database) -> None:
    shipped = await make_shipped(database)
    slug, number = shipped.tenant.slug, shipped.number
    misses = [
        await find(buyer, slug, number, "someone.else@example.de"),
        await find(buyer, f"no-such-shop-{uuid.uuid4().hex[:6]}", number, shipped.email),
        await find(buyer, slug, "NO-SUCH-NUMBER", shipped.email),
    ]
    assert {miss.status_code for miss in misses} == {404}
    texts = {error_text(miss.text) for miss in misses}
    assert len(texts) == 1 and NEUTRAL_DE in texts.pop()
    empty = await find(buyer, slug, number, "")
    assert empty.status_code == 422 and "Geben Sie Ihre Bestellnummer" in error_text(empty.text)


async def test_finding_is_rate_limited_in_the_buyers_language(
    buyer: httpx.AsyncClient, database: Database
) -> None:
    shipped = await make_shipped(database)
    statuses = [
        (await find(buyer, shipped.tenant.slug, "NOPE", shipped.email, lang="ja")).status_code
        for _ in range(9)
    ]
    assert statuses == [404] * 9
    tenth = await find(buyer, shipped.tenant.slug, shipped.number, shipped.email, lang="ja")
    assert tenth.status_code == 303  # the right answer still gets through within the burst
    limited = await find(buyer, shipped.tenant.slug, shipped.number, shipped.email, lang="ja")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "お使いの接続からの試行回数が多すぎます" in error_text(limited.text)
    assert '<html lang="ja"' in limited.text


async def test_forged_expired_and_foreign_links_get_a_clear_page(
    buyer: httpx.AsyncClient, app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = await make_shipped(database)
    good = track_url(app, shipped)
    forged = await buyer.get(f"{good[:-6]}AAAAAA?lang=de")
    assert forged.status_code == 401
    assert "Dieser Sendungsverfolgungslink ist ungültig." in error_text(forged.text)
    assert 'data-test="track"' in forged.text  # the find form is right there
    wrong_scope = await buyer.get(f"{track_url(app, shipped, LinkScope.RETURN)}?lang=es")
    assert wrong_scope.status_code == 404
    assert "Este enlace de seguimiento no es válido." in error_text(wrong_scope.text)
    missing_post = await buyer.post(f"{good[:-6]}AAAAAA/missing?lang=de", data={"shipment_id": "1"})
    assert missing_post.status_code == 401
    monkeypatch.setattr(app.state.services.links, "max_age_seconds", 0)
    await asyncio.sleep(1.1)
    expired = await buyer.get(f"{good}?lang=de")
    assert expired.status_code == 401
    assert "Dieser Sendungsverfolgungslink ist abgelaufen." in error_text(expired.text)


async def test_a_customs_hold_newest_first_in_local_time_with_eta_and_alert(
    buyer: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    shipped = await make_shipped(database, days_ago=5)
    await set_customer(database, shipped, time_zone="America/New_York")
    now = utcnow()
    picked_up = (now - timedelta(days=4, hours=20)).replace(minute=17, second=0, microsecond=0)
    held = now - timedelta(days=3)
    await feed(
        database,
        shipped.tenant_id,
        scan(shipped.tracking_number, now - timedelta(days=5), Status.INFO_RECEIVED),
        scan(
            shipped.tracking_number,
            held,
            Status.CUSTOMS,
            SubStatus.CUSTOMS_HELD,
            description="Sendung im Zoll angehalten",
            location="Leipzig, DE",
        ),
        scan(  # arrives late: its place in the story is by event time
            shipped.tracking_number,
            picked_up,
            Status.IN_TRANSIT,
            description="Shipment picked up",
            location="Frankfurt, DE",
        ),
    )
    shipment = await evaluate(database, shipped, now)
    assert shipment.status is Status.CUSTOMS and "customs_hold" in shipment.open_exceptions
    assert shipment.eta is not None and shipment.eta_latest is not None

    page = await buyer.get(f"{track_url(app, shipped)}?lang=de")
    assert page.status_code == 200
    html = page.text
    assert event_statuses(html) == ["customs", "in_transit", "info_received"]
    zone = ZoneInfo("America/New_York")
    local = format_time(picked_up, "short", tzinfo=zone, locale="de")
    assert f">{local}</time>" in html
    assert f'datetime="{picked_up.astimezone(zone).isoformat(timespec="minutes")}"' in html
    assert format_skeleton("MMMMEEEEd", picked_up.astimezone(zone).date(), locale="de") in html
    assert f"Zeiten in Ihrer Zeitzone: {get_timezone_location(zone, locale='de')}." in html
    assert '<p class="carrier-words">' in html and "Sendung im Zoll angehalten" in html
    assert "Leipzig, DE" in html
    assert '<h2 id="parcel-' in html and "Vom Zoll zurückgehalten</h2>" in html
    eta_day = format_skeleton("MMMMEEEEd", shipment.eta.astimezone(zone).date(), locale="de")
    assert re.search(r'data-test="eta">Voraussichtlich am [^<]*' + re.escape(eta_day), html)
    alert = re.search(r'data-kind="customs_hold".*?</aside>', html, re.S)
    assert alert, "no customs-hold alert"
    assert "Der Zoll hält Ihr Paket länger als üblich zurück." in alert.group(0)
    assert "Was Sie tun können" in alert.group(0) and "/chat?t=" in alert.group(0)
    assert 'data-test="missing"' not in html and 'data-test="return"' not in html  # not delivered

    arabic = await buyer.get(f"{track_url(app, shipped)}?lang=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "محتجز في الجمارك" in arabic.text and "ما يمكنك فعله" in arabic.text


async def test_delivered_but_not_here_makes_one_claim(
    buyer: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    shipped = await make_shipped(database, days_ago=4, language="es")
    now = utcnow()
    await feed(
        database,
        shipped.tenant_id,
        scan(shipped.tracking_number, now - timedelta(days=3), Status.IN_TRANSIT),
        scan(shipped.tracking_number, now - timedelta(days=1), Status.DELIVERED, location="Berlin"),
    )
    await evaluate(database, shipped, now)
    url = track_url(app, shipped)
    page = await buyer.get(f"{url}?lang=es")
    assert 'data-test="delivered">Entregado el' in page.text
    assert 'data-test="missing"' in page.text and "¿Entregado pero no lo tienes?" in page.text
    assert f'href="/returns/o/{url.split("/")[-1]}?lang=es" data-test="return"' in page.text
    form = {
        "form_token": hidden_value(page.text, "form_token"),
        "shipment_id": str(shipped.shipment_id),
        "note": "No está en el buzón ni con los vecinos",
    }
    first, second = await asyncio.gather(
        buyer.post(f"{url}/missing?lang=es", data=form), buyer.post(f"{url}/missing?lang=es", data=form)
    )
    again = await buyer.post(f"{url}/missing?lang=es", data=form)
    assert {first.status_code, second.status_code, again.status_code} == {303}
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        claims = await session.scalar(
            select(func.count(DeliveryClaim.id)).where(DeliveryClaim.shipment_id == shipped.shipment_id)
        )
    assert claims == 1
    after = await buyer.get(again.headers["location"])
    assert 'id="track-notice"' in after.text and "Gracias por avisarnos." in after.text
    assert 'data-kind="not_received"' in after.text and 'data-test="missing"' not in after.text
    assert 'data-test="reported-on"' in after.text

    other = await make_shipped(database, tenant=shipped.tenant, network=shipped.network)
    foreign = await buyer.post(
        f"{track_url(app, other)}/missing?lang=es", data={**form, "shipment_id": str(shipped.shipment_id)}
    )
    assert foreign.status_code in (403, 404)  # another order's parcel, or a stale form token
    not_delivered = await buyer.get(f"{track_url(app, other)}?lang=es")
    assert 'data-test="missing"' not in not_delivered.text
