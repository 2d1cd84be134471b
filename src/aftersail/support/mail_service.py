"""Inbound e-mail running beside the server: the built-in SMTP receiver and the IMAP poller, each handing
what arrives to `email_channel.do_receive_email` in a transaction of its own (when that fails, SMTP answers
451 and IMAP leaves the e-mail unseen, so nothing is lost)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.support.email_channel import do_receive_email
from aftersail.support.email_transport import ImapPoller, InboundEnvelope, SmtpReceiver
from aftersail.tenants import service as tenants

log = logging.getLogger("aftersail.support.mail")


def _port_free(host: str, port: int) -> bool:
    """Whether this process could bind the port (asking first avoids the receiver's slow start-up timeout
    when another server process already holds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class InboundMail:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.receiver: SmtpReceiver | None = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.inbound_smtp_port or self.settings.imap_host)

    async def start(self) -> None:
        settings = self.settings
        if settings.inbound_smtp_port and not _port_free(
            settings.inbound_smtp_host, settings.inbound_smtp_port
        ):
            log.info("SMTP port %s is taken; another server process receives", settings.inbound_smtp_port)
        elif settings.inbound_smtp_port:
            self.receiver = SmtpReceiver(
                self.on_smtp,
                recipient_domains=[settings.mail_domain],
                host=settings.inbound_smtp_host,
                port=settings.inbound_smtp_port,
            )
            try:
                await self.receiver.start()
            except (OSError, RuntimeError) as error:
                # Several server processes: the first to bind the port receives for all of them.
                log.info(
                    "SMTP port %s not bound here (%s); another process receives",
                    settings.inbound_smtp_port,
                    error,
                )
                self.receiver = None
            else:
                log.info(
                    "SMTP receiver on %s:%s for @%s",
                    settings.inbound_smtp_host,
                    self.receiver.port,
                    settings.mail_domain,
                )
        if settings.imap_host:
            poller = ImapPoller(
                settings.imap_host,
                settings.imap_port,
                ssl=settings.imap_ssl,
                user=settings.imap_user,
                password=settings.imap_password,
                folder=settings.imap_folder,
            )
            self._poller = asyncio.create_task(poller.run(self.on_imap, interval=settings.imap_poll_seconds))

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.receiver is not None:
            await self.receiver.stop()

    async def on_smtp(self, raw: bytes, envelope: InboundEnvelope) -> None:
        async with self.db.transaction(system=True) as session:
            await do_receive_email(
                session, self.settings, raw, source="smtp", recipients=list(envelope.rcpt_tos)
            )

    async def on_imap(self, raw: bytes) -> None:
        async with self.db.transaction(system=True) as session:
            tenant = (
                await tenants.find_tenant_by_slug(session, self.settings.imap_tenant)
                if self.settings.imap_tenant
                else None
            )
            await do_receive_email(session, self.settings, raw, source="imap", tenant=tenant)
