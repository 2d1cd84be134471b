"""An e-mail thread round-trips through real SMTP servers on 127.0.0.1 into one ticket (SQLite and
PostgreSQL): the buyer writes to the shop's address (AfterSail's own SMTP receiver), the agent's reply goes
out through an SMTP relay threaded under the buyer's e-mail, the buyer's answer comes back to the same
ticket; auto-replies, bounces and malformed e-mail are stored and never answered."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aftersail.app import create_app
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade_async
from aftersail.support.email_rules import ParsedEmail, parse_email
from aftersail.support.email_transport import InboundEnvelope, SmtpReceiver, SmtpSender
from aftersail.support.models import InboundEmail
from aftersail.tenants.models import Role
from tests.conftest import POSTGRES_URL, _create_postgres_database, _drop_postgres_database
from tests.e2e.conftest import make_settings
from tests.e2e.servers import free_port
from tests.support_desk import Desk, make_desk

MAIL_DOMAIN = "mail.shop.test"
WAIT_SECONDS = 15.0


class BuyersMailServer:
    """The buyer's side: a real SMTP server that keeps what the shop sends to example.de."""

    def __init__(self) -> None:
        self.received: list[ParsedEmail] = []
        self.arrived = asyncio.Event()

    async def on_message(self, raw: bytes, envelope: InboundEnvelope) -> None:
        self.received.append(parse_email(raw))
        self.arrived.set()

    async def next(self) -> ParsedEmail:
        await asyncio.wait_for(self.arrived.wait(), WAIT_SECONDS)
        self.arrived.clear()
        return self.received[-1]


@pytest.fixture
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> AsyncIterator[str]:
    """A database of its own: this test runs the outbox dispatcher, which must not pick up other tests'
    events."""
    if db_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}"
        await upgrade_async(url)
        yield url
        return
    name = f"aftersail_mail_{uuid.uuid4().hex[:8]}"
    url = await _create_postgres_database(POSTGRES_URL, name)
    await upgrade_async(url)
    yield url
    await _drop_postgres_database(POSTGRES_URL, name)


def buyer_email(to: str, subject: str, text: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Lena Vogel <lena@example.de>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.de")
    message["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


async def test_an_email_thread_round_trips_into_one_ticket(fresh_url: str, tmp_path: Path) -> None:
    buyer_server = BuyersMailServer()
    relay = SmtpReceiver(buyer_server.on_message, recipient_domains=["example.de"], port=0)
    await relay.start()
    inbound_port = free_port()
    settings = make_settings(
        fresh_url,
        tmp_path,
        run_dispatcher=True,
        outbox_poll_seconds=0.1,
        mail_domain=MAIL_DOMAIN,
        inbound_smtp_port=inbound_port,
        smtp_host="127.0.0.1",
        smtp_port=relay.port,
        smtp_starttls=False,
    )
    app = create_app(settings, configure_logs=False)
    try:
        async with app.router.lifespan_context(app):
            db: Database = app.state.services.db
            desk = await make_desk(db)
            await _round_trip(app, db, desk, buyer_server, inbound_port)
    finally:
        await relay.stop()


async def _round_trip(
    app: object, db: Database, desk: Desk, buyers: BuyersMailServer, inbound_port: int
) -> None:
    shop_address = f"{desk.tenant.slug}@{MAIL_DOMAIN}"
    to_shop = SmtpSender("127.0.0.1", inbound_port, starttls=False)
    first = buyer_email(shop_address, "Lampe kaputt angekommen", "Guten Tag, meine Lampe kam zerbrochen an.")
    await to_shop.send(first)

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    headers = desk.tenant.headers(Role.AGENT)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        listed = (await client.get("/api/v1/tickets", params={"channel": "email"}, headers=headers)).json()
        [ticket] = listed["items"]
        assert ticket["subject"] == "Lampe kaputt angekommen" and ticket["language"] == "de"

        reply = await client.post(
            f"/api/v1/tickets/{ticket['id']}/replies",
            json={
                "body": "很抱歉，我们今天补发。",
                "language": "zh",
                "sent_body": "Es tut uns leid, wir senden heute Ersatz.",
            },
            headers=headers,
        )
        assert reply.status_code == 201, reply.text
        sent = await buyers.next()
        assert sent.in_reply_to == first["Message-ID"]
        assert first["Message-ID"] in sent.references
        assert sent.to == ["lena@example.de"]
        assert "Es tut uns leid, wir senden heute Ersatz." in sent.text
        assert "很抱歉" not in sent.text  # the buyer gets their language, not the agent's
        assert sent.subject.startswith("Re: Lampe kaputt angekommen")
        reply_to = sent.reply_to
        assert reply_to.startswith(f"{desk.tenant.slug}+t{ticket['id']}.")

        answer = buyer_email(
            reply_to,
            f"Re: {sent.subject}",
            "Danke, das ist nett!\n\nAm Montag schrieb der Shop:\n"
            "> Es tut uns leid, wir senden heute Ersatz.",
            In_Reply_To=sent.message_id,
            References=f"{first['Message-ID']} {sent.message_id}",
        )
        await to_shop.send(answer)
        await to_shop.send(answer)  # delivered twice (a retrying relay): stored once
        detail = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers)).json()
        bodies = [m["body"] for m in detail["messages"]]
        assert bodies == [
            "Guten Tag, meine Lampe kam zerbrochen an.",
            "很抱歉，我们今天补发。",
            "Danke, das ist nett!",
        ]
        assert detail["status"] == "open"  # the buyer's answer reopened it from pending

        out_of_office = buyer_email(
            reply_to, "Abwesenheitsnotiz", "Ich bin bis Montag nicht im Büro.", Auto_Submitted="auto-replied"
        )
        await to_shop.send(out_of_office)
        garbage = b"\x00\xff not an e-mail at all \r\n\r\n\x00"
        webhook = await client.post(
            "/api/v1/inbound-email",
            content=garbage,
            headers={**headers, "Content-Type": "message/rfc822"},
        )
        assert webhook.status_code == 202 and webhook.json()["kind"] == "malformed"
        detail = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers)).json()
        assert len(detail["messages"]) == 3  # the auto-reply is not a message
        await asyncio.sleep(0.5)
        assert len(buyers.received) == 1  # and nothing answered it

    async with db.transaction(system=True) as session:
        kinds = list(
            await session.scalars(
                select(InboundEmail.kind)
                .where(InboundEmail.tenant_id == desk.tenant_id)
                .order_by(InboundEmail.id)
            )
        )
        kept = await session.scalar(select(InboundEmail).where(InboundEmail.kind == "malformed"))
    assert kinds == ["message", "message", "message", "auto_reply", "malformed"]
    assert kept is not None and kept.raw == garbage  # kept byte for byte for inspection
