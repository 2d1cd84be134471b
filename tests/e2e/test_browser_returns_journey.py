"""A return end to end in a real browser, against a real uvicorn server with its outbox dispatcher, a local
Stripe-speaking payment server and a real SMTP server on the buyer's side.

Lucía, in Spain, finds her order on /returns in Spanish, checks and sends a return of one lamp that does not
fit; the policy approves it on its own and she downloads the label (a PDF with the RMA). At the Frankfurt
warehouse an operator types the RMA into the scan field and presses Enter (as a scanner does), marks it as
received, grades the lamp A for restock and submits the grading twice at once (a double submit): the lamp
goes back on the shelf once, one refund row is stored, the payment provider pays once, and Lucía is told
every step by e-mail in Spanish. Screenshots of her pages and the warehouse screen go to the artifacts
directory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from aftersail.kit.db import Database
from aftersail.orders.models import Customer, Order
from aftersail.returns.models import Refund, ReturnRequest
from aftersail.returns.rules import ReturnStatus
from aftersail.support.email_rules import ParsedEmail, parse_email
from aftersail.support.email_transport import InboundEnvelope, SmtpReceiver
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.console_session import sign_in_page
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.factories import PASSWORD
from tests.payment_server import PaymentServer
from tests.returns_desk import Delivered, make_delivered

pytestmark = pytest.mark.browser
API_KEY = "sk_test_payments"
WAIT_SECONDS = 20.0


class BuyersMailbox:
    """Lucía's side: a real SMTP server keeping what the shop sends to example.es (in its own thread)."""

    def __init__(self) -> None:
        self.received: list[ParsedEmail] = []

    async def on_message(self, raw: bytes, envelope: InboundEnvelope) -> None:
        self.received.append(parse_email(raw))


@dataclass
class Journey:
    base_url: str
    db_url: str
    payments: PaymentServer
    mailbox: BuyersMailbox


@pytest.fixture
async def journey(tmp_path: Path) -> AsyncIterator[Journey]:
    """The server (a subprocess with its dispatcher), the payment provider and the buyer's mail server. The
    mail server runs on this test's event loop: it hands each e-mail to `on_message` there."""
    mailbox = BuyersMailbox()
    relay = SmtpReceiver(mailbox.on_message, recipient_domains=["example.es"], port=0)
    await relay.start()
    payments = PaymentServer(api_key=API_KEY)
    payments.start()
    try:
        with sqlite_server(
            tmp_path,
            RUN_DISPATCHER="true",
            OUTBOX_POLL_SECONDS="0.1",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(relay.port),
            SMTP_STARTTLS="false",
            PAYMENTS_PROVIDER="stripe",
            PAYMENTS_BASE_URL=payments.url,
            PAYMENTS_API_KEY=API_KEY,
        ) as (base_url, db_url):
            yield Journey(base_url, db_url, payments, mailbox)
    finally:
        payments.stop()
        await relay.stop()


async def _seed(journey: Journey, charge: str) -> tuple[Delivered, str]:
    db = Database(journey.db_url)
    try:
        email = f"lucia-{uuid.uuid4().hex[:6]}@example.es"
        delivered = await make_delivered(db, country="ES", email=email, days_ago=3)
        operator = f"ops-{uuid.uuid4().hex[:6]}@warehouse.test"
        async with db.transaction(tenant_id=delivered.tenant_id) as session:
            order = await session.get(Order, delivered.order_id)
            assert order is not None
            order.external_ref = charge  # the order's payment at the provider
            await session.execute(
                update(Customer)
                .where(Customer.tenant_id == delivered.tenant_id, Customer.id == order.customer_id)
                .values(name="Lucía García", preferred_language="es", time_zone="Europe/Madrid")
            )
            await tenants.do_create_user(
                session,
                tenant_id=delivered.tenant_id,
                email=operator,
                name="Jonas",
                password=PASSWORD,
                role=Role.WAREHOUSE,
                locale="en",
                time_zone="Europe/Berlin",
            )
        return delivered, operator
    finally:
        await db.dispose()


async def _read(journey: Journey, delivered: Delivered) -> tuple[ReturnRequest, list[Refund]]:
    db = Database(journey.db_url)
    try:
        async with db.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
            ret = await session.scalar(
                select(ReturnRequest).where(ReturnRequest.order_id == delivered.order_id)
            )
            assert ret is not None
            refunds = list((await session.scalars(select(Refund).where(Refund.return_id == ret.id))).all())
            return ret, refunds
    finally:
        await db.dispose()


