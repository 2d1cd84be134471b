"""Inbound e-mail through the mail service (SQLite and PostgreSQL): an IMAP mailbox of one tenant is
polled into tickets — each e-mail once, marked seen only once stored — and the built-in SMTP receiver
refuses mail for other domains."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.support.email_transport import EmailRejected, ImapPoller, SmtpSender
from aftersail.support.mail_service import InboundMail
from aftersail.support.models import Ticket, TicketMessage
from tests.e2e.conftest import make_settings
from tests.e2e.servers import free_port
from tests.imap_server import ImapTestServer
from tests.support_desk import make_desk


def email(subject: str, text: str, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Sofía Ruiz <sofia@example.es>"
    message["To"] = "tienda@correo.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(text)
    return bytes(message)


async def test_an_imap_mailbox_becomes_tickets_once(database: Database, db_url: str, tmp_path: Path) -> None:
    desk = await make_desk(database)
    server = ImapTestServer(user="tienda", password="secreto")
    await server.start()
    try:
        first = server.add(email("Pedido roto", "El pedido llegó roto.", "<a1@example.es>"))
        second = server.add(email("Talla", "¿Tienen la talla L?", "<a2@example.es>"))
        settings = make_settings(
            db_url,
            tmp_path,
            imap_host="127.0.0.1",
            imap_port=server.port,
            imap_ssl=False,
            imap_user="tienda",
            imap_password=SecretStr("secreto"),
            imap_tenant=desk.tenant.slug,
        )
        mail = InboundMail(database, settings)
        poller = ImapPoller("127.0.0.1", server.port, ssl=False, user="tienda", password=SecretStr("secreto"))
        assert await poller.poll_once(mail.on_imap) == 2
        assert "\\Seen" in server.flags(first) and "\\Seen" in server.flags(second)
        server.add(email("Pedido roto", "El pedido llegó roto.", "<a1@example.es>"))  # the same e-mail again
        assert await poller.poll_once(mail.on_imap) == 1
    finally:
        await server.stop()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        subjects = sorted(
            await session.scalars(
                select(Ticket.subject).where(Ticket.tenant_id == desk.tenant_id, Ticket.channel == "email")
            )
        )
        stored = list(
            await session.scalars(
                select(TicketMessage.body)
                .where(TicketMessage.tenant_id == desk.tenant_id)
                .order_by(TicketMessage.id)
            )
        )
    assert subjects == ["Pedido roto", "Talla"]
    assert stored == ["El pedido llegó roto.", "¿Tienen la talla L?"]


async def test_the_smtp_receiver_takes_only_its_domain(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(db_url, tmp_path, inbound_smtp_port=port, mail_domain="correo.example")
    mail = InboundMail(database, settings)
    await mail.start()
    second = InboundMail(database, settings)  # another server process: the port is taken, it stands by
    await second.start()
    try:
        assert second.receiver is None
        stranger = EmailMessage()
        stranger["From"] = "x@example.es"
        stranger["To"] = "someone@elsewhere.example"
        stranger["Subject"] = "hola"
        stranger.set_content("hola")
        with pytest.raises(EmailRejected) as refused:
            await SmtpSender("127.0.0.1", port, starttls=False).send(stranger)
        assert refused.value.code == 550
    finally:
        await second.stop()
        await mail.stop()
