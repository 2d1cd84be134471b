"""The console and the buyer shell in a real browser, against a real uvicorn server on a migrated SQLite file.

Signs in through the form, switches the console to Chinese, opens Orders and an order; then opens the buyer
shell in Arabic on a phone-sized screen and checks that the layout really mirrors. Screenshots go to the
artifacts directory; with AFTERSAIL_UPDATE_SCREENSHOTS=1 the final ones also refresh docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade_async
from tests.e2e.servers import sqlite_server
from tests.e2e.test_pages_shop import PASSWORD, Shop, seed_shop

pytestmark = pytest.mark.browser
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Server:
    base_url: str
    shop: Shop


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with sqlite_server(tmp_path_factory.mktemp("browser-server"), RUN_DISPATCHER="false") as served:
        yield served


@pytest.fixture(scope="module")
async def server(server_process: tuple[str, str]) -> Server:
    base_url, url = server_process
    await upgrade_async(url)  # a no-op: already at head; keeps the database state explicit here
    db = Database(url)
    try:
        shop = await seed_shop(db, agent_locale="en")
    finally:
        await db.dispose()
    return Server(base_url=base_url, shop=shop)


def watch_for_errors(page: Page) -> list[str]:
    """Console errors (a CSP violation shows up here) and failed requests."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def save(page: Page, artifacts_dir: Path, name: str, *, publish: bool = False) -> Path:
    path = artifacts_dir / name
    await page.screenshot(path=str(path), full_page=True)
    if publish and os.environ.get("AFTERSAIL_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / name)
    return path


async def test_console_sign_in_switch_to_chinese_and_open_an_order(
    server: Server, browser: Browser, artifacts_dir: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-US")
    page = await context.new_page()
    errors = watch_for_errors(page)

    await page.goto(f"{server.base_url}/orders")
    assert "/login?next=/orders" in page.url
    await page.get_by_role("link", name="English").click()
    await page.get_by_label("Email").fill(server.shop.agent_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await save(page, artifacts_dir, "console-login-en.png")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.base_url}/orders")
    assert await page.locator("h1").inner_text() == "Orders"
    assert await page.locator(".tenant-name").inner_text() == "Harbor & Pine Goods"

    await page.get_by_role("button", name="中文").click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "zh"
    assert await page.locator("h1").inner_text() == "订单"
    assert await page.locator('.nav a[aria-current="page"]').inner_text() == "订单"
    rows = page.locator("table.table tbody tr")
    assert await rows.count() == len(server.shop.orders)
    await save(page, artifacts_dir, "console-zh.png", publish=True)

    # Filter by status, then open the order.
    await page.get_by_label("状态").select_option("allocated")
    await page.wait_for_url(re.compile(r".*/orders\?.*status=allocated"))
    assert await rows.count() == 1
    await rows.first.locator("a").first.click()
    await page.wait_for_url("**/orders/*")
    heading = await page.locator("h1").inner_text()
    assert heading.startswith("订单 AE-")
    assert await page.get_by_text("操作记录").count() >= 1
    assert await page.get_by_text("Layla Haddad").count() >= 1
    await save(page, artifacts_dir, "console-zh-order.png", publish=True)

    # The choice stuck to the user: a fresh page load is still Chinese.
    await page.goto(f"{server.base_url}/warehouses")
    assert await page.locator("h1").inner_text() == "海外仓"
    await page.locator(".card", has_text="Los Angeles").click()
    await page.wait_for_url(re.compile(r".*/warehouses\?warehouse=\d+"))
    assert await page.locator("tr.row-low").count() == 1
    await save(page, artifacts_dir, "console-zh-warehouses.png")

    # On a phone the sidebar folds into a strip above the page, and only the tables scroll sideways.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{server.base_url}/orders")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save(page, artifacts_dir, "console-zh-mobile.png")
    assert errors == []
    await context.close()


async def test_buyer_shell_in_arabic_on_a_phone(
    server: Server, browser: Browser, artifacts_dir: Path
) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ar-AE",
    )
    page = await context.new_page()
    errors = watch_for_errors(page)
    shop = server.shop
    number = next(n for n in shop.orders if n.startswith("AE-"))

    await page.goto(f"{server.base_url}/help?shop={shop.tenant.slug}")
    html = page.locator("html")
    assert await html.get_attribute("lang") == "ar" and await html.get_attribute("dir") == "rtl"
    assert await page.locator("h1").inner_text() == "ابحث عن طلبك"
    await page.get_by_label("رقم الطلب").fill(number)
    await page.get_by_label("البريد الإلكتروني").fill(shop.emails["layla"])
    await save(page, artifacts_dir, "buyer-ar-help.png")
    await page.get_by_role("button", name="ابحث عن طلبي").click()
    await page.wait_for_url("**/o/*")
    assert await page.locator("h1").inner_text() == "قيد التجهيز"

    # Mirrored: the store name at the right edge, the language menu at the left, text right-aligned.
    brand = await page.locator(".buyer-brand").bounding_box()
    menu = await page.locator(".lang-menu summary").bounding_box()
    assert brand and menu and brand["x"] > menu["x"]
    assert await page.locator(".sheet h1").evaluate("e => getComputedStyle(e).direction") == "rtl"
    # No sideways scrolling on a phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save(page, artifacts_dir, "buyer-ar.png", publish=True)
    assert errors == []
    await context.close()
