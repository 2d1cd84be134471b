"""The e-mail channel: every inbound e-mail kept as received (`inbound_emails`), then turned into a message
on the right ticket; agents' replies sent over SMTP, threaded under the buyer's last e-mail.

Inbound arrives from the built-in SMTP receiver, an IMAP mailbox or the inbound webhook, all through
`do_receive_email`. The tenant is the local part of the address (`<slug>@<mail_domain>`, or its signed
plus address). Auto-replies and bounces are stored and never answered (no mail loops); a malformed e-mail is
stored with its problems for inspection. A Message-ID already stored is not stored twice (every inbound
path delivers at least once).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.errors import NotFound
from aftersail.orders.models import Customer
from aftersail.support import attachments, intake, messages
from aftersail.support.email_rules import (
    EmailAttachment,
    ParsedEmail,
    build_email,
    parse_email,
    ticket_reference,
)
from aftersail.support.models import Channel, InboundEmail, Ticket, TicketMessage, TicketStatus
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant

log = logging.getLogger("aftersail.support.email")
MAX_REFERENCES = 20


def reply_secret(settings: Settings) -> bytes:
    """The key of signed reply addresses, derived from the app secret (one secret to rotate)."""
    return hashlib.sha256(b"aftersail.mail:" + settings.secret_key.get_secret_value().encode()).digest()


def tenant_mailbox(settings: Settings, tenant: Tenant) -> str:
    return f"{tenant.slug}@{settings.mail_domain}"


@dataclass(frozen=True, slots=True)
class Received:
    inbound_id: int
    kind: str
    ticket_id: int | None
    message_id: int | None
    duplicate: bool = False


async def _tenant_for(session: AsyncSession, settings: Settings, recipients: list[str]) -> Tenant | None:
    domain = settings.mail_domain.lower()
    for address in recipients:
        local, _, at_domain = address.strip().strip("<>").lower().rpartition("@")
        if at_domain != domain or not local:
            continue
        try:
            return await tenants.find_tenant_by_slug(session, local.split("+", 1)[0])
        except NotFound:
            continue
    return None


async def do_receive_email(
    session: AsyncSession,
    settings: Settings,
    raw: bytes,
    *,
    source: str,
    recipients: list[str] | None = None,
    tenant: Tenant | None = None,
    files_dir: Path | None = None,
    now: datetime | None = None,
) -> Received:
    """Store the e-mail as received, then (if it is a buyer's message) add it to its ticket. The session
    must be system-scoped until the tenant is known; it is scoped to that tenant afterwards."""
    now = now or utcnow()
    parsed = await asyncio.to_thread(parse_email, raw)
    if tenant is None:
        tenant = await _tenant_for(session, settings, [*(recipients or []), *parsed.to, *parsed.cc])
    row = InboundEmail(
        tenant_id=tenant.id if tenant else None,
        received_at=now,
        source=source,
        raw=raw,
        kind=parsed.kind,
        problems=list(parsed.problems) + ([] if tenant else ["no tenant mailbox among the recipients"]),
        message_id_header=(parsed.message_id or None) and parsed.message_id[:300],
    )
    session.add(row)
    await session.flush()
    if tenant is None or parsed.kind in ("malformed", "auto_reply"):
        return Received(row.id, parsed.kind, None, None)
    if parsed.kind == "bounce":
        await _note_bounce(session, tenant.id, parsed)
        return Received(row.id, parsed.kind, None, None)
    if parsed.message_id and await _already_stored(session, tenant.id, parsed.message_id):
        return Received(row.id, parsed.kind, None, None, duplicate=True)
    ticket = await _ticket_for(session, settings, tenant.id, parsed)
    customer = (
        await session.get(Customer, ticket.customer_id)
        if ticket is not None
        else await intake.do_find_or_create_buyer(
            session,
            tenant.id,
            intake.Buyer(
                email=parsed.from_address, name=parsed.from_name or parsed.from_address.split("@")[0]
            ),
            text=parsed.reply_text or parsed.text,
        )
    )
    assert customer is not None
    body = (parsed.reply_text or parsed.text or parsed.subject or "").strip() or "(no text)"
    message = await intake.do_receive(
        session,
        tenant.id,
        customer=customer,
        channel=Channel.EMAIL,
        body=body[: messages.MAX_BODY_CHARS],
        ticket=ticket,
        subject=parsed.subject,
        author_name=parsed.from_name,
        email_message_id=(parsed.message_id or None) and parsed.message_id[:300],
        now=now,
    )
    thread_ticket = await session.get(Ticket, message.ticket_id)
    assert thread_ticket is not None
    _remember_thread(thread_ticket, parsed)
    await _keep_attachments(session, settings, thread_ticket, message, parsed.attachments, files_dir)
    row.ticket_id = thread_ticket.id
    await session.flush()
    return Received(row.id, parsed.kind, thread_ticket.id, message.id)


async def _already_stored(session: AsyncSession, tenant_id: int, message_id: str) -> bool:
    found = await session.scalar(
        select(TicketMessage.id).where(
            TicketMessage.tenant_id == tenant_id, TicketMessage.email_message_id == message_id[:300]
        )
    )
    return found is not None


async def _ticket_for(
    session: AsyncSession, settings: Settings, tenant_id: int, parsed: ParsedEmail
) -> Ticket | None:
    """The ticket this e-mail continues: proven by a signed reply address, or by one of our Message-IDs or a
    subject token when the sender is that ticket's buyer. A closed ticket is not continued."""
    reference = ticket_reference(parsed, domain=settings.mail_domain, secret=reply_secret(settings))
    if reference is None:
        return None
    ticket = await session.scalar(
        select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.id == reference.ticket_id)
    )
    if ticket is None or ticket.status is TicketStatus.CLOSED:
        return None
    if reference.route != "reply_address":
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None or customer.email.lower() != parsed.from_address.lower():
            return None
    return ticket


