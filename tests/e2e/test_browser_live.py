"""The Live board in a real browser while orders stream in through the REST API.

A real uvicorn server on a migrated SQLite file runs with its outbox dispatcher, so the `live.*` events that
placing an order writes reach the board's WebSocket. The test signs in, opens the board of a live session,
places orders with the session's id through the API (the last ones sell the lamp out in Frankfurt), and
checks that the board follows without a reload: the order count and the chart grow, a stock cell goes down,
the sold-out badge and the sell-out line appear; the warehouse stock page follows too. Screenshots go to the
artifacts directory; with AFTERSAIL_UPDATE_SCREENSHOTS=1 the board's also refreshes docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.schemas import LiveSessionCreate
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import PASSWORD, TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

pytestmark = pytest.mark.browser
API = "/api/v1"


@dataclass
class LiveShop:
    base_url: str
    tenant: TenantFixture
    network: Network
    session_id: int
    email: str


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """uvicorn in its own process, its outbox dispatcher on (that is what pushes events to sockets)."""
    data_dir = tmp_path_factory.mktemp("live-server")
    with sqlite_server(data_dir, RUN_DISPATCHER="true", OUTBOX_POLL_SECONDS="0.1") as served:
        yield served


@pytest.fixture(scope="module")
async def live_shop(live_server: tuple[str, str]) -> AsyncIterator[LiveShop]:
    base_url, url = live_server
    db = Database(url)
    try:
        tenant = await make_tenant(db, name="Lumen Home")
        network = await make_network(db, tenant.tenant_id)
        await network.set_stock(db, "FRA", "lamp", 6, low_stock_threshold=2)
        await network.set_stock(db, "FXT", "lamp", 20)
        await network.set_stock(db, "FRA", "cable", 60, low_stock_threshold=5)
        await network.set_stock(db, "FRA", "case", 30)
        email = f"mia@{tenant.slug}.test"
        async with db.transaction(system=True) as session:
            await tenants.do_create_user(
                session,
                tenant_id=tenant.tenant_id,
                email=email,
                name="Mia Chen",
                password=PASSWORD,
                role=Role.AGENT,
                locale="en",
                time_zone="Europe/Berlin",
            )
        async with db.transaction(tenant_id=tenant.tenant_id) as session:
            live = await orders.do_create_live_session(
                session,
                tenant.tenant_id,
                LiveSessionCreate(
                    title="Summer desk drop",
                    host="Lina",
                    market="DE",
                    platform="TikTok",
                    starts_at=datetime.now(UTC) - timedelta(minutes=25),
                ),
            )
            session_id = live.id
    finally:
        await db.dispose()
    yield LiveShop(base_url, tenant, network, session_id, email)


async def place(
    api: httpx.AsyncClient, shop: LiveShop, lines: dict[str, int], *, minutes_ago: int | None = None
) -> str:
    extra = (
        {}
        if minutes_ago is None
        else {"placed_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()}
    )
    placed = await api.post(
        f"{API}/orders",
        json=order_body(shop.network, lines, live_session_id=shop.session_id, **extra),
        headers=shop.tenant.headers(Role.ADMIN),
    )
    assert placed.status_code == 201, placed.text
    return str(placed.json()["status"])


def stock_cell(page: Page, shop: LiveShop, sku: str, warehouse: str) -> str:
    return f'[data-cell="{shop.network.skus[sku]}:{shop.network.warehouses[warehouse]}"]'


async def test_the_live_board_follows_orders_as_they_stream_in(
    live_shop: LiveShop, browser: Browser, artifacts_dir: Path
) -> None:
    shop = live_shop
    async with httpx.AsyncClient(base_url=shop.base_url, timeout=10) as api:
        # The session is under way: a few orders before anyone opens the board.
        for minutes_ago, lines in (
            (21, {"lamp": 1, "cable": 2}),
            (12, {"cable": 1}),
            (4, {"case": 1, "cable": 1}),
        ):
            assert await place(api, shop, lines, minutes_ago=minutes_ago) == "allocated"

        context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
        page = await context.new_page()
        errors = watch_for_errors(page)
        await page.goto(f"{shop.base_url}/live")
        assert "/login?next=/live" in page.url
        await page.get_by_label("Email").fill(shop.email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{shop.base_url}/live")
        await page.get_by_role("link", name="Summer desk drop").click()
        await page.wait_for_url(f"{shop.base_url}/live/{shop.session_id}")

        status = page.locator("[data-live-status]")
        await expect(status).to_have_attribute("data-live-status", "live")
        await expect(status).to_have_text("Live updates on")
        orders_kpi = page.locator('[data-kpi="orders"]')
        await expect(orders_kpi).to_have_text("3")
        chart = page.locator("[data-live-chart]")
        await expect(chart).to_have_attribute("data-orders", "3")
        assert await chart.locator("svg rect.bar").count() == 60
        lamp_fra = page.locator(stock_cell(page, shop, "lamp", "FRA"))
        await expect(lamp_fra.locator('[data-field="available"]')).to_have_text("5")
        await expect(lamp_fra.locator("[data-sold-out-badge]")).to_be_hidden()
        await expect(page.locator("[data-sellouts] li")).to_have_count(0)
        await page.evaluate("window.boardWasNotReloaded = true")

        # Orders stream in; the lamp runs out in Frankfurt, and later lamps come from Felixstowe.
        for lines in (
            {"lamp": 1, "cable": 1},
            {"cable": 3},
            {"lamp": 2},
            {"case": 2, "cable": 1},
            {"lamp": 1, "case": 1},
        ):
            assert await place(api, shop, lines) == "allocated"
            await asyncio.sleep(0.3)
        await expect(orders_kpi).to_have_text("8")
        await expect(chart).to_have_attribute("data-orders", "8")
        await expect(lamp_fra.locator('[data-field="available"]')).to_have_text("1")
        await expect(lamp_fra.locator('[data-field="reserved"]')).to_have_text("5")
        await save(page, artifacts_dir, "live-board-streaming.png")

        assert await place(api, shop, {"lamp": 1, "cable": 1}) == "allocated"  # the last lamp in Frankfurt
        assert await place(api, shop, {"lamp": 2}) == "allocated"  # from Felixstowe now
        await expect(lamp_fra.locator('[data-field="available"]')).to_have_text("0")
        await expect(lamp_fra.locator("[data-sold-out-badge]")).to_be_visible()
        await expect(lamp_fra).to_have_class(re.compile(r"\bis-sold-out\b"))
        sell_out = page.locator("[data-sellouts] li")
        await expect(sell_out).to_have_count(1)
        await expect(sell_out).to_contain_text(
            re.compile(rf"Sold out at \d\d:\d\d — {shop.network.codes['lamp']} in Frankfurt \(Raunheim\)")
        )
        await expect(page.locator('[data-kpi="sellouts"]')).to_have_text("1")
        lamp_fxt = page.locator(stock_cell(page, shop, "lamp", "FXT"))
        await expect(lamp_fxt.locator('[data-field="available"]')).to_have_text("18")
        await expect(orders_kpi).to_have_text("10")
        await expect(chart).to_have_attribute("data-orders", "10")
        await expect(page.locator("[data-recent-orders] li")).to_have_count(10)
        await expect(page.locator("[data-recent-orders] li").first).to_contain_text("Lina")
        await expect(page.locator('[data-kpi="units"]')).to_have_text(
            "22"
        )  # the lines of every order counted
        assert await page.evaluate("window.boardWasNotReloaded === true"), "the board updated in place"
        await page.wait_for_timeout(1500)  # let the highlight animations finish before the picture
        await save(page, artifacts_dir, "live-board.png", publish=True)

        # The warehouse stock page follows the same events.
        stock_page = await context.new_page()
        stock_errors = watch_for_errors(stock_page)
        await stock_page.goto(f"{shop.base_url}/warehouses?warehouse={shop.network.warehouses['FRA']}")
        await expect(stock_page.locator("[data-live-status]")).to_have_attribute("data-live-status", "live")
        cable_level = stock_page.locator(
            f'tr:has-text("{shop.network.codes["cable"]}") [data-field="available"]'
        )
        before = int(await cable_level.inner_text())
        assert await place(api, shop, {"cable": 4}) == "allocated"
        await expect(cable_level).to_have_text(str(before - 4))
        await expect(
            page.locator(stock_cell(page, shop, "cable", "FRA")).locator('[data-field="available"]')
        ).to_have_text(str(before - 4))
        await save(stock_page, artifacts_dir, "live-warehouse-stock.png")
        assert errors == [] and stock_errors == []
        await context.close()