async def _stock(
    journey: Journey, delivered: Delivered
) -> dict[tuple[str, str, int | None], tuple[int, int]]:
    db = Database(journey.db_url)
    try:
        return await delivered.network.stock_levels(db)
    finally:
        await db.dispose()


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_spanish_return_from_request_to_refund(
    browser: Browser, journey: Journey, artifacts_dir: Path
) -> None:
    charge = journey.payments.add_charge(5997, "eur")
    delivered, operator = await _seed(journey, charge)
    base = journey.base_url
    lamp_before = await _stock(journey, delivered)

    # --- Lucía, on her phone, in Spanish -------------------------------------------------------------------
    buyer = await browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES")
    page = await buyer.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base}/returns?shop={delivered.tenant.slug}&lang=es")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await page.locator("input[name=number]").fill(delivered.number)
    await page.locator("input[name=email]").fill(delivered.email)
    await page.locator("[data-test=find]").click()
    await page.wait_for_url("**/returns/o/**")
    lamp = page.locator("select[data-test=qty]").first
    await lamp.select_option("1")
    await page.locator("select[name=reason]").select_option("does_not_fit")
    await page.locator("select[name=sub_reason]").select_option("too_small")
    await page.locator("input[name=resolution][value=refund]").check()
    await page.locator("[data-test=check]").click()
    result = page.locator("[data-test=check-result]")
    await expect(result).to_have_attribute("data-outcome", "auto_approved")
    await save(page, artifacts_dir, "returns-es-check.png")
    await page.locator("[data-test=submit]").click()
    await page.wait_for_url("**/r/**")
    rma = (await page.locator("[data-test=rma]").inner_text()).strip()
    assert rma.startswith("RMA")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    label_href = await page.locator("[data-test=label]").get_attribute("href")
    assert label_href
    label = await page.request.get(f"{base}{label_href}" if label_href.startswith("/") else label_href)
    assert label.ok and (await label.body()).startswith(b"%PDF")
    assert label.headers["content-type"].startswith("application/pdf")
    await save(page, artifacts_dir, "returns-es-status.png")
    assert not errors, errors

    # --- Jonas, at the warehouse, on a tablet with a scanner -----------------------------------------------
    warehouse = await browser.new_context(viewport={"width": 1024, "height": 768})
    desk = await warehouse.new_page()
    desk_errors = watch_for_errors(desk)
    await sign_in_page(desk, base, operator, "/returns/receive")
    await desk.locator("[data-test=scan]").type(rma.lower())
    await desk.keyboard.press("Enter")  # a scanner ends the code with Enter
    await desk.wait_for_url("**/returns/receive/*")
    await desk.locator("[data-test=received]").click()
    await expect(desk.locator("[data-test=status]")).to_have_attribute("data-status", "received")
    await desk.locator("[data-test=grade-A]").first.check()
    await save(desk, artifacts_dir, "returns-warehouse-grading.png")
    # A double submit: the same grading form sent twice at once (a double tap on a slow connection).
    statuses = await desk.evaluate(
        """async () => {
            const form = document.querySelector('form[data-grading-form]');
            const body = () => ({method: 'POST', body: new FormData(form), redirect: 'manual'});
            const send = () => fetch(form.action, body());
            const answers = await Promise.all([send(), send()]);
            return answers.map(answer => answer.status);
        }"""
    )
    assert all(status < 500 for status in statuses), statuses
    await desk.reload()
    await expect(desk.locator("[data-test=result]")).to_be_visible()
    await save(desk, artifacts_dir, "returns-warehouse-graded.png")
    assert not desk_errors, desk_errors

    # --- the money goes back once, and Lucía hears of every step in Spanish -------------------------------
    async def refunded() -> bool:
        ret, refunds = await _read(journey, delivered)
        return ret.status is ReturnStatus.REFUNDED and all(r.status.value == "succeeded" for r in refunds)

    await _eventually(refunded, "the refund to be sent")
    ret, refunds = await _read(journey, delivered)
    assert len(refunds) == 1 and refunds[0].amount_minor == 1999 and ret.refunded_minor == 1999
    assert len(journey.payments.refunds_of(charge)) == 1
    lamp_after = await _stock(journey, delivered)
    gained = {
        key: lamp_after[key][0] - lamp_before.get(key, (0, 0))[0]
        for key in lamp_after
        if key[0] == "FRA" and lamp_after[key][0] != lamp_before.get(key, (0, 0))[0]
    }
    assert list(gained.values()) == [1], gained  # one lamp back on the shelf, not two

    async def told() -> bool:
        bodies = [mail.text for mail in journey.mailbox.received if rma in mail.text]
        return any("reembolsado" in body for body in bodies)

    await _eventually(told, "the refund e-mail")
    spanish = [mail.text for mail in journey.mailbox.received if rma in mail.text]
    assert any("aprobada" in body for body in spanish), spanish  # the label e-mail
    assert any("recibido" in body for body in spanish), spanish  # the parcel arrived
    assert any("reembolsado" in body for body in spanish), spanish

    await page.reload()
    await save(page, artifacts_dir, "returns-es-refunded.png")
    async with httpx.AsyncClient() as client:
        status_page = await client.get(page.url)
    assert status_page.status_code == 200 and rma in status_page.text
    await buyer.close()
    await warehouse.close()
