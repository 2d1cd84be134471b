"""The e-mail transport over real sockets on 127.0.0.1: SmtpSender to SmtpReceiver (aiosmtpd), and ImapPoller
against the in-memory IMAP4rev1 server of `tests/imap_server.py`."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from aftersail.support.email_rules import EmailAttachment, build_email, parse_email
from aftersail.support.email_transport import (
    EmailDeferred,
    EmailRejected,
    ImapPoller,
    InboundEnvelope,
    SmtpReceiver,
    SmtpSender,
)
from tests.imap_server import ImapTestServer

SECRET = b"test-reply-secret"
OUTLOOK_ID = "<AM0PR01MB1234567890ABCDEF1234567890ABCDEF1234@AM0PR01MB1234.eurprd01.prod.outlook.com>"


class Inbox:
    """Records what the receiver handed over; `fail_next` makes the callback raise that many times."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, InboundEnvelope]] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.fail_next = 0

    async def on_message(self, raw: bytes, envelope: InboundEnvelope) -> None:
        self.loops.append(asyncio.get_running_loop())
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("database unavailable")
        self.received.append((raw, envelope))


@asynccontextmanager
async def running_receiver(inbox: Inbox, **options: int) -> AsyncIterator[SmtpReceiver]:
    receiver = SmtpReceiver(
        inbox.on_message, recipient_domains={"buyers.test"}, host="127.0.0.1", port=0, **options
    )
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def sender_for(receiver: SmtpReceiver) -> SmtpSender:
    return SmtpSender(
        host="127.0.0.1", port=receiver.port, starttls=False, local_hostname="localhost", timeout=10
    )


def reply(
    *, to_address: str = "li.wei@buyers.test", attachments: list[EmailAttachment] | None = None
) -> EmailMessage:
    return build_email(
        ticket_id=4711,
        message_id=9,
        domain="mail.aftersail.test",
        from_address="support@shop.test",
        from_name="Müller Versand 客服",
        to_address=to_address,
        to_name="李伟",
        subject="AW: Paket nicht angekommen",
        text="Hallo Herr Li,\n\nIhr Paket ist unterwegs. 您的包裹已发出。\n\nViele Grüße",
        sent_at=datetime(2024, 6, 3, 10, 0, tzinfo=UTC),
        secret=SECRET,
        in_reply_to=OUTLOOK_ID,
        references=["<root.1@buyers.test>", "<ticket-4711-msg-3.aa@mail.aftersail.test>"],
        attachments=attachments or [],
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_smtp_round_trip_keeps_threading_headers_and_body() -> None:
    inbox = Inbox()
    message = reply()
    async with running_receiver(inbox) as receiver:
        answer = await sender_for(receiver).send(message)

    assert answer == "2.0.0 Message accepted"
    [(raw, envelope)] = inbox.received
    assert envelope.mail_from == "support@shop.test"
    assert envelope.rcpt_tos == ("li.wei@buyers.test",)
    parsed = parse_email(raw)
    assert parsed.message_id == message["Message-ID"]
    assert parsed.in_reply_to == OUTLOOK_ID
    assert parsed.references == [
        "<root.1@buyers.test>",
        "<ticket-4711-msg-3.aa@mail.aftersail.test>",
        OUTLOOK_ID,
    ]
    assert parsed.text == "Hallo Herr Li,\n\nIhr Paket ist unterwegs. 您的包裹已发出。\n\nViele Grüße"
    assert parsed.from_name == "Müller Versand 客服"
    assert parsed.subject == "AW: Paket nicht angekommen [#T4711]"
    assert parsed.kind == "message"


async def test_callback_runs_on_the_loop_that_started_the_receiver() -> None:
    inbox = Inbox()
    async with running_receiver(inbox) as receiver:
        await sender_for(receiver).send(reply())

    assert inbox.loops == [asyncio.get_running_loop()]


async def test_oversize_message_is_refused_with_552() -> None:
    inbox = Inbox()
    big = EmailAttachment("scan.pdf", "application/pdf", b"%PDF" + bytes(range(256)) * 400)
    async with running_receiver(inbox, max_message_size=64 * 1024) as receiver:
        with pytest.raises(EmailRejected) as refused:
            await sender_for(receiver).send(reply(attachments=[big]))

    assert refused.value.code == 552
    assert not refused.value.temporary
    assert inbox.received == []


async def test_unknown_recipient_domain_is_refused_with_550() -> None:
    inbox = Inbox()
    async with running_receiver(inbox) as receiver:
        with pytest.raises(EmailRejected) as refused:
            await sender_for(receiver).send(reply(to_address="someone@elsewhere.test"))

    assert refused.value.code == 550
    assert inbox.received == []


async def test_failing_callback_answers_451_and_the_resent_message_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox()
    inbox.fail_next = 1
    message = reply()
    async with running_receiver(inbox) as receiver:
        with (
            caplog.at_level(logging.ERROR, logger="aftersail.support.email"),
            pytest.raises(EmailDeferred) as deferred,
        ):
            await sender_for(receiver).send(message)
        await sender_for(receiver).send(message)  # what the sending MTA does after a 4xx

    assert deferred.value.code == 451
    assert deferred.value.temporary
    assert "not stored" in caplog.text
    [(raw, _)] = inbox.received
    assert parse_email(raw).message_id == message["Message-ID"]


async def test_unreachable_relay_is_a_temporary_failure() -> None:
    sender = SmtpSender(
        host="127.0.0.1", port=free_port(), starttls=False, local_hostname="localhost", timeout=5
    )
    with pytest.raises(EmailDeferred):
        await sender.send(reply())


def test_sender_repr_hides_the_password() -> None:
    sender = SmtpSender(host="smtp.test", username="bot", password=SecretStr("hunter2"))
    assert "hunter2" not in repr(sender)
    with pytest.raises(ValueError, match="starttls or ssl"):
        SmtpSender(host="smtp.test", starttls=True, ssl=True)


def test_receiver_needs_a_recipient_domain() -> None:
    with pytest.raises(ValueError, match="recipient domain"):
        SmtpReceiver(Inbox().on_message, recipient_domains=[])


@pytest.fixture
async def imap_server() -> AsyncIterator[ImapTestServer]:
    server = ImapTestServer(user="support@shop.test", password='p"ss word\\')
    await server.start()
    yield server
    await server.stop()


def poller_for(server: ImapTestServer, **changes: object) -> ImapPoller:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "ssl": False,
        "user": server.user,
        "password": SecretStr(server.password),
        "timeout": 5,
    }
    return ImapPoller(**{**options, **changes})  # type: ignore[arg-type]


