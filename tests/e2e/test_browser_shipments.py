"""The parcel pages in a real browser against a real uvicorn server on a migrated SQLite file: an admin
(Chinese console) opens the parcels at risk (the customs hold first with its P1 badge, then the stalled
parcel), follows the held parcel to its page (ETA against the promise, the exception with its ticket, the
events in event time with the late arrival marked), opens a raw carrier event, sees the parcel's events
beside the ticket, and looks at lane health.
Screenshots (1440×900, full page) go to the artifacts directory; no console errors (CSP) allowed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from aftersail.kit.db import Database
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.e2e.test_pages_shipments import open_parcel_ticket
from tests.integration.test_shipping_report import make_history

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base_url: str
    email: str
    held: int
    stalled: int
    ticket_id: int


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("shipments-console-server")
    with sqlite_server(data_dir, RUN_DISPATCHER="false") as (base_url, url):
        yield base_url, url, data_dir


@pytest.fixture(scope="module")
async def served(server_process: tuple[str, str, Path]) -> Served:
    base_url, url, _ = server_process
    db = Database(url)
    try:
        history = await make_history(db)
        ticket_id = await open_parcel_ticket(db, history)
    finally:
        await db.dispose()
    held = history["held"]
    return Served(
        base_url, held.tenant.admin_email, held.shipment_id, history["stalled"].shipment_id, ticket_id
    )


async def test_an_agent_sees_the_parcels_at_risk_and_one_parcels_story(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    base = served.base_url
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, base, served.email, "/shipments")
    await expect(page.locator("h1")).to_have_text("有风险的包裹")
    rows = page.locator("[data-shipment-row]")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_have_attribute("data-shipment-row", str(served.held))
    await expect(rows.first.locator(".prio-p1").first).to_be_visible()
    await expect(rows.first).to_contain_text("海关扣留")
    await expect(rows.nth(1)).to_contain_text("停滞")
    await expect(page.locator(".nav a[aria-current=page]")).to_contain_text("包裹跟踪")
    await save(page, artifacts_dir, "shipments-at-risk-zh.png")

    await rows.first.locator(f"a[href='/shipments/{served.held}']").click()
    await page.wait_for_url(f"{base}/shipments/{served.held}")
    events = page.locator(".parcel-event")
    await expect(events).to_have_count(3)
    await expect(page.locator(".parcel-event[data-late]")).to_have_count(1)
    await expect(page.locator(".parcel-event[data-late]")).to_contain_text("延迟收到")
    await expect(page.locator("#exceptions")).to_contain_text(f"#{served.ticket_id}")
    await expect(page.locator("#eta")).to_contain_text("已延误")
    raw = page.locator(".parcel-event").first.locator("details.parcel-raw")
    await raw.locator("summary").click()
    await expect(raw.locator("pre")).to_contain_text('"sub_status": "held"')
    await save(page, artifacts_dir, "shipment-parcel-zh.png")

    await page.goto(f"{base}/inbox/{served.ticket_id}")
    panel = page.locator(f"[data-parcels] [data-parcel='{served.held}']")
    await expect(panel.locator(".parcel-event")).to_have_count(3)
    await page.wait_for_load_state("networkidle")  # the inbox swaps its thread in once it is live
    await page.locator("section[data-parcels]").screenshot(
        path=artifacts_dir / "shipments-ticket-panel-zh.png"
    )

    await page.goto(f"{base}/shipments/lanes")
    await expect(page.locator("tr[data-lane='FRA>DE'] [data-cell=median]")).to_contain_text("3")
    await save(page, artifacts_dir, "shipments-lanes-zh.png")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not errors, errors
    await context.close()
