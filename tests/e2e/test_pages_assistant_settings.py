"""The assistant's settings page over HTTP (SQLite and PostgreSQL): in Chinese, an admin switches the
assistant on with a language model whose key is sealed at rest and never shown again, keeps and then removes
the key; refused input is explained field by field and saves nothing; an agent reads but cannot change; a
form without the session's CSRF token is refused; switching the assistant off hands its cases to people."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.sealing import PREFIX, Sealer
from aftersail.support.models import Ticket
from aftersail.tenants.models import Role, Tenant
from tests.e2e.test_pages_knowledge import person
from tests.e2e.test_pages_shop import sign_in
from tests.factories import make_tenant
from tests.support_desk import make_desk, open_ticket

PAGE = "/settings/assistant"
API = "/api/v1/settings/assistant"
SECRET = "sk-page-secret-4711-do-not-show"
FORM = {
    "enabled": "on",
    "high_value": "320.50",
    "vip_tag": " Gold ",
    "model_kind": "openai",
    "model_base_url": "https://llm.example.test/v1",
    "model_name": "qwen-plus",
    "model_api_key": "",
    "model_timeout": "12.5",
}


async def stored_settings(database: Database, tenant_id: int) -> dict[str, Any]:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        return dict((tenant.settings or {}).get("assistant") or {})


def held(html: str) -> int:
    found = re.search(r'data-held="(\d+)"', html)
    assert found, "the page shows how many cases the assistant holds"
    return int(found.group(1))


async def test_an_admin_sets_up_the_assistant_and_its_model_in_chinese(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    tenant = await make_tenant(database)
    csrf = await sign_in(client, tenant.admin_email)  # the admin's console speaks Chinese

    page = await client.get(PAGE)
    assert page.status_code == 200 and '<html lang="zh"' in page.text
    for text in (
        "智能助手设置",
        "何时转人工",
        "正在接待的工单",
        'href="/settings/assistant" aria-current="page"',
        'name="high_value" value="500.00"',
        'name="vip_tag" value="vip"',
        'name="csrf_token"',
        "保存设置",
    ):
        assert text in page.text, text
    assert '<fieldset class="settings-fieldset">' in page.text and held(page.text) == 0
    assert 'option value="none" selected' in page.text and "未保存" in page.text

    saved = await client.post(PAGE, data={**FORM, "model_api_key": SECRET, "csrf_token": csrf})
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == PAGE
    shown = await client.get(PAGE)
    assert "智能助手设置已保存。" in shown.text and SECRET not in shown.text
    for text in ('value="320.50"', 'value="gold"', 'value="12.5"', 'value="qwen-plus"', "已保存（已加密）"):
        assert text in shown.text, text
    assert 'name="model_api_key" value=""' in shown.text and "删除已保存的密钥" in shown.text
    assert "智能助手设置已保存。" not in (await client.get(PAGE)).text  # the notice shows once

    api = await client.get(API, headers=tenant.headers(Role.VIEWER))
    assert api.json() == {
        "enabled": True,
        "high_value_minor": 32_050,
        "vip_tag": "gold",
        "model": {
            "kind": "openai",
            "base_url": "https://llm.example.test/v1",
            "model": "qwen-plus",
            "api_key_set": True,
            "timeout_seconds": 12.5,
        },
    }
    sealed = (await stored_settings(database, tenant.tenant_id))["model"]["api_key"]
    assert sealed.startswith(PREFIX) and SECRET not in sealed
    sealer = Sealer(app.state.services.settings.secret_key.get_secret_value())
    assert sealer.open(sealed, tenant_id=tenant.tenant_id) == SECRET

    # An empty key field keeps the stored key, whatever else changes; full-width digits (a Chinese input
    # method's) are read as digits.
    kept = await client.post(
        PAGE,
        data={
            **FORM,
            "high_value": "１２００．５",
            "model_kind": "anthropic",
            "model_name": "claude-x",
            "csrf_token": csrf,
        },
    )
    assert kept.status_code == 303
    stored = await stored_settings(database, tenant.tenant_id)
    assert stored["high_value_minor"] == 120_050
    assert (stored["model"]["kind"], stored["model"]["model"], stored["model"]["api_key"]) == (
        "anthropic",
        "claude-x",
        sealed,
    )

    removed = await client.post(PAGE, data={**FORM, "model_remove_key": "on", "csrf_token": csrf})
    assert removed.status_code == 303
    assert (await stored_settings(database, tenant.tenant_id))["model"]["api_key"] == ""
    after = await client.get(PAGE)
    assert "未保存" in after.text and "删除已保存的密钥" not in after.text
    assert (await client.get(API, headers=tenant.headers())).json()["model"]["api_key_set"] is False

    # No model at all: the model and its key go.
    none = await client.post(PAGE, data={**FORM, "model_kind": "none", "csrf_token": csrf})
    assert none.status_code == 303
    assert (await client.get(API, headers=tenant.headers())).json()["model"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("high_value", "abc", "Enter an amount of 0 or more with at most two decimals, such as 500.00."),
        ("high_value", "-5", "Enter an amount of 0 or more with at most two decimals, such as 500.00."),
        ("high_value", "1.005", "Enter an amount of 0 or more with at most two decimals, such as 500.00."),
        ("model_timeout", "0", "Enter a number of seconds above 0 and at most 120, such as 20."),
        ("model_timeout", "500", "Enter a number of seconds above 0 and at most 120, such as 20."),
        ("model_kind", "gpt", "Choose one of the listed kinds of model."),
        (
            "model_base_url",
            "ftp://llm.example.test",
            "Enter a web address that starts with https:// or http://",
        ),
        ("model_base_url", "llm.example.test", "Enter a web address that starts with https:// or http://"),
        ("model_name", "  ", "name as the vendor writes it, such as gpt-4o-mini."),
        ("vip_tag", "v" * 41, "Keep the tag within 40 characters."),
    ],
)
async def test_refused_input_is_explained_and_nothing_changes(
    client: httpx.AsyncClient, database: Database, field: str, value: str, message: str
) -> None:
    tenant = await make_tenant(database)
    csrf = await sign_in(client, await person(database, tenant, Role.ADMIN, locale="en"))
    before = await stored_settings(database, tenant.tenant_id)

    refused = await client.post(
        PAGE, data={**FORM, field: value, "model_api_key": SECRET, "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert message in refused.text
    assert f'aria-invalid="true" aria-describedby="{field}-error' in refused.text
    assert "Check the fields marked below; nothing was saved yet." in refused.text
    assert SECRET not in refused.text and "type it once more" in refused.text  # the key is never sent back
    assert 'value="https://llm.example.test/v1"' in refused.text or field == "model_base_url"  # kept
    assert await stored_settings(database, tenant.tenant_id) == before


async def test_a_key_typed_with_remove_ticked_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    csrf = await sign_in(client, await person(database, tenant, Role.ADMIN, locale="en"))
    await client.post(PAGE, data={**FORM, "model_api_key": SECRET, "csrf_token": csrf})
    sealed = (await stored_settings(database, tenant.tenant_id))["model"]["api_key"]
    both = await client.post(
        PAGE, data={**FORM, "model_api_key": "sk-new", "model_remove_key": "on", "csrf_token": csrf}
    )
    assert both.status_code == 422 and "not both" in both.text
    assert (await stored_settings(database, tenant.tenant_id))["model"]["api_key"] == sealed


async def test_an_agent_reads_the_settings_but_cannot_change_them(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    csrf = await sign_in(client, await person(database, tenant, Role.AGENT, locale="en"))
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Assistant settings" in page.text
    assert '<fieldset class="settings-fieldset" disabled>' in page.text
    assert "Only admins can change the assistant" in page.text
    assert "Save settings" not in page.text

    before = await stored_settings(database, tenant.tenant_id)
    refused = await client.post(PAGE, data={**FORM, "csrf_token": csrf})
    assert refused.status_code == 403
    assert "Not allowed" in refused.text and "Only admins can change the assistant" in refused.text
    assert await stored_settings(database, tenant.tenant_id) == before


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    await sign_in(client, tenant.admin_email)
    before = await stored_settings(database, tenant.tenant_id)
    assert (await client.post(PAGE, data=FORM)).status_code == 403
    assert (await client.post(PAGE, data={**FORM, "csrf_token": "forged"})).status_code == 403
    assert await stored_settings(database, tenant.tenant_id) == before


async def test_switching_the_assistant_off_hands_its_cases_to_people(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    csrf = await sign_in(client, desk.tenant.admin_email)
    on = await client.post(PAGE, data={**FORM, "model_kind": "none", "csrf_token": csrf})
    assert on.status_code == 303
    ticket_id = await open_ticket(database, desk, category="other", at=utcnow())
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.assistant_active = True  # as after the assistant's first answer (ADR 0018)
    assert held((await client.get(PAGE)).text) == 1

    unticked = {
        name: value for name, value in FORM.items() if name != "enabled"
    }  # a box unticked is not sent
    off = await client.post(PAGE, data={**unticked, "model_kind": "none", "csrf_token": csrf})
    assert off.status_code == 303
    async with database.transaction(tenant_id=desk.tenant_id, readonly=True) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None and not ticket.assistant_active
    page = await client.get(PAGE)
    assert held(page.text) == 0 and "助手已关闭：它接待的工单现在等待客服处理。" in page.text
    assert (await stored_settings(database, desk.tenant_id))["enabled"] is False
