"""The assistant's settings page in a real browser against a real uvicorn server on a migrated SQLite file: an
admin of a store whose assistant holds one case opens the page in Chinese, is told what a refused timeout
needs, switches the assistant on with a language model, sees the notice and that the key is stored but never
shown, then reads the page in English. Screenshots (desktop 1440×900, and the English page) go to the
artifacts directory; a 1024 px wide window must not scroll sideways.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.support.models import Ticket
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import PASSWORD
from tests.support_desk import make_desk, open_ticket

pytestmark = pytest.mark.browser
SECRET = "sk-browser-secret-2718"


@dataclass
class Served:
    base_url: str
    email: str
    agent_email: str


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with sqlite_server(
        tmp_path_factory.mktemp("assistant-settings-server"), RUN_DISPATCHER="false"
    ) as served:
        yield served


@pytest.fixture(scope="module")
async def served(server_process: tuple[str, str]) -> Served:
    base_url, url = server_process
    db = Database(url)
    try:
        desk = await make_desk(db)
        ticket_id = await open_ticket(db, desk, category="other", at=utcnow())
        email = f"chen-{uuid.uuid4().hex[:8]}@seller.test"
        agent_email = f"li-{uuid.uuid4().hex[:8]}@seller.test"
        async with db.transaction(tenant_id=desk.tenant_id) as session:
            for address, name, role in ((email, "Chen", Role.ADMIN), (agent_email, "Li", Role.AGENT)):
                await tenants.do_create_user(
                    session,
                    tenant_id=desk.tenant_id,
                    email=address,
                    name=name,
                    password=PASSWORD,
                    role=role,
                    locale="zh",
                )
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.assistant_active = True  # as after the assistant's first answer (ADR 0018)
    finally:
        await db.dispose()
    return Served(base_url, email, agent_email)


async def test_an_admin_switches_the_assistant_on_with_a_model(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    base = served.base_url
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, base, served.email, "/settings/assistant")
    assert await page.locator("html").get_attribute("lang") == "zh"
    await expect(page.locator("h1")).to_have_text("智能助手设置")
    await expect(page.locator('.nav a[aria-current="page"]')).to_have_text("智能助手")
    await expect(page.locator("[data-held]")).to_have_text("1")
    await expect(page.locator("[data-key-stored]")).to_have_text("未保存")

    form = page.locator("form.settings-form")
    await form.get_by_label("智能助手自动答复买家").check()
    await form.get_by_label("高价值阈值").fill("800")
    await form.get_by_label("VIP 标签").fill("Gold")
    await form.get_by_label("模型类型").select_option(label="OpenAI 兼容")
    await form.get_by_label("接口地址（Base URL）").fill("https://llm.example.test/v1")
    await form.get_by_label("模型名称").fill("qwen-plus")
    await form.get_by_label("API 密钥").fill(SECRET)
    await form.get_by_label("超时（秒）").fill("500")
    await page.get_by_role("button", name="保存设置").click()
    await expect(page.locator(".alert-error")).to_contain_text("请重新输入")  # the key is not sent back
    await expect(page.locator("#model_timeout-error")).to_have_text(
        "请输入大于 0、不超过 120 的秒数，例如 20。"
    )
    await expect(form.get_by_label("模型名称")).to_have_value("qwen-plus")
    await expect(form.get_by_label("API 密钥")).to_have_value("")
    await save(page, artifacts_dir, "assistant-settings-refused-zh.png")

    await form.get_by_label("超时（秒）").fill("15")
    await form.get_by_label("API 密钥").fill(SECRET)
    await page.get_by_role("button", name="保存设置").click()
    await page.wait_for_url(f"{base}/settings/assistant")
    await expect(page.locator(".alert-ok")).to_have_text("智能助手设置已保存。")
    await expect(form.get_by_label("高价值阈值")).to_have_value("800.00")
    await expect(form.get_by_label("VIP 标签")).to_have_value("gold")
    await expect(form.get_by_label("智能助手自动答复买家")).to_be_checked()
    await expect(form.get_by_label("API 密钥")).to_have_value("")
    await expect(page.locator("[data-key-stored]")).to_have_text("已保存（已加密）")
    await expect(page.locator("[data-held]")).to_have_text("1")
    assert SECRET not in await page.content()
    await save(page, artifacts_dir, "assistant-settings-zh.png")

    await page.get_by_role("button", name="English").click()
    await page.wait_for_url(f"{base}/settings/assistant")
    await expect(page.locator("h1")).to_have_text("Assistant settings")
    await expect(page.locator("[data-key-stored]")).to_have_text("Stored, sealed")
    await expect(page.get_by_role("heading", name="What the assistant does")).to_be_visible()
    await save(page, artifacts_dir, "assistant-settings-en.png")

    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.reload()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1024
    await save(page, artifacts_dir, "assistant-settings-en-tablet.png")
    # The refused form answered 422 on purpose (Chromium logs every 4xx page load); nothing else went wrong.
    assert [e for e in errors if "status of 422" not in e] == []
    await context.close()


async def test_an_agent_sees_the_settings_read_only(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, served.base_url, served.agent_email, "/settings/assistant")
    await expect(page.locator(".alert[role=note]")).to_have_text("只有管理员可以修改智能助手设置。")
    form = page.locator("form.settings-form")
    for label in ("智能助手自动答复买家", "高价值阈值", "模型类型", "API 密钥"):
        await expect(form.get_by_label(label)).to_be_disabled()  # by the disabled fieldset
    await expect(page.get_by_role("button", name="保存设置")).to_have_count(0)
    await save(page, artifacts_dir, "assistant-settings-agent-zh.png")
    assert errors == []
    await context.close()
