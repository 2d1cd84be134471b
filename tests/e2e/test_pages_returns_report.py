"""The returns cost report over HTTP: the console page in Chinese and English (dimension tabs, sort links,
high figures marked, totals, the link from the Reports page), the JSON API and its CSV, refused input; and the
page in a real browser in Chinese, screenshotted."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from aftersail.kit.db import Database
from aftersail.tenants import service as tenants
from aftersail.tenants.models import User
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.e2e.test_pages_shop import sign_in
from tests.factories import PASSWORD
from tests.integration.test_returns_report import ReturnsScenario, make_returns_scenario

API = "/api/v1/reports/returns"


async def set_locale(db: Database, scenario: ReturnsScenario, locale: str) -> None:
    async with db.transaction(tenant_id=scenario.tenant.tenant_id) as session:
        admin = await session.get(User, scenario.tenant.admin_user_id)
        assert admin is not None
        await tenants.do_set_user_locale(session, user=admin, locale=locale)


@pytest.fixture(scope="module")
async def scenario(database: Database, tmp_path_factory: pytest.TempPathFactory) -> ReturnsScenario:
    return await make_returns_scenario(database, tmp_path_factory.mktemp("returns-report"))


def body_rows(html: str) -> dict[str, list[str]]:
    """Row name → its cells, from the report table's body and foot."""
    table = html.split("data-returns-table", 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        name = re.search(r'<th scope="row"[^>]*>([^<]*)</th>', row)
        if name:
            rows[name.group(1).strip()] = [c.strip() for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)]
    return rows


async def test_the_page_in_chinese(
    client: httpx.AsyncClient, database: Database, scenario: ReturnsScenario
) -> None:
    await set_locale(database, scenario, "zh")
    await sign_in(client, scenario.tenant.admin_email)
    reports = await client.get("/reports")
    assert 'href="/reports/returns"' in reports.text and "退货成本" in reports.text
    page = await client.get("/reports/returns?range=7")
    assert page.status_code == 200 and page.headers["content-language"] == "zh"
    html = page.text
    assert '<a href="/reports" aria-current="page">' in html  # under Reports in the navigation
    assert "按 SKU" in html and "按批次" in html and "按退货原因" in html and "退货率" in html
    assert 'style="' not in html and "<style" not in html  # the CSP allows no inline styles
    rows = body_rows(html)
    lamp, cable = scenario.network.codes["lamp"], scenario.network.codes["cable"]
    # units sold, returns, units returned, rate, value, freight, handling, refunded, restock, loss, share
    assert rows[lamp][:4] == ["4", "2", "2", "50.0%"]
    assert rows[lamp][9] == "€18.50" and rows[lamp][10] == "46.3%"
    assert rows[cable][3] == "100.0%" and rows[cable][9] == "€27.49" and rows[cable][10] == "68.8%"
    assert rows["合计"][:3] == ["6", "3", "4"] and rows["合计"][9] == "€45.99"
    assert html.count('data-high="return_rate"') == 2 and html.count('data-high="cost_share"') == 1
    batches = body_rows((await client.get("/reports/returns?range=7&by=batch")).text)
    assert f"{lamp} · LAMP-B1" in batches and "无批次" in batches
    reasons = body_rows((await client.get("/reports/returns?range=7&by=reason")).text)
    assert set(reasons) == {"尺码不合适", "质量故障", "合计"}
    markets = body_rows((await client.get("/reports/returns?range=7&by=market")).text)
    assert "西班牙 (ES)" in markets and "德国 (DE)" in markets


async def test_sorting_and_english(
    client: httpx.AsyncClient, database: Database, scenario: ReturnsScenario
) -> None:
    await set_locale(database, scenario, "en")
    await sign_in(client, scenario.tenant.admin_email)
    html = (await client.get("/reports/returns?range=7&by=sku&sort=loss_minor&dir=asc")).text
    lamp, cable = scenario.network.codes["lamp"], scenario.network.codes["cable"]
    names = [n for n in body_rows(html) if n != "Total"]
    assert names.index(lamp) < names.index(cable)  # 18.50 before 27.49
    assert (
        'aria-sort="ascending"><a href="/reports/returns?range=7&amp;by=sku&amp;sort=loss_minor&amp;dir=desc"'
        in html
    )
    html = (await client.get("/reports/returns?range=7&by=sku&sort=loss_minor")).text
    names = [n for n in body_rows(html) if n != "Total"]
    assert names.index(cable) < names.index(lamp)
    assert "Return rate" in html and "By receiving warehouse" in html and "Download CSV" in html
    refused = await client.get("/reports/returns?range=custom&from=2024-05-31&to=2024-05-01")
    assert refused.status_code == 422 and "The end date is before the start date." in refused.text


async def test_the_api_and_its_csv(client: httpx.AsyncClient, scenario: ReturnsScenario) -> None:
    headers = scenario.tenant.headers()
    found = await client.get(API, params={"by": "warehouse"}, headers=headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["currency"] == "EUR" and body["group_by"] == "warehouse"
    assert body["totals"]["loss_minor"] == 4599 and body["totals"]["units_sold"] == 6
    frankfurt = next(g for g in body["groups"] if g["name"].startswith("FRA"))
    assert frankfurt["figures"]["returns"] == 2 and frankfurt["figures"]["loss_minor"] == 4599
    exported = await client.get(API, params={"by": "sku", "format": "csv"}, headers=headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    by_name = {row["name"]: row for row in rows}
    lamp = by_name[scenario.network.codes["lamp"]]
    assert (lamp["units_sold"], lamp["return_rate"], lamp["loss"], lamp["currency"]) == (
        "4",
        "0.5000",
        "18.50",
        "EUR",
    )
    assert rows[-1]["group"] == "total" and rows[-1]["loss"] == "45.99"
    assert (await client.get(API, params={"by": "colour"}, headers=headers)).status_code == 422
    assert (
        await client.get(API, params={"from": "2024-05-31", "to": "2024-01-01"}, headers=headers)
    ).status_code == 422
    assert (await client.get(API)).status_code == 401


# --- in a browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with sqlite_server(tmp_path_factory.mktemp("returns-report-server"), RUN_DISPATCHER="false") as served:
        yield served


@pytest.mark.browser
async def test_the_page_in_a_browser_in_chinese(
    server_process: tuple[str, str], browser: Browser, artifacts_dir: Path, tmp_path: Path
) -> None:
    base, url = server_process
    db = Database(url)
    try:
        seeded = await make_returns_scenario(db, tmp_path)
        await set_locale(db, seeded, "zh")
    finally:
        await db.dispose()
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base}/reports/returns")
    await page.get_by_label("邮箱").fill(seeded.tenant.admin_email)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(f"{base}/reports/returns")
    await page.get_by_role("link", name="退货率").click()  # sort by the rate
    await page.wait_for_load_state()
    assert "sort=return_rate" in page.url
    first = await page.locator("[data-returns-table] tbody th").first.inner_text()
    assert first == seeded.network.codes["cable"]  # 100% comes first
    await save(page, artifacts_dir, "returns-report-zh.png")
    await page.get_by_role("link", name="按批次").click()
    await page.wait_for_load_state()
    await save(page, artifacts_dir, "returns-report-zh-batch.png")
    assert not errors, errors
    await context.close()
