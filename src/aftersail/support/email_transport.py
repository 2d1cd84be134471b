"""E-mail I/O of the support channel: send over SMTP, receive over SMTP, poll an IMAP mailbox.

Nothing here reads an e-mail: inbound bytes go to a callback (which parses them with `email_rules`), and a
message is only acknowledged (SMTP 250, IMAP \\Seen) after that callback returned, so a crash loses nothing.
Delivery is at least once: the callback must be idempotent on Message-ID."""

from __future__ import annotations

import asyncio
import imaplib
import logging
import ssl
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

log = logging.getLogger("aftersail.support.email")

DEFAULT_MAX_MESSAGE_SIZE = 25 * 1024 * 1024


class EmailDeliveryError(Exception):
    """Sending failed. `temporary` says whether the same message may succeed later (4xx, network)."""

    temporary = False

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class EmailDeferred(EmailDeliveryError):
    """A 4xx answer, a timeout or a dropped connection: retry later."""

    temporary = True


class EmailRejected(EmailDeliveryError):
    """A 5xx answer or a configuration the server refuses: retrying the same message will not help."""


class MailboxError(Exception):
    """The IMAP server answered NO or BAD to a command the poller needs."""


@dataclass(frozen=True)
class SmtpSender:
    """Sends outbound e-mail through a relay.

    aiosmtplib rather than smtplib in a thread: it is native asyncio (timeouts and cancellation work like
    everywhere else in the app, no thread per send) and handles STARTTLS, implicit TLS and AUTH itself."""

    host: str
    port: int = 587
    starttls: bool = True  # upgrade a plain connection (587); exclusive with `ssl`
    ssl: bool = False  # TLS from the first byte (465)
    username: str = ""
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 30.0
    local_hostname: str | None = None  # sent in EHLO; None asks the OS for this host's name
    validate_certs: bool = True

    def __post_init__(self) -> None:
        if self.starttls and self.ssl:
            raise ValueError("Expected starttls or ssl, got both: ssl is TLS from the first byte (port 465)")

    async def send(
        self, message: EmailMessage, *, sender: str | None = None, recipients: Sequence[str] | None = None
    ) -> str:
        """Send one message; returns the text of the server's final answer ("2.0.0 Ok: queued as 1234").

        `sender` is the envelope sender (where bounces go), by default the From address."""
        where = f"SMTP {self.host}:{self.port}"
        try:
            refused, answer = await aiosmtplib.send(
                message,
                sender=sender,
                recipients=recipients,
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password.get_secret_value() if self.password else None,
                use_tls=self.ssl,
                start_tls=self.starttls,
                validate_certs=self.validate_certs,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise _by_code(f"{where} refused every recipient: {exc.recipients}", min(codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(f"{where} answered {exc.code} {exc.message}", exc.code) from exc
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected, OSError) as exc:
            raise EmailDeferred(f"{where} unreachable: {exc}") from exc
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS required but not offered
            raise EmailRejected(f"{where}: {exc}") from exc
        if refused:  # some recipients accepted, some not: the caller must know which did not get it
            details = {address: f"{r.code} {r.message}" for address, r in refused.items()}
            raise _by_code(f"{where} refused recipients {details}", min(r.code for r in refused.values()))
        return answer


def _by_code(message: str, code: int) -> EmailDeliveryError:
    return EmailDeferred(message, code=code) if 400 <= code < 500 else EmailRejected(message, code=code)


@dataclass(frozen=True)
class InboundEnvelope:
    """The SMTP envelope of a received message: who the sending server says it is from and for."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str = ""


OnSmtpMessage = Callable[[bytes, InboundEnvelope], Coroutine[Any, Any, None]]
OnImapMessage = Callable[[bytes], Awaitable[None]]


class _InboundHandler:
    """aiosmtpd handler hooks. They run on the Controller's own thread and loop; the callback is handed to
    the loop that started the receiver, where the app's database engine and connections live."""

    def __init__(
        self,
        on_message: OnSmtpMessage,
        loop: asyncio.AbstractEventLoop,
        domains: frozenset[str],
        max_size: int,
        callback_timeout: float,
    ) -> None:
        self.on_message = on_message
        self.loop = loop
        self.domains = domains
        self.max_size = max_size
        self.callback_timeout = callback_timeout

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain not in self.domains:
            return "550 5.1.1 Recipient domain not served here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.max_size:  # aiosmtpd enforces the limit already; this keeps it true by itself
            return "552 5.3.4 Message too big"
        inbound = InboundEnvelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=str(session.peer[0]) if session.peer else "",
        )
        future = asyncio.run_coroutine_threadsafe(self.on_message(raw, inbound), self.loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.callback_timeout)
        except Exception:
            # 451 makes the sending server keep the message and retry, so nothing is lost; a timeout can
            # mean the callback finished late, which is why it must be idempotent on Message-ID.
            log.exception("Inbound e-mail from %s to %s not stored", inbound.mail_from, inbound.rcpt_tos)
            return "451 4.3.0 Temporary failure storing the message, try again later"
        return "250 2.0.0 Message accepted"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Bound to port 0, the OS chose the port: read it back before aiosmtpd's start-up probe connects.
        if self.port == 0 and isinstance(self.server, asyncio.Server) and self.server.sockets:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver:
    """An inbound SMTP server (aiosmtpd's threaded Controller) for the support mailboxes.

    Accepts mail only for `recipient_domains` (550 otherwise) and up to `max_message_size` bytes (552),
    and answers 250 only after `on_message` returned; if it raises or times out the answer is 451."""

    def __init__(
        self,
        on_message: OnSmtpMessage,
        *,
        recipient_domains: Collection[str],
        host: str = "127.0.0.1",
        port: int = 25,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        server_hostname: str = "aftersail",
        callback_timeout: float = 120.0,
    ) -> None:
        if not recipient_domains:
            raise ValueError("Expected at least one recipient domain: the receiver would refuse all mail")
        self.on_message = on_message
        self.recipient_domains = frozenset(d.lower() for d in recipient_domains)
        self.host = host
        self._port = port
        self.max_message_size = max_message_size
        self.server_hostname = server_hostname
        self.callback_timeout = callback_timeout
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        """The port listened on: the OS's choice once started with port 0."""
        return self._controller.port if self._controller else self._port

    async def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("SmtpReceiver already started")
        handler = _InboundHandler(
            self.on_message,
            asyncio.get_running_loop(),
            self.recipient_domains,
            self.max_message_size,
            self.callback_timeout,
        )
        controller = _Controller(
            handler,
            hostname=self.host,
            port=self._port,
            # a fixed name: by default aiosmtpd asks DNS for this host's FQDN, which can stall start-up
            server_hostname=self.server_hostname,
            data_size_limit=self.max_message_size,
        )
        await asyncio.to_thread(controller.start)  # blocks until the listener answers
        self._controller = controller
        log.info("SMTP receiver listening on %s:%s", self.host, controller.port)

    async def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            await asyncio.to_thread(controller.stop)


@dataclass(frozen=True)
class ImapPoller:
    """Fetches new mail from an IMAP mailbox.

    Stdlib imaplib in a worker thread rather than aioimaplib: one short session per poll needs no
    long-lived async connection, and imaplib is mature and has no dependencies. Messages are fetched with
    BODY.PEEK[] (which leaves \\Seen alone) and flagged \\Seen only after the callback returned."""

    host: str
    port: int = 993
    ssl: bool = True
    user: str = ""
    password: SecretStr | None = field(default=None, repr=False)
    folder: str = "INBOX"
    timeout: float = 30.0

    async def poll_once(self, on_message: OnImapMessage) -> int:
        """Hand every unseen message to `on_message`; returns how many were handled and marked seen.

        A message whose callback raised stays unseen and comes back on the next poll."""
        conn = await asyncio.to_thread(self._open)
        try:
            handled = 0
            for uid in await asyncio.to_thread(self._unseen_uids, conn):
                raw = await asyncio.to_thread(self._fetch, conn, uid)
                if raw is None:
                    continue  # expunged by another client between SEARCH and FETCH
                try:
                    await on_message(raw)
                except Exception:
                    log.exception("IMAP %s: message UID %s not stored; left unseen", self.folder, uid)
                    continue
                await asyncio.to_thread(self._mark_seen, conn, uid)
                handled += 1
            return handled
        finally:
            await asyncio.to_thread(self._close, conn)

    async def run(self, on_message: OnImapMessage, *, interval: float = 60.0) -> None:
        """Poll forever, every `interval` seconds; a failed poll is logged and retried on the next tick."""
        while True:
            try:
                handled = await self.poll_once(on_message)
                if handled:
                    log.info("IMAP %s@%s/%s: %d new message(s)", self.user, self.host, self.folder, handled)
            except (OSError, imaplib.IMAP4.error, MailboxError) as exc:
                log.warning(
                    "IMAP %s:%s poll failed, retrying in %gs: %s", self.host, self.port, interval, exc
                )
            await asyncio.sleep(interval)

    def _open(self) -> imaplib.IMAP4:
        conn: imaplib.IMAP4
        if self.ssl:
            context = ssl.create_default_context()
            conn = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=self.timeout)
        else:
            conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        password = self.password.get_secret_value() if self.password else ""
        try:
            if not (self.user + password).isascii():
                raise MailboxError("IMAP LOGIN carries only ASCII user names and passwords (imaplib)")
            conn.login(self.user, password)
            _check(conn.select(_quote(self.folder)), f"SELECT {self.folder}")
        except BaseException:
            self._close(conn)
            raise
        return conn

    @staticmethod
    def _unseen_uids(conn: imaplib.IMAP4) -> list[str]:
        data = _check(conn.uid("SEARCH", "UNSEEN"), "UID SEARCH UNSEEN")
        found = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted((uid.decode() for uid in found), key=int)

    @staticmethod
    def _fetch(conn: imaplib.IMAP4, uid: str) -> bytes | None:
        data = _check(conn.uid("FETCH", uid, "(BODY.PEEK[])"), f"UID FETCH {uid}")
        # imaplib gives a literal as a (prefix, bytes) pair; flags or other items come as plain bytes.
        return next((item[1] for item in data if isinstance(item, tuple)), None)

    @staticmethod
    def _mark_seen(conn: imaplib.IMAP4, uid: str) -> None:
        _check(conn.uid("STORE", uid, "+FLAGS", "(\\Seen)"), f"UID STORE {uid}")

    @staticmethod
    def _close(conn: imaplib.IMAP4) -> None:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error) as exc:  # the session may already be gone; nothing to undo
            log.debug("IMAP logout failed: %s", exc)


def _check(response: tuple[str, list[Any]], command: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise MailboxError(f"IMAP {command} failed: {status} {data!r}")
    return data


def _quote(mailbox: str) -> str:
    """imaplib sends arguments as given, so a folder like "Support Inbox" needs IMAP quoting here."""
    if mailbox and all(c.isalnum() or c in "._-/" for c in mailbox):
        return mailbox
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
