"""Where buyer messages enter, whatever the channel: find or create the buyer, continue their case or open
a new one (one ticket per case; a closed case is never reopened, a new one starts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.language import detect_language
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, Order
from aftersail.orders.schemas import CustomerCreate
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import Channel, Ticket, TicketMessage, TicketStatus

# A buyer who writes before ordering has no known country yet: the likeliest for their language (an agent
# corrects it; shipping never reads it, orders carry their own address).
LIKELY_COUNTRY = {
    "en": "US", "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "pt": "PT",
    "ja": "JP", "ko": "KR", "ar": "AE", "zh": "CN",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Buyer:
    email: str
    name: str
    language: str | None = None
    country: str | None = None
    time_zone: str | None = None


async def do_find_or_create_buyer(
    session: AsyncSession, tenant_id: int, buyer: Buyer, *, text: str
) -> Customer:
    """The tenant's customer with this e-mail, or a new one whose language is the one they wrote in."""
    found = await orders.find_customer_by_email(session, tenant_id, buyer.email)
    if found is not None:
        return found
    language = buyer.language or detect_language(text).language or "en"
    return await orders.do_create_customer(
        session,
        tenant_id,
        CustomerCreate(
            name=buyer.name or buyer.email.split("@")[0],
            email=buyer.email,
            country=buyer.country or LIKELY_COUNTRY.get(language, "US"),
            preferred_language=language,
            time_zone=buyer.time_zone or "UTC",
        ),
    )


async def find_order(
    session: AsyncSession, tenant_id: int, customer: Customer, number: str | None
) -> Order | None:
    if not number:
        return None
    order = await session.scalar(select(Order).where(Order.tenant_id == tenant_id, Order.number == number))
    if order is None or order.customer_id != customer.id:
        raise InvalidInput("No order of this buyer has that number.", field="order_number")
    return order


async def do_receive(
    session: AsyncSession,
    tenant_id: int,
    *,
    customer: Customer,
    channel: Channel,
    body: str,
    ticket: Ticket | None = None,
    subject: str = "",
    category: str = "other",
    order: Order | None = None,
    language: str | None = None,
    author_name: str = "",
    email_message_id: str | None = None,
    external_id: str | None = None,
    attachment_ids: Sequence[int] = (),
    now: datetime | None = None,
    arrival: str | None = None,
) -> TicketMessage:
    """Add the buyer's message to `ticket` (their case on this channel) or to a new ticket when there is
    none or it is closed. Language: given, else detected, else the buyer's known one. `arrival`: see
    `messages.do_add_customer_message`."""
    now = now or utcnow()
    text = messages.check_body(body, has_attachments=bool(attachment_ids))
    if language is None:
        language = (
            detect_language(text, hint=customer.preferred_language).language or customer.preferred_language
        )
    if ticket is None or ticket.status is TicketStatus.CLOSED:
        ticket = await tickets.do_open_ticket(
            session,
            tenant_id,
            customer_id=customer.id,
            channel=channel,
            subject=subject or _subject_from(text),
            language=language,
            category=category,
            order_id=order.id if order else None,
            live_session_id=order.live_session_id if order else None,
            actor=f"customer:{customer.id}",
            now=now,
        )
    return await messages.do_add_customer_message(
        session,
        ticket,
        body=text,
        channel=channel,
        author_name=author_name or customer.name,
        language=language,
        email_message_id=email_message_id,
        external_id=external_id,
        attachment_ids=attachment_ids,
        now=now,
        arrival=arrival,
    )


async def find_by_external_id(
    session: AsyncSession, tenant_id: int, external_id: str
) -> TicketMessage | None:
    """An API client retrying a message it already sent gets the stored one back (no duplicate)."""
    return await session.scalar(
        select(TicketMessage).where(
            TicketMessage.tenant_id == tenant_id, TicketMessage.external_id == external_id
        )
    )


def _subject_from(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:80] + ("…" if len(first_line) > 80 else "")