def _remember_thread(ticket: Ticket, parsed: ParsedEmail) -> None:
    """The buyer's latest Message-ID and the thread's references: our reply goes under them."""
    thread = dict(ticket.email_thread or {})
    if parsed.message_id:
        thread["last_message_id"] = parsed.message_id
        known = [*thread.get("references", []), *parsed.references, parsed.message_id]
        thread["references"] = list(dict.fromkeys(known))[-MAX_REFERENCES:]
    thread["address"] = parsed.from_address
    thread.setdefault("subject", parsed.subject)
    ticket.email_thread = thread


async def _keep_attachments(
    session: AsyncSession,
    settings: Settings,
    ticket: Ticket,
    message: TicketMessage,
    files: tuple[EmailAttachment, ...] | list[EmailAttachment],
    files_dir: Path | None,
) -> None:
    skipped = []
    for file in files:
        try:
            content_type = attachments.check_upload(
                file.content, max_bytes=settings.attachment_max_bytes, allowed=attachments.EVIDENCE_TYPES
            )
        except Exception as error:  # a file we do not keep is named in the thread, never silently lost
            skipped.append(f"{file.filename or 'attachment'}: {getattr(error, 'message', error)}")
            continue
        await attachments.do_store_attachment(
            session,
            ticket,
            filename=file.filename or "attachment",
            data=file.content,
            content_type=content_type,
            files_dir=settings.data_dir if files_dir is None else files_dir,
            message_id=message.id,
        )
    if skipped:
        message.delivery = {**(message.delivery or {}), "attachments_not_kept": skipped}


async def _note_bounce(session: AsyncSession, tenant_id: int, parsed: ParsedEmail) -> None:
    """A bounce of one of our replies marks that reply undelivered, for the agent to see."""
    if not parsed.bounced_message_id:
        return
    message = await session.scalar(
        select(TicketMessage).where(
            TicketMessage.tenant_id == tenant_id, TicketMessage.email_message_id == parsed.bounced_message_id
        )
    )
    if message is not None:
        message.delivery = {
            **(message.delivery or {}),
            "status": "bounced",
            "failed_recipient": parsed.failed_recipient,
        }


def outbound_email(
    settings: Settings, tenant: Tenant, ticket: Ticket, message: TicketMessage, customer: Customer, text: str
) -> EmailMessage:
    """Our reply as an e-mail: from the tenant's address, threaded under the buyer's last e-mail, with a
    signed Reply-To that brings the answer back to this ticket."""
    thread = ticket.email_thread or {}
    return build_email(
        ticket_id=ticket.id,
        message_id=message.id,
        domain=settings.mail_domain,
        from_address=tenant_mailbox(settings, tenant),
        from_name=f"{message.author_name} · {tenant.name}" if message.author_name else tenant.name,
        to_address=thread.get("address") or customer.email,
        to_name=customer.name,
        subject=thread.get("subject") or ticket.subject,
        text=text,
        sent_at=utcnow(),
        secret=reply_secret(settings),
        in_reply_to=thread.get("last_message_id", ""),
        references=thread.get("references", []),
    )
