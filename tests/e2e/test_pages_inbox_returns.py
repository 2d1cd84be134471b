"""The returns of a case in the agents' inbox (SQLite and PostgreSQL, and a browser): a buyer's two returns
join the order's ticket; the ticket's side panel shows each RMA with its link, status, money, the one held
for review highlighted with its fraud signal, and the label; the audit trail names the return steps in the
agent's language with the RMA, not as raw kinds like `return.requested`. A screenshot (Chinese console) of
the side panel goes to the artifacts directory."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.async_api import Browser, expect

from aftersail.kit.db import Database
from aftersail.kit.i18n import format_money
from aftersail.returns import service as returns
from aftersail.returns.rules import ReturnStatus
from aftersail.tenants.models import Role
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.e2e.test_pages_knowledge import person
from tests.e2e.test_pages_shop import sign_in
from tests.returns_desk import Delivered, make_delivered, request_fit_refund


@dataclass
class Case:
    delivered: Delivered
    ticket_id: int
    first: int  # approved by the policy: label issued
    serial: int  # the buyer's second: held for review, a serial returner
    rma: dict[int, str]
    refund_due: int


async def make_case(database: Database, data_dir: Path) -> Case:
    delivered = await make_delivered(database, repeat_returner_after=1)
    buyer = f"buyer:{delivered.order_id}"  # the actor the buyer page names (the audit trail shows it)
    first = await request_fit_refund(
        database, delivered, "lamp", 1, key="inbox-first", files_dir=data_dir, actor=buyer
    )
    serial = await request_fit_refund(
        database, delivered, "cable", 1, key="inbox-serial", files_dir=data_dir, actor=buyer
    )
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        one = await returns.access_return(session, delivered.tenant_id, first)
        two = await returns.access_return(session, delivered.tenant_id, serial)
        assert one.ticket_id is not None and one.ticket_id == two.ticket_id  # the same case
        assert one.status is ReturnStatus.APPROVED and one.label_sha256
        assert two.status is ReturnStatus.REQUESTED and two.signals.get("serial_returner")
        return Case(
            delivered,
            one.ticket_id,
            first,
            serial,
            {first: one.rma_number, serial: two.rma_number},
            one.refund_due_minor,
        )


def side_return(html: str, return_id: int) -> str:
    found = re.search(
        rf'<div class="side-order side-return[^"]*" data-return="{return_id}">(.*?)</div>', html, re.S
    )
    assert found, f"return {return_id} is not in the side panel"
    return found.group(0)


async def test_the_ticket_shows_its_returns_and_their_steps(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    case = await make_case(database, Path(app.state.services.settings.data_dir))
    agent = await person(database, case.delivered.tenant, Role.AGENT)  # the Chinese console
    await sign_in(client, agent)

    page = await client.get(f"/inbox/{case.ticket_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "data-returns" in html and "退换货" in html
    approved = side_return(html, case.first)
    for text in (
        f'href="/returns/cases/{case.first}"',
        case.rma[case.first],
        "badge-return-approved",
        "已批准，面单已发",  # Approved, label sent
        "由政策批准",  # Approved by the policy
        format_money(case.refund_due, "EUR", "zh"),
        f'href="/returns/cases/{case.first}/label.pdf"',
    ):
        assert text in approved, text
    assert "is-linked" in approved and "needs-review" not in approved
    held = side_return(html, case.serial)
    for text in (
        f'href="/returns/cases/{case.serial}"',
        "已申请",  # Requested
        "data-needs-review",
        "待复核",  # Needs review
        "频繁退货",  # the rule: Frequent returner
        'data-signal="serial_returner"',
        "频繁退货买家",  # the signal, a badge only
    ):
        assert text in held, text
    assert "label.pdf" not in held  # no label before it is approved
    assert "data-parcels" in html and "包裹" in html  # the parcels panel (issue 7)

    audit = html[html.index("data-audit") :]
    assert "return.requested" not in audit and "return.status" not in audit
    for text in (
        "已申请退货",  # Return requested
        "退货政策已决定",  # Return decided by the policy
        "退货状态已变更",  # Return status changed
        "退货已分配仓库，面单已出",  # Return routed, label issued
        f"{case.rma[case.first]} · 尺码不合适 · 退款",  # requested: reason, resolution
        f"{case.rma[case.first]} · 由政策批准 · auto_approve · {format_money(case.refund_due, 'EUR', 'zh')}",
        f"{case.rma[case.first]} · 已申请 → 已批准，面单已发",
        f"{case.rma[case.first]} · FRA · ",
        f"{case.rma[case.serial]} · 转人工复核 · repeat_returner",
        "退货政策",  # the actor `policy`
        "买家",  # the actor `buyer:<order id>`
    ):
        assert text in audit, text
    assert f"buyer:{case.delivered.order_id}" not in audit

    part = await client.get(f"/inbox/{case.ticket_id}", params={"part": "thread"})  # what the scripts swap in
    assert side_return(part.text, case.serial) and "已申请退货" in part.text


async def test_the_steps_read_in_english_too(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    case = await make_case(database, Path(app.state.services.settings.data_dir))
    agent = await person(database, case.delivered.tenant, Role.AGENT, locale="en")
    await sign_in(client, agent)
    html = (await client.get(f"/inbox/{case.ticket_id}")).text
    for text in (
        "Returns",
        "Approved, label sent",
        "Needs review",
        "Serial returner",
        "Open the label (PDF)",
        "Return requested",
        "Return routed, label issued",
        f"{case.rma[case.first]} · Requested → Approved, label sent",
        "Return policy",
        "data-parcels",  # the parcels panel (issue 7)
    ):
        assert text in html, text


# --- in a browser ----------------------------------------------------------------------------------------


@dataclass
class Served:
    base_url: str
    email: str
    case: Case


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    data_dir = tmp_path_factory.mktemp("inbox-returns-server")
    with sqlite_server(data_dir, RUN_DISPATCHER="false") as (base_url, url):
        yield base_url, url, data_dir


@pytest.fixture(scope="module")
async def served(server_process: tuple[str, str, Path]) -> Served:
    base_url, url, data_dir = server_process
    db = Database(url)
    try:
        case = await make_case(db, data_dir)
        email = await person(db, case.delivered.tenant, Role.AGENT)
    finally:
        await db.dispose()
    return Served(base_url, email, case)


@pytest.mark.browser
async def test_an_agent_sees_the_returns_beside_the_ticket(
    served: Served, browser: Browser, artifacts_dir: Path
) -> None:
    base, case = served.base_url, served.case
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors = watch_for_errors(page)
    await sign_in_page(page, base, served.email, f"/inbox/{case.ticket_id}")
    block = page.locator("[data-returns]")
    await expect(block.locator("[data-return]")).to_have_count(2)
    await expect(block.get_by_role("link", name=case.rma[case.first])).to_have_attribute(
        "href", f"/returns/cases/{case.first}"
    )
    await expect(block.locator(f"[data-return='{case.serial}'] [data-needs-review]")).to_contain_text(
        "待复核"
    )
    await save(page, artifacts_dir, "inbox-ticket-zh.png")
    side = page.locator(".ticket-side")
    await block.evaluate("node => node.scrollIntoView()")  # the side panel scrolls on its own
    await side.screenshot(path=str(artifacts_dir / "inbox-ticket-returns-zh.png"))
    await page.locator("[data-audit] summary").click()
    await expect(page.locator(".audit-list")).to_contain_text("已申请退货")
    await expect(page.locator(".audit-list")).to_contain_text(case.rma[case.first])
    await page.locator("[data-audit]").evaluate("node => node.scrollIntoView()")
    await side.screenshot(path=str(artifacts_dir / "inbox-ticket-audit-zh.png"))
    await context.close()
    assert not errors, errors
