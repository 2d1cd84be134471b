"""The agents' returns console over HTTP (SQLite and PostgreSQL): the list and the case show the policy's
decision, the return-or-keep figures and the fraud signals; an agent approves a request sent for review and
the label is served from the console; a partial refund sent twice with the same form pays once; the policy
page saves, previews a sample under the policy as typed (the EU 14-day minimum) and explains bad input."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from aftersail.kit.db import Database
from aftersail.kit.i18n import format_money
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.returns.policy import return_policy
from aftersail.tenants.models import Role
from tests.e2e.test_pages_knowledge import person
from tests.e2e.test_pages_shop import hidden_value, sign_in
from tests.returns_desk import Delivered, make_delivered, request_fit_refund


def files_dir(app: FastAPI) -> Path:
    return Path(app.state.services.settings.data_dir)


async def desk(database: Database, app: FastAPI) -> tuple[Delivered, int, int, int]:
    """An auto-approved return, a second from the same buyer held for review (a serial returner from the
    first return on: the policy says so), and a high-value one (15 lamps to Germany) held for review."""
    delivered = await make_delivered(database, repeat_returner_after=1)
    data_dir = files_dir(app)
    first = await request_fit_refund(database, delivered, "lamp", 1, key="k-first", files_dir=data_dir)
    serial = await request_fit_refund(database, delivered, "cable", 1, key="k-serial", files_dir=data_dir)
    dear = await make_delivered(
        database, lines={"lamp": 20}, country="DE", tenant=delivered.tenant, network=delivered.network
    )
    high = await request_fit_refund(database, dear, "lamp", 15, key="k-high", files_dir=data_dir)
    return delivered, first, serial, high


async def test_the_list_and_the_case_show_the_figures_and_the_signals(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    delivered, first, serial, high = await desk(database, app)
    await sign_in(client, delivered.tenant.admin_email)  # the admin's console speaks Chinese

    listed = await client.get("/returns/cases")
    assert listed.status_code == 200, listed.text
    rows = [int(found) for found in re.findall(r'data-return-row="(\d+)"', listed.text)]
    assert rows == [high, serial, first]  # newest first
    for text in ("退货", "转人工复核", "频繁退货", format_money(1999, "EUR", "zh")):
        assert text in listed.text, text
    assert 'data-signal="serial_returner"' in listed.text
    assert f'href="/orders/{delivered.order_id}"' in listed.text

    review = await client.get("/returns/cases", params={"outcome": "needs_review"})
    assert [int(x) for x in re.findall(r'data-return-row="(\d+)"', review.text)] == [high, serial]
    by_rma = await client.get("/returns/cases", params={"q": f"RMA{first:07d}"})
    assert [int(x) for x in re.findall(r'data-return-row="(\d+)"', by_rma.text)] == [first]
    by_order = await client.get("/returns/cases", params={"q": delivered.number, "market": "es"})
    assert {int(x) for x in re.findall(r'data-return-row="(\d+)"', by_order.text)} == {first, serial}
    bad = await client.get("/returns/cases", params={"market": "Spain", "status": "lost"})
    assert bad.status_code == 422 and "国家代码" in bad.text and "请从列表中选择状态" in bad.text

    case = await client.get(f"/returns/cases/{first}")
    assert case.status_code == 200, case.text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, first)
        [(line, _)] = await returns.return_lines(session, ret)
    for amount in (line.cost_back_minor, line.worth_back_minor, ret.reverse_freight_minor, ret.loss_minor):
        assert format_money(amount, "EUR", "zh") in case.text, amount
    for text in (
        "由政策批准",
        "auto_approve",
        "退货还是留下",
        ret.tracking_number,
        f'href="/returns/cases/{first}/label.pdf"',
        f'href="/orders/{delivered.order_id}"',
        f'href="/inbox/{ret.ticket_id}"',
        "时间线",
    ):
        assert text in case.text, text
    assert "data-cost-back" in case.text and "data-worth-back" in case.text

    flagged = await client.get(f"/returns/cases/{serial}")
    assert 'data-signal="serial_returner"' in flagged.text and "repeat_returner" in flagged.text
    assert "只用于提示" in flagged.text  # shown, never acting
    assert (await client.get("/returns/cases/999999999")).status_code == 404


async def test_an_agent_approves_a_review_and_prints_the_label(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    delivered, _first, _serial, high = await desk(database, app)
    csrf = await sign_in(client, await person(database, delivered.tenant, Role.AGENT, "en"))
    case = await client.get(f"/returns/cases/{high}")
    assert "High value" in case.text and 'value="approve"' in case.text
    approved = await client.post(
        f"/returns/cases/{high}/review", data={"decision": "approve", "note": "ok", "csrf_token": csrf}
    )
    assert approved.status_code == 303, approved.text
    shown = await client.get(f"/returns/cases/{high}")
    assert "The return was approved." in shown.text and "Approved, label sent" in shown.text
    again = await client.post(
        f"/returns/cases/{high}/review", data={"decision": "approve", "note": "ok", "csrf_token": csrf}
    )
    assert again.status_code == 409 and "already decided" in again.text  # a second click changes nothing
    label = await client.get(f"/returns/cases/{high}/label.pdf")
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")
    no_token = await client.post(f"/returns/cases/{high}/cancel", data={})
    assert no_token.status_code == 403

    viewer = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with viewer:
        viewer_csrf = await sign_in(viewer, await person(database, delivered.tenant, Role.VIEWER, "en"))
        page = await viewer.get(f"/returns/cases/{_serial}")
        assert page.status_code == 200 and 'value="approve"' not in page.text
        refused = await viewer.post(
            f"/returns/cases/{_serial}/review", data={"decision": "approve", "csrf_token": viewer_csrf}
        )
        assert refused.status_code == 403


async def test_a_partial_refund_sent_twice_pays_once(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    delivered, first, _serial, _high = await desk(database, app)
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, first)
        await receiving.do_receive(session, ret, actor="user:warehouse")
    csrf = await sign_in(client, await person(database, delivered.tenant, Role.AGENT, "en"))
    case = await client.get(f"/returns/cases/{first}")
    assert 'id="refund-form"' in case.text
    form = {"csrf_token": csrf, "submission": hidden_value(case.text, "submission"), "kind": "refund"}
    too_much = await client.post(f"/returns/cases/{first}/refund", data={**form, "amount": "500"})
    assert too_much.status_code == 422 and "more than can still be refunded" in too_much.text
    for _ in range(2):  # a double click: the same form twice
        sent = await client.post(f"/returns/cases/{first}/refund", data={**form, "amount": "5.00"})
        assert sent.status_code == 303, sent.text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, first)
        [refund] = await refunds.return_refunds(session, ret)
        assert refund.amount_minor == 500 and refund.actor.startswith("user:")
    shown = await client.get(f"/returns/cases/{first}")
    assert "The refund was recorded" in shown.text and shown.text.count("data-refund=") == 1
    bad = await client.post(
        f"/returns/cases/{first}/refund",
        data={**form, "submission": hidden_value(shown.text, "submission"), "amount": "1.234"},
    )
    assert bad.status_code == 422 and "decimals, such as 12.50" in bad.text


async def test_the_policy_page_saves_and_previews(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    delivered = await make_delivered(database)
    csrf = await sign_in(client, delivered.tenant.admin_email)
    page = await client.get("/settings/returns")
    assert (
        page.status_code == 200 and "退货政策" in page.text and 'name="window_days" value="30"' in page.text
    )
    assert 'href="/settings/returns"' in (await client.get("/settings/assistant")).text

    form = {
        "csrf_token": csrf,
        "window_days": "7",
        "cycle_days": "10",
        "market_days": "US 45",
        "category_days": "apparel 60",
        "non_returnable": "hygiene, custom_made",
        "evidence_damaged": "photo",
        "auto_approve_up_to": "150.00",
        "repeat_returner_after": "3",
        "trusted_buyer_orders": "3",
        "restocking_fee_percent": "0",
        "handling": "4.00",
        "duties_lost_percent": "0",
        "keep_partial_percent": "30",
        "offer_returnless": "on",
        "warehouse_categories": "",
        "sample_market": "DE",
        "sample_days": "10",
        "sample_reason": "does_not_fit",
        "sample_resolution": "refund",
        "sample_category": "lamps",
        "sample_price": "29.99",
        "sample_quantity": "1",
        "sample_returns_180": "0",
    }
    preview = await client.post("/settings/returns", data={**form, "action": "preview"})
    assert preview.status_code == 200, preview.text
    assert 'data-window="14"' in preview.text and 'data-rule="auto_approve"' in preview.text  # EU minimum
    late = await client.post("/settings/returns", data={**form, "action": "preview", "sample_days": "20"})
    assert 'data-rule="no_eligible_line"' in late.text and "由政策拒绝" in late.text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        assert (
            await return_policy(session, delivered.tenant_id)
        ).window_days == 30  # a preview saves nothing

    saved = await client.post("/settings/returns", data={**form, "action": "save"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/returns"
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        policy = await return_policy(session, delivered.tenant_id)
    assert (
        policy.window_days == 7
        and policy.market_days == {"US": 45}
        and policy.auto_approve_up_to_minor == 15000
    )
    assert (
        policy.category_days == {"apparel": 60}
        and policy.cycle_days == 10
        and not policy.insured_reverse_freight
    )
    shown = await client.get("/settings/returns")
    assert "退货政策已保存。" in shown.text and 'name="window_days" value="7"' in shown.text

    bad = await client.post(
        "/settings/returns", data={**form, "window_days": "0", "market_days": "Germany", "handling": "x"}
    )
    assert bad.status_code == 422
    for text in ("请输入 1 到 730 之间的天数。", 'aria-invalid="true"', "未保存"):
        assert text in bad.text, text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        assert (await return_policy(session, delivered.tenant_id)).window_days == 7

    agent = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with agent:
        agent_csrf = await sign_in(agent, await person(database, delivered.tenant, Role.AGENT, "en"))
        read = await agent.get("/settings/returns")
        assert read.status_code == 200 and "Only admins can change the return policy." in read.text
        refused = await agent.post("/settings/returns", data={**form, "csrf_token": agent_csrf})
        assert refused.status_code == 403
