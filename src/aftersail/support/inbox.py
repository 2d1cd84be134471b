"""Reads of the agents' inbox: the filtered ticket list and one ticket with its thread, translations,
attachments, clocks and audit trail."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, String, and_, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.kit.pagination import Page, check_limit, paginate
from aftersail.orders.models import Customer
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import (
    Attachment,
    Channel,
    ClockState,
    Priority,
    SlaClock,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)
from aftersail.support.rules import LIVE

AT_RISK_WITHIN = timedelta(hours=1)
VIEWS = ("all", "mine", "unassigned", "at_risk", "live")
ORDERS = ("newest", "activity", "due")


@dataclass(frozen=True, slots=True)
class TicketFilters:
    view: str = "live"
    status: TicketStatus | None = None
    priority: Priority | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    language: str | None = None
    channel: Channel | None = None
    tag: str | None = None
    customer_id: int | None = None
    q: str | None = None


async def list_tickets(
    session: AsyncSession,
    tenant_id: int,
    filters: TicketFilters,
    *,
    user_id: int | None,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
    order: str = "newest",
) -> Page[Ticket]:
    """Views: mine, unassigned, at_risk (a clock due within the hour or breached), live (not resolved or
    closed), all; the other filters narrow within the view. `order`: newest first, last activity first
    (`activity`), or the SLA due soonest first (`due`; tickets without a running clock last) — each paged
    through the whole view, so an old case the buyer just wrote on comes first."""
    if filters.view not in VIEWS:
        raise InvalidInput(f"view: one of {', '.join(VIEWS)}", field="view")
    if order not in ORDERS:
        raise InvalidInput(f"order: one of {', '.join(ORDERS)}", field="order")
    now = now or utcnow()
    query = select(Ticket).where(Ticket.tenant_id == tenant_id)
    if filters.view == "mine":
        query = query.where(Ticket.assignee_id == user_id, Ticket.status.in_(LIVE))
    elif filters.view == "unassigned":
        query = query.where(Ticket.assignee_id.is_(None), Ticket.status.in_(LIVE))
    elif filters.view == "live":
        query = query.where(Ticket.status.in_(LIVE))
    elif filters.view == "at_risk":
        breached = select(SlaClock.ticket_id).where(
            SlaClock.tenant_id == tenant_id,
            SlaClock.state == ClockState.BREACHED,
            SlaClock.stopped_at.is_(None),
        )
        query = query.where(
            Ticket.status.in_(LIVE),
            or_(Ticket.next_due_at <= now + AT_RISK_WITHIN, Ticket.id.in_(breached)),
        )
    if filters.status is not None:
        query = query.where(Ticket.status == filters.status)
    if filters.priority is not None:
        query = query.where(Ticket.priority == filters.priority)
    if filters.team_id is not None:
        query = query.where(Ticket.team_id == filters.team_id)
    if filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.language:
        query = query.where(Ticket.language == filters.language)
    if filters.channel is not None:
        query = query.where(Ticket.channel == filters.channel)
    if filters.customer_id is not None:
        query = query.where(Ticket.customer_id == filters.customer_id)
    if filters.tag:
        # Tags are a JSON list of plain lower-case words; its text form holds each as "word".
        query = query.where(
            cast(Ticket.tags, String).like(f'%"{_escape(filters.tag.lower())}"%', escape="\\")
        )
    if filters.q and filters.q.strip():
        needle = filters.q.strip().lower()
        customers = select(Customer.id).where(
            Customer.tenant_id == tenant_id,
            or_(func.lower(Customer.email) == needle, func.lower(Customer.name).like(f"%{_escape(needle)}%")),
        )
        by_id = [Ticket.id == int(needle.lstrip("#t"))] if needle.lstrip("#t").isdigit() else []
        query = query.where(
            or_(
                func.lower(Ticket.subject).like(f"%{_escape(needle)}%", escape="\\"),
                Ticket.customer_id.in_(customers),
                *by_id,
            )
        )
    if order == "newest":
        return await paginate(session, query, Ticket.id, cursor=cursor, limit=limit)
    return await _keyset_page(session, query, order, cursor=cursor, limit=limit)


async def _keyset_page(
    session: AsyncSession, query: Select[Ticket], order: str, *, cursor: str | None, limit: int
) -> Page[Ticket]:
    """Pages by (last activity, id) descending or (due time, id) ascending with the undue last."""
    check_limit(limit)
    if cursor:
        at, last_id = _decode(cursor, order)
        if order == "activity":
            query = query.where(
                or_(Ticket.updated_at < at, and_(Ticket.updated_at == at, Ticket.id < last_id))
            )
        elif at is None:
            query = query.where(Ticket.next_due_at.is_(None), Ticket.id > last_id)
        else:
            query = query.where(
                or_(
                    Ticket.next_due_at.is_(None),
                    Ticket.next_due_at > at,
                    and_(Ticket.next_due_at == at, Ticket.id > last_id),
                )
            )
    if order == "activity":
        query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    else:
        query = query.order_by(Ticket.next_due_at.is_(None), Ticket.next_due_at, Ticket.id)
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not more or not rows:
        return Page(items=rows, next_cursor=None)
    last = rows[-1]
    at = last.updated_at if order == "activity" else last.next_due_at
    return Page(items=rows, next_cursor=_encode(order, at, last.id))


def _encode(order: str, at: datetime | None, ticket_id: int) -> str:
    raw = f"{order}|{as_utc(at).isoformat() if at else ''}|{ticket_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, order: str) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, at, ticket_id = raw.split("|")
        if kind != order:
            raise ValueError(kind)
        return datetime.fromisoformat(at) if at else None, int(ticket_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidInput("cursor: not a cursor of this list and order", field="cursor") from error


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class TicketView:
    ticket: Ticket
    customer: Customer
    messages: list[TicketMessage]
    translations: dict[int, dict[str, object]]
    attachments: dict[int, list[Attachment]]
    clocks: list[SlaClock]
    events: list[TicketEvent]


async def load_ticket_view(
    session: AsyncSession, tenant_id: int, ticket_id: int, *, include_internal: bool = True
) -> TicketView:
    ticket = await tickets.access_ticket(session, tenant_id, ticket_id)
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    thread = await messages.ticket_messages(session, ticket, include_internal=include_internal)
    translations = await messages.message_translations(session, tenant_id, [m.id for m in thread])
    files: dict[int, list[Attachment]] = {}
    for attachment in await session.scalars(
        select(Attachment)
        .where(Attachment.tenant_id == tenant_id, Attachment.ticket_id == ticket.id)
        .order_by(Attachment.id)
    ):
        if attachment.message_id is not None:
            files.setdefault(attachment.message_id, []).append(attachment)
    return TicketView(
        ticket=ticket,
        customer=customer,
        messages=thread,
        translations=dict(translations.items()),  # type: ignore[arg-type]
        attachments=files,
        clocks=await tickets.ticket_clocks(session, ticket),
        events=await tickets.ticket_events(session, ticket),
    )