def buyer_mail(number: int) -> bytes:
    body = f"Frage {number}: Wo ist mein Paket? 包裹在哪里？\r\n".encode()
    headers = (
        f"From: Buyer {number} <buyer{number}@buyers.test>\r\nTo: support@shop.test\r\n"
        f"Subject: Frage {number}\r\nMessage-ID: <q{number}@buyers.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return headers.encode() + body


async def test_poll_delivers_each_unseen_message_once_and_marks_it_seen(imap_server: ImapTestServer) -> None:
    first, second = imap_server.add(buyer_mail(1)), imap_server.add(buyer_mail(2))
    already_read = imap_server.add(buyer_mail(3), "\\Seen")
    delivered: list[bytes] = []

    async def on_message(raw: bytes) -> None:
        delivered.append(raw)

    poller = poller_for(imap_server)
    assert await poller.poll_once(on_message) == 2
    assert await poller.poll_once(on_message) == 0

    assert delivered == [buyer_mail(1), buyer_mail(2)]
    assert [parse_email(raw).message_id for raw in delivered] == ["<q1@buyers.test>", "<q2@buyers.test>"]
    assert "\\Seen" in imap_server.flags(first) and "\\Seen" in imap_server.flags(second)
    assert imap_server.flags(already_read) == {"\\Seen"}
    assert any("BODY.PEEK[]" in command for command in imap_server.commands)


async def test_failing_callback_leaves_the_message_unseen_for_the_next_poll(
    imap_server: ImapTestServer,
) -> None:
    poison, fine = imap_server.add(buyer_mail(1)), imap_server.add(buyer_mail(2))
    delivered: list[bytes] = []
    failures = {"left": 1}

    async def on_message(raw: bytes) -> None:
        if raw == buyer_mail(1) and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database unavailable")
        delivered.append(raw)

    poller = poller_for(imap_server)
    assert await poller.poll_once(on_message) == 1
    assert "\\Seen" not in imap_server.flags(poison)
    assert "\\Seen" in imap_server.flags(fine)

    assert await poller.poll_once(on_message) == 1
    assert delivered == [buyer_mail(2), buyer_mail(1)]
    assert "\\Seen" in imap_server.flags(poison)


async def test_folder_with_a_space_is_quoted(imap_server: ImapTestServer) -> None:
    imap_server.folder = "Support Inbox"
    imap_server.add(buyer_mail(1))

    async def on_message(raw: bytes) -> None:
        pass

    assert await poller_for(imap_server, folder="Support Inbox").poll_once(on_message) == 1


async def test_run_survives_connection_errors_and_bad_logins(
    imap_server: ImapTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[bytes] = []

    async def on_message(raw: bytes) -> None:
        delivered.append(raw)

    nowhere = poller_for(imap_server, port=free_port())
    wrong_password = poller_for(imap_server, password=SecretStr("nope"))
    with caplog.at_level(logging.WARNING, logger="aftersail.support.email"):
        for poller in (nowhere, wrong_password):
            task = asyncio.create_task(poller.run(on_message, interval=0.01))
            await asyncio.sleep(0.2)
            assert not task.done()  # still polling after the failures
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    assert caplog.text.count("poll failed") >= 2
    assert "AUTHENTICATIONFAILED" in caplog.text

    imap_server.add(buyer_mail(1))
    task = asyncio.create_task(poller_for(imap_server).run(on_message, interval=0.01))
    for _ in range(100):
        if delivered:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert delivered == [buyer_mail(1)]
