"""The returns console in a real browser against a real uvicorn server on a migrated SQLite file: an admin
(Chinese console) opens the returns list, a case held for review with its signal and figures, approves it,
and opens the return policy, previews the EU 14-day minimum and saves. Screenshots (1440×900, full page) of
the list, the case and the policy page go to the artifacts directory; no console errors (CSP) allowed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from aftersail.kit.db import Database
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.returns_desk import make_delivered, request_fit_refund

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base_url: str
    email: str
    serial: int
    first: int


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("returns-console-server")
    with sqlite_server(data_dir, RUN_DISPATCHER="false") as (base_url, url):
        yield base_url, url, data_dir


@pytest.fixture(scope="module")
async def served(server_process: tuple[str, str, Path]) -> Served:
    base_url, url, data_dir = server_process
    db = Database(url)
    try:
        delivered = await make_delivered(db, repeat_returner_after=1)
        first = await request_fit_refund(db, delivered, "lamp", 1, key="b-first", files_dir=data_dir)
        serial = await request_fit_refund(db, delivered, "cable", 1, key="b-serial", files_dir=data_dir)
        dear = await make_delivered(
            db, lines={"lamp": 20}, country="DE", tenant=delivered.tenant, network=delivered.network
        )
        await request_fit_refund(db, dear, "lamp", 15, key="b-high", files_dir=data_dir)
        async with db.transaction(tenant_id=delivered.tenant_id) as session:
            ret = await returns.access_return(session, delivered.tenant_id, first)
            await receiving.do_receive(session, ret, actor="user:warehouse")
            await refunds.do_request_refund(session, ret, actor="user:agent", amount_minor=1000, key="b-part")
    finally:
        await db.dispose()
    return Served(base_url, delivered.tenant.admin_email, serial, first)


async def test_an_admin_reviews_a_return_and_tries_the_policy(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    base = served.base_url
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, base, served.email, "/returns/cases")
    await expect(page.locator("h1")).to_have_text("退换货")
    await expect(page.locator("[data-return-row]")).to_have_count(3)
    await save(page, artifacts_dir, "returns-list-zh.png")

    await page.goto(f"{base}/returns/cases/{served.first}")
    await expect(page.locator("#costs")).to_contain_text("本次退货损失")
    await save(page, artifacts_dir, "returns-case-refunded-zh.png")

    await page.goto(f"{base}/returns/cases/{served.serial}")
    await expect(page.locator("#signals [data-signal=serial_returner]")).to_be_visible()
    await expect(page.locator("#lines [data-cost-back]")).to_have_count(1)
    await save(page, artifacts_dir, "returns-case-zh.png")
    await page.get_by_role("button", name="批准").click()
    await expect(page.locator(".alert-ok")).to_have_text("退货已批准。")
    await expect(page.locator("#route")).to_contain_text("self_managed")

    await page.goto(f"{base}/settings/returns")
    await page.locator("input[name=window_days]").fill("7")
    await page.locator("input[name=sample_market]").fill("DE")
    await page.locator("input[name=sample_days]").fill("10")
    await page.get_by_role("button", name="预览判定").click()
    await expect(page.locator("[data-window]")).to_have_attribute("data-window", "14")
    await save(page, artifacts_dir, "returns-policy-zh.png")
    await page.get_by_role("button", name="保存政策").click()
    await expect(page.locator(".alert-ok")).to_have_text("退货政策已保存。")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not errors, errors
    await context.close()
