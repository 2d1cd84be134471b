"""The Reports page in a real browser against a real uvicorn server on a migrated SQLite file, with a month
of support work seeded through the services: tiles, the daily chart and the group charts in English and
Chinese, the group switch, a chart's data table, the empty state and a phone-sized screen. Screenshots go
to the artifacts directory (with AFTERSAIL_UPDATE_SCREENSHOTS=1 the English one refreshes docs/screenshots/).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.support import messages
from aftersail.support import policy as policies
from aftersail.support import service as tickets
from aftersail.support.models import Channel, Priority
from aftersail.support.rules import DEFAULT_BREACH_ACTIONS, SupportPolicy
from aftersail.tenants import service as tenants
from aftersail.tenants.models import User
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import PASSWORD
from tests.integration.test_analytics_service import Scenario
from tests.support_desk import make_desk

pytestmark = pytest.mark.browser
BERLIN = ZoneInfo("Europe/Berlin")
# (category, channel, language): the inquiries team takes "other" around the clock; the returns team
# (Shenzhen hours) takes damaged goods and returns.
KINDS = (
    ("other", Channel.CHAT, "de"),
    ("other", Channel.EMAIL, "en"),
    ("damaged", Channel.CHAT, "de"),
    ("return", Channel.EMAIL, "fr"),
    ("other", Channel.API, "en"),
)


@dataclass
class ReportDesk:
    base_url: str
    admin_email: str
    tickets: int


class BusyScenario(Scenario):
    async def open_on(self, at: datetime, category: str, channel: Channel, language: str) -> int:
        async with self.db.transaction(tenant_id=self.desk.tenant_id) as session:
            ticket = await tickets.do_open_ticket(
                session,
                self.desk.tenant_id,
                customer_id=self.desk.customer_id,
                channel=channel,
                subject="Help",
                language=language,
                category=category,
                actor="customer",
                now=at,
            )
            await messages.do_add_customer_message(
                session, ticket, body="Hello?", channel=channel, author_name="Lena", language=language, now=at
            )
            return ticket.id


async def seed_month(db: Database) -> tuple[str, int]:
    """About two tickets a day for 30 days, and a few in the 30 days before (for the changes)."""
    desk = await make_desk(db)
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        policy = SupportPolicy(breach_actions={**DEFAULT_BREACH_ACTIONS, Priority.P3: ("notify",)})
        await policies.do_set_support_policy(session, desk.tenant_id, policy)
        admin = await session.get(User, desk.tenant.admin_user_id)
        assert admin is not None
        await tenants.do_set_user_locale(session, user=admin, locale="en")
        admin.time_zone = "Europe/Berlin"
    s = BusyScenario(db, desk)
    rng = random.Random(20261203)
    now = utcnow().replace(microsecond=0)
    first_day = now.astimezone(BERLIN).date() - timedelta(days=29)  # of the default "last 30 days"
    created = 0
    for day in range(40, 0, -1):
        for _ in range(rng.choice((0, 1, 2, 2, 3)) if day <= 30 else rng.choice((0, 1))):
            opened = now - timedelta(days=day, hours=rng.randint(0, 20))
            category, channel, language = rng.choice(KINDS)
            ticket_id = await s.open_on(opened, category, channel, language)
            created += opened.astimezone(BERLIN).date() >= first_day
            if rng.random() < 0.1:
                continue  # never answered
            agent = desk.zhao_id if category == "other" else rng.choice((desk.wang_id, desk.li_id))
            answered = opened + timedelta(minutes=rng.choice((4, 9, 15, 25, 40, 75, 150, 600)))
            await s.reply(ticket_id, agent, answered)
            if rng.random() < 0.25:
                await s.buyer_writes(ticket_id, answered + timedelta(minutes=30))
                answered += timedelta(minutes=50)
                await s.reply(ticket_id, agent, answered)
            resolved = answered + timedelta(hours=rng.randint(1, 30))
            if rng.random() < 0.85 and resolved < now:
                await s.resolve(ticket_id, resolved)
                rated = resolved + timedelta(hours=rng.randint(1, 12))
                if rng.random() < 0.6 and rated < now:
                    await s.rate(ticket_id, rng.choice((5, 5, 4, 4, 3, 2)), rated)
    return desk.tenant.admin_email, created


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with sqlite_server(tmp_path_factory.mktemp("reports-server"), RUN_DISPATCHER="false") as served:
        yield served


@pytest.fixture(scope="module")
async def report_desk(server_process: tuple[str, str]) -> ReportDesk:
    base_url, url = server_process
    db = Database(url)
    try:
        email, created = await seed_month(db)
    finally:
        await db.dispose()
    return ReportDesk(base_url, email, created)


async def test_the_reports_page_in_a_browser(
    report_desk: ReportDesk, browser: Browser, artifacts_dir: Path
) -> None:
    base = report_desk.base_url
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base}/reports")
    assert "/login?next=/reports" in page.url
    await page.get_by_label("Email").fill(report_desk.admin_email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/reports")

    assert await page.locator("h1").inner_text() == "Reports"
    await expect(page.locator('.nav a[aria-current="page"]')).to_have_text("Reports")
    await expect(page.locator('[data-kpi="tickets"] .tile-value')).to_have_text(str(report_desk.tickets))
    assert await page.locator(".report-tile").count() == 8
    daily = page.locator('svg[data-chart="daily"]')
    assert await daily.locator("rect.bar-tickets").count() == 30
    assert await daily.locator("path.line-frt").count() >= 1
    assert await page.locator("svg.group-chart").count() == 4
    for chart in await page.locator("svg.report-chart").all():
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
    await save(page, artifacts_dir, "reports-en.png", publish=True)

    # A chart's numbers behind its disclosure.
    disclosure = page.locator('section:has(svg[data-chart="sla_attainment"]) details')
    await disclosure.locator("summary").click()
    await expect(disclosure.locator("table")).to_be_visible()
    await page.get_by_role("link", name="By agent").click()
    await page.wait_for_url("**/reports?*group_by=agent*")
    await expect(page.locator("[data-group-table] tbody th").first).to_have_text("Li")
    await page.get_by_role("link", name="Last 90 days").click()
    await page.wait_for_url("**/reports?range=90*")
    await save(page, artifacts_dir, "reports-en-agents-90.png")

    await page.get_by_role("button", name="中文").click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "zh"
    assert await page.locator("h1").inner_text() == "报表"
    await page.get_by_role("link", name="最近 30 天").click()
    await page.get_by_role("link", name="按团队").click()
    await page.wait_for_load_state()
    await save(page, artifacts_dir, "reports-zh.png", publish=True)

    await page.get_by_label("开始日期").fill("2020-01-01")
    await page.get_by_label("结束日期").fill("2020-01-31")
    await page.get_by_role("button", name="查看这些日期").click()
    await page.wait_for_url("**/reports?*from=2020-01-01*")
    await expect(page.locator("[data-report-empty] h2")).to_have_text("该时段没有客服数据")
    await save(page, artifacts_dir, "reports-zh-empty.png")

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base}/reports")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save(page, artifacts_dir, "reports-zh-mobile.png")
    assert errors == []
    await context.close()
