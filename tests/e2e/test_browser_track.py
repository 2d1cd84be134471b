"""The buyer's tracking page in a real browser on a phone (390×844): a Japanese buyer living in Berlin (time
zone Asia/Tokyo) follows a DHL parcel from Felixstowe that customs in Leipzig has been holding for three
days — the page is in Japanese from the browser's language, the status, the expected date and the customs
alert are on top, the carrier's events run newest first in Tokyo time, nothing is wider than the screen; the
same page in Arabic mirrors. Screenshots go to the artifacts directory (track-ja.png, track-ar.png)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_time
from fastapi import FastAPI
from playwright.async_api import Browser, expect
from sqlalchemy import update

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders.models import Customer, Order
from aftersail.shipping import watch
from aftersail.shipping.models import Shipment
from aftersail.shipping.rules import Status, SubStatus
from aftersail.tenants.links import BuyerGrant, LinkScope
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import make_tenant
from tests.fulfilment import make_network
from tests.tracking_desk import feed, make_shipped, scan

pytestmark = pytest.mark.browser


async def test_a_japanese_buyer_follows_a_parcel_held_by_customs_on_a_phone(
    browser: Browser, app: FastAPI, database: Database, ws_base: str, artifacts_dir: Path
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for sku in network.skus:
        await network.set_stock(database, "FXT", sku, 20)  # Felixstowe: the parcel crosses into the EU
    shipped = await make_shipped(
        database, tenant=tenant, network=network, language="ja", days_ago=6, email="yui.tanaka@example.jp"
    )
    now = utcnow()
    day = timedelta(days=1)
    number = shipped.tracking_number
    held_at = (now - 3 * day).replace(second=0, microsecond=0)
    story = [
        (
            now - 6 * day,
            Status.INFO_RECEIVED,
            SubStatus.NONE,
            "Shipment information received",
            "Felixstowe, GB",
        ),
        (now - 5 * day, Status.IN_TRANSIT, SubStatus.NONE, "Shipment picked up", "Felixstowe, GB"),
        (
            now - 5 * day + timedelta(hours=5),
            Status.IN_TRANSIT,
            SubStatus.NONE,
            "Processed at EAST MIDLANDS - UK",
            "East Midlands, GB",
        ),
        (
            now - 4 * day,
            Status.IN_TRANSIT,
            SubStatus.NONE,
            "Arrived at DHL Sort Facility LEIPZIG - GERMANY",
            "Leipzig, DE",
        ),
        (
            now - 4 * day + timedelta(hours=4),
            Status.CUSTOMS,
            SubStatus.NONE,
            "Customs clearance process started",
            "Leipzig, DE",
        ),
        (held_at, Status.CUSTOMS, SubStatus.CUSTOMS_HELD, "Clearance event: shipment on hold", "Leipzig, DE"),
    ]
    await feed(
        database,
        tenant.tenant_id,
        *(
            scan(number, when, status, sub, description=words, location=place)
            for when, status, sub, words, place in story
        ),
    )
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        order = await session.get(Order, shipped.order_id)
        assert order is not None
        await session.execute(
            update(Customer)
            .where(Customer.tenant_id == tenant.tenant_id, Customer.id == order.customer_id)
            .values(name="田中 結衣", time_zone="Asia/Tokyo")
        )
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None
        await watch.do_evaluate(session, shipment, now=now)
        assert "customs_hold" in shipment.open_exceptions and shipment.eta is not None
    token = app.state.services.links.sign(BuyerGrant(tenant.tenant_id, LinkScope.ORDER, shipped.order_id))
    url = f"{ws_base.replace('ws://', 'http://')}/track/{quote(token, safe='')}"

    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(url)  # no ?lang=: the phone's language
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "ja")
    await expect(html).to_have_attribute("dir", "ltr")
    await expect(page.locator("h1")).to_have_text("お荷物の追跡")
    await expect(page.locator("[data-test=status]")).to_have_text("税関で保留中")
    await expect(page.locator("[data-test=eta]")).to_contain_text("お届け予定")
    alert = page.locator('[data-test=alert][data-kind="customs_hold"]')
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("税関でのお荷物の保留が通常より長くなっています。")
    await expect(page.locator("[data-test=zone]")).to_contain_text("日本時間")
    events = page.locator("[data-test=event]")
    await expect(events).to_have_count(len(story))
    assert await events.evaluate_all("items => items.map(item => item.dataset.status)") == [
        "customs",
        "customs",
        "in_transit",
        "in_transit",
        "in_transit",
        "info_received",
    ]
    tokyo = format_time(held_at, "short", tzinfo=ZoneInfo("Asia/Tokyo"), locale="ja")
    await expect(events.first.locator("time")).to_have_text(tokyo)
    await expect(events.first.locator(".carrier-words")).to_contain_text("Clearance event: shipment on hold")
    await expect(page.locator("[data-test=chat]")).to_have_text("チャットでお問い合わせ")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    japanese = await save(page, artifacts_dir, "track-ja.png")

    await page.goto(f"{url}?lang=ar")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(page.locator("[data-test=status]")).to_have_text("محتجز في الجمارك")
    await expect(page.locator('[data-test=alert][data-kind="customs_hold"]')).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    arabic = await save(page, artifacts_dir, "track-ar.png")
    assert japanese.stat().st_size > 0 and arabic.stat().st_size > 0
    assert not errors, errors
    await context.close()
