"""Warehouse receiving in a real browser on a tablet (768×1024, then 1024×768), against a real uvicorn server
on a migrated SQLite file: the RMA typed into the scan field and Enter pressed (as a scanner does), an unknown
code answered with the field ready again, the parcel received, a grade chosen (its usual disposition follows),
the grading submitted and its result shown with the focus on "Next parcel". Screenshots go to the artifacts
directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser

from aftersail.kit.db import Database
from aftersail.tenants.models import Role
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.e2e.test_pages_returns_receiving import Parcel, make_parcel

pytestmark = pytest.mark.browser


@dataclass
class Server:
    base_url: str
    parcel: Parcel


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("receiving-server")
    with sqlite_server(data_dir, RUN_DISPATCHER="false") as (base_url, url):
        yield base_url, url, data_dir


@pytest.fixture(scope="module")
async def server(server_process: tuple[str, str, Path]) -> Server:
    base_url, url, data_dir = server_process
    db = Database(url)
    try:
        parcel = await make_parcel(db, data_dir, locale="zh")
    finally:
        await db.dispose()
    return Server(base_url, parcel)


async def test_scan_receive_and_grade_on_a_tablet(
    server: Server, browser: Browser, artifacts_dir: Path
) -> None:
    parcel = server.parcel
    context = await browser.new_context(
        viewport={"width": 768, "height": 1024}, locale="en-US", has_touch=True, is_mobile=True
    )
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, server.base_url, parcel.users[Role.WAREHOUSE], "/returns/receive")

    scan = page.locator("[data-test=scan]")
    assert await scan.evaluate("field => field === document.activeElement")  # ready for the scanner
    await page.keyboard.type("RMA9999999")
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    assert "RMA9999999" in await page.locator("[data-test=scan-error]").inner_text()
    assert await scan.evaluate("field => field === document.activeElement && field.value === ''")
    await save(page, artifacts_dir, "receiving-scan-unknown-zh-768.png")

    await page.keyboard.type(parcel.rma.lower())  # a scanner's keystrokes, then its Enter
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server.base_url}/returns/receive/{parcel.return_id}")
    await page.locator("[data-test=received]").click()
    await page.wait_for_selector("[data-test=submit-grading]")
    assert await page.locator("[data-test=status]").get_attribute("data-status") == "received"

    await page.locator("label.receive-grade-C").click()
    assert await page.locator("[data-test=disposition]").input_value() == "refurbish"  # follows the grade
    await page.locator("label.receive-grade-A").click()
    assert await page.locator("[data-test=disposition]").input_value() == "restock"
    assert await page.locator("[data-test=count]").input_value() == "1"
    await page.locator("[data-test=note]").fill("Caja intacta")
    box = await page.locator("label.receive-grade-A").bounding_box()
    assert box and box["height"] >= 48 and box["width"] >= 48  # a thumb's target
    await save(page, artifacts_dir, "receiving-grading-zh-768.png")

    await page.locator("[data-test=submit-grading]").click()
    await page.wait_for_selector("[data-test=result]")
    assert await page.locator("[data-test=status]").get_attribute("data-status") in {"graded", "refunded"}
    assert await page.locator("[data-test=graded-line]").count() == 1
    assert await page.locator("[data-test=refunds] li").count() == 1
    assert await page.locator("[data-test=discrepancy]").count() == 0
    next_parcel = page.locator("[data-test=next-parcel]").first
    assert await next_parcel.evaluate("link => link === document.activeElement")
    await page.set_viewport_size({"width": 1024, "height": 768})
    await save(page, artifacts_dir, "receiving-result-zh-1024.png")

    await page.keyboard.press("Enter")  # "Next parcel" has the focus: back to scanning
    await page.wait_for_url(f"{server.base_url}/returns/receive")
    assert await page.locator("[data-test=scan]").evaluate("field => field === document.activeElement")
    # The one failed load is the unknown code's page itself, answered 404 on purpose.
    assert errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"], (
        errors
    )
    await context.close()
