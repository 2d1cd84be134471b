"""The assistant in real browsers, against a real server process with its outbox dispatcher: a buyer asks in
Polish on /chat where the parcel is and reads the answer in Polish without reloading; a Japanese buyer's
complaint is handed over, and Wang, in the Chinese console, sees the hand-off summary, what the assistant
understood of each message, and corrects an intent. Screenshots go to the artifacts directory."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from aftersail.assistant import nlu
from aftersail.assistant.models import IntentCorrection
from aftersail.assistant.nlu import IntentModel
from aftersail.kit.db import Database
from aftersail.orders.models import Order, OrderStatus
from aftersail.tenants.models import Role, Tenant
from tests.conftest import POSTGRES_URL
from tests.e2e.servers import postgres_server, sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import PASSWORD
from tests.fulfilment import Network, make_network, order_body
from tests.support_desk import Desk, make_desk, user_email

pytestmark = pytest.mark.browser
API = "/api/v1"
COMPLAINT = "何度も問い合わせているのに返事がありません。最悪の対応です。"


@dataclass
class Served:
    base_url: str
    db_url: str
    desk: Desk
    wang: str
    network: Network


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def assistant_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    intent_model: IntentModel,
    tmp_data_dir: Path,
) -> Iterator[tuple[str, str]]:
    """On SQLite every turn is answered by its job; on PostgreSQL the assistant's lane answers the turns
    after the first (ADR 0018)."""
    data_dir = tmp_path_factory.mktemp("assistant-server")
    # The model trained once for the test run: the server loads it at start-up instead of training.
    (data_dir / "nlu").mkdir()
    shutil.copyfile(nlu.model_path(tmp_data_dir), nlu.model_path(data_dir))
    settings = {"RUN_DISPATCHER": "true", "OUTBOX_POLL_SECONDS": "0.1", "ASSISTANT_WARM_UP": "true"}
    if request.param == "sqlite":
        with sqlite_server(data_dir, **settings) as served:
            yield served
        return
    request.getfixturevalue("postgres_url")  # without PostgreSQL configured: skipped as every postgres test
    with postgres_server(POSTGRES_URL, data_dir, **settings) as served:
        yield served


@pytest.fixture(scope="module")
async def served(assistant_server: tuple[str, str]) -> AsyncIterator[Served]:
    base_url, url = assistant_server
    db = Database(url)
    try:
        desk = await make_desk(db)
        async with db.transaction(tenant_id=desk.tenant_id) as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.id == desk.tenant_id)
                .values(settings={"assistant": {"enabled": True}})
            )
        wang = await user_email(db, desk, desk.wang_id)
        network = await make_network(db, desk.tenant_id)
        await network.set_stock(db, "FRA", "lamp", 20)
    finally:
        await db.dispose()
    yield Served(base_url, url, desk, wang, network)


async def _order(served: Served, *, email: str, number: str, shipped: bool) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as api:
        body = order_body(served.network, {"lamp": 1}, email=email, number=number)
        placed = await api.post(f"{API}/orders", json=body, headers=served.desk.tenant.headers(Role.ADMIN))
        assert placed.status_code == 201, placed.text
    if shipped:
        db = Database(served.db_url)
        try:
            async with db.transaction(tenant_id=served.desk.tenant_id) as session:
                await session.execute(
                    update(Order).where(Order.number == number).values(status=OrderStatus.SHIPPED)
                )
        finally:
            await db.dispose()


async def _buyer_says(
    browser: Browser, served: Served, *, email: str, number: str, text: str, locale: str, address: str
):  # type: ignore[no-untyped-def]
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale=locale, extra_http_headers={"X-Forwarded-For": address}
    )
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{served.base_url}/chat?t={served.desk.tenant.slug}")
    await page.locator("#start-form input[name=order_number]").fill(number)
    await page.locator("#start-form input[name=email]").fill(email)
    await page.locator("#start-form button[type=submit]").click()
    topic = page.locator("[data-topic]").first
    if await topic.count():
        await topic.click()
    await page.locator("#message-input").fill(text)
    await page.locator("#message-input").press("Enter")
    return context, page, errors


async def test_a_polish_buyer_reads_the_assistants_answer_live(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    email, number = f"jan-{uuid.uuid4().hex[:6]}@example.pl", "A10023"
    await _order(served, email=email, number=number, shipped=True)
    context, page, errors = await _buyer_says(
        browser,
        served,
        email=email,
        number=number,
        text="gdzie jest moja paczka #A10023",
        locale="pl-PL",
        address="10.9.1.1",
    )
    answer = page.locator(".msg.theirs:not(.msg-welcome) .msg-text").last
    await expect(answer).to_contain_text("A10023", timeout=20_000)
    await expect(answer).to_contain_text("magazyn")
    # The next turn (the lane's, on PostgreSQL): the thanks answered in Polish, live.
    await page.locator("#message-input").fill("dziękuję, super!")
    await page.locator("#message-input").press("Enter")
    closing = page.locator(".msg.theirs:not(.msg-welcome) .msg-text").last
    await expect(closing).to_contain_text("Nie ma za co", timeout=20_000)
    await save(page, artifacts_dir, f"assistant-chat-pl-{served_kind(served)}.png")
    assert errors == []
    await context.close()

    # Wang's inbox shows the case is the assistant's (open, no clock for people).
    console, agent, _ = await _wang_in_the_inbox(browser, served)
    ticket_id = await _ticket_of(served, email)
    row = agent.locator(f'[data-ticket-row="{ticket_id}"]')
    await expect(row.locator("[data-assistant-held]")).to_contain_text("智能助手")
    await save(agent, artifacts_dir, f"assistant-held-inbox-zh-{served_kind(served)}.png")
    await console.close()


async def _wang_in_the_inbox(browser: Browser, served: Served):  # type: ignore[no-untyped-def]
    """Wang signed in to the Chinese console, on the inbox: (context, page, the page's errors)."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    agent = await context.new_page()
    errors = watch_for_errors(agent)
    await agent.goto(f"{served.base_url}/login?lang=zh&next=/inbox")
    await agent.locator("input[name=email]").fill(served.wang)
    await agent.locator("input[name=password]").fill(PASSWORD)
    await agent.locator("button[type=submit]").click()
    await agent.wait_for_url(f"{served.base_url}/inbox")
    return context, agent, errors


async def _ticket_of(served: Served, email: str) -> int:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as api:
        found = await api.get(
            f"{API}/tickets",
            params={"view": "all", "q": email},
            headers=served.desk.tenant.headers(Role.AGENT),
        )
    return int(found.json()["items"][0]["id"])


def served_kind(served: Served) -> str:
    return "postgres" if served.db_url.startswith("postgresql") else "sqlite"


async def test_a_complaint_is_handed_over_and_the_console_shows_why(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    email, number = f"hanako-{uuid.uuid4().hex[:6]}@example.jp", "A20077"
    await _order(served, email=email, number=number, shipped=False)
    buyer_context, buyer, _ = await _buyer_says(
        browser, served, email=email, number=number, text=COMPLAINT, locale="ja-JP", address="10.9.1.2"
    )
    answer = buyer.locator(".msg.theirs:not(.msg-welcome) .msg-text").last
    await expect(answer).to_contain_text("お客様の現地時間", timeout=20_000)  # told when, in their own time

    context, agent, errors = await _wang_in_the_inbox(browser, served)
    ticket_id = await _ticket_of(served, email)
    await agent.goto(f"{served.base_url}/inbox/{ticket_id}")
    block = agent.locator("[data-assistant]")
    await expect(block).to_contain_text("已转人工")
    await expect(block.locator(".handoff-summary")).to_contain_text("投诉")  # why: a complaint
    await expect(block.locator(".handoff-summary")).to_contain_text("负面")  # the mood
    chip = agent.locator(".msg-buyer .intent-chip").first
    await expect(chip).to_contain_text("意图：投诉")
    await save(agent, artifacts_dir, "assistant-handoff-console-zh.png")

    await agent.locator(".msg-buyer [data-control=intent]").first.select_option("human_agent")
    await expect(agent.locator(".msg-buyer .intent-correct").first).to_contain_text("已纠正为")
    db = Database(served.db_url)
    try:
        async with db.transaction(tenant_id=served.desk.tenant_id, readonly=True) as session:
            correction = await session.scalar(
                select(IntentCorrection).where(IntentCorrection.ticket_id == ticket_id)
            )
            assert correction is not None
            assert (correction.predicted, correction.corrected) == ("complaint", "human_agent")
            assert correction.corrected_by_id == served.desk.wang_id
    finally:
        await db.dispose()
    assert errors == []
    await context.close()
    await buyer_context.close()
