"""The buyer's returns pages in a real browser, in Arabic on a phone (390×844): the start form mirrors
(`dir=rtl`, `lang=ar`), its script shows only the chosen reason's details and the keep-it offer only for a
seller's fault, the policy's answer appears on Check, and the status page after Submit carries the RMA and the
label button, with nothing wider than the screen. Screenshots go to the artifacts directory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect
from sqlalchemy import update

from aftersail.kit.db import Database
from aftersail.orders.models import Customer, Order
from aftersail.tenants.links import BuyerGrant, LinkScope
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.returns_desk import make_delivered

pytestmark = pytest.mark.browser


async def test_an_arabic_buyer_asks_for_a_return_on_a_phone(
    browser: Browser, app: FastAPI, database: Database, ws_base: str, artifacts_dir: Path
) -> None:
    delivered = await make_delivered(database)
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        order = await session.get(Order, delivered.order_id)
        assert order is not None
        await session.execute(
            update(Customer)
            .where(Customer.tenant_id == delivered.tenant_id, Customer.id == order.customer_id)
            .values(name="ليلى", preferred_language="ar", time_zone="Asia/Dubai")
        )
    token = app.state.services.links.sign(
        BuyerGrant(delivered.tenant_id, LinkScope.ORDER, delivered.order_id)
    )
    base = ws_base.replace("ws://", "http://")
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="ar-AE")
    page = await context.new_page()
    errors = watch_for_errors(page)

    await page.goto(f"{base}/returns/o/{quote(token, safe='')}?lang=ar")
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "ar")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(page.locator("h1")).to_have_text("إرجاع منتج أو استبداله")
    await page.locator("select[data-test=qty]").first.select_option("1")

    reason = page.locator("select[name=reason]")
    keep_offer = page.locator("#keep-offer")
    await reason.select_option("damaged")
    await expect(keep_offer).to_be_visible()
    assert await page.locator('optgroup[data-reason="damaged"]').evaluate("g => !g.hidden")
    assert await page.locator('optgroup[data-reason="does_not_fit"]').evaluate("g => g.hidden")
    await reason.select_option("does_not_fit")
    await expect(keep_offer).to_be_hidden()  # a change of fit is not the seller's fault
    await page.locator("select[name=sub_reason]").select_option("too_small")
    await page.locator("input[name=resolution][value=refund]").check()

    await page.locator("[data-test=check]").click()
    result = page.locator("[data-test=check-result]")
    await expect(result).to_have_attribute("data-outcome", "auto_approved")
    await expect(result).to_contain_text("ستتم الموافقة على طلبك فورًا")
    await expect(page.locator("select[name=sub_reason]")).to_have_value("too_small")  # kept after Check
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    start_shot = await save(page, artifacts_dir, "returns-buyer-ar-start.png")

    await page.locator("[data-test=submit]").click()
    await page.wait_for_url("**/r/**")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(html).to_have_attribute("lang", "ar")
    rma = (await page.locator("[data-test=rma]").inner_text()).strip()
    assert rma.startswith("RMA")
    await expect(page.locator("h1")).to_contain_text(rma)
    await expect(page.locator(".steps li.current")).to_have_text("تمت الموافقة")
    label = page.locator("[data-test=label]")
    await expect(label).to_have_text("تنزيل الملصق (PDF)")
    box = await label.bounding_box()
    assert box is not None and box["width"] > 250  # the big button spans the phone's width
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    status_shot = await save(page, artifacts_dir, "returns-buyer-ar-status.png")
    assert start_shot.stat().st_size > 0 and status_shot.stat().st_size > 0
    assert not errors, errors
    await context.close()
