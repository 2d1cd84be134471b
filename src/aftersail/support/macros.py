"""Macros (话术): reply templates per language in four parts, and their rendering for one ticket with its
variables filled (buyer name, order number, tracking link, ETA, agent name, reply-by time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import Conflict, NotFound
from aftersail.kit.i18n import format_when
from aftersail.orders.models import Customer, Order
from aftersail.support import rules
from aftersail.support.models import Macro, Ticket
from aftersail.tenants.models import User


async def list_macros(session: AsyncSession, tenant_id: int, *, language: str | None = None) -> list[Macro]:
    query = select(Macro).where(Macro.tenant_id == tenant_id)
    if language:
        query = query.where(Macro.language == language)
    return list(await session.scalars(query.order_by(Macro.key, Macro.language)))


async def access_macro(session: AsyncSession, tenant_id: int, macro_id: int) -> Macro:
    macro = await session.scalar(select(Macro).where(Macro.tenant_id == tenant_id, Macro.id == macro_id))
    if macro is None:
        raise NotFound(f"Macro {macro_id} does not exist.", macro_id=macro_id)
    return macro


async def do_save_macro(
    session: AsyncSession, tenant_id: int, fields: dict[str, str], *, macro: Macro | None = None
) -> Macro:
    """Create (or, given `macro`, replace) one language of a macro; placeholders are checked."""
    for part in rules.MACRO_PARTS:
        rules.check_macro_text(part, fields.get(part, ""))
    if macro is None:
        macro = Macro(tenant_id=tenant_id)
        session.add(macro)
    for name in ("key", "language", "title", "category", *rules.MACRO_PARTS):
        setattr(macro, name, fields.get(name, ""))
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"The macro {fields.get('key')!r} already has a {fields.get('language')!r} version.",
            field="language",
        ) from error
    return macro


async def do_delete_macro(session: AsyncSession, macro: Macro) -> None:
    await session.delete(macro)
    await session.flush()


async def pick_macro(session: AsyncSession, tenant_id: int, key: str, language: str) -> Macro:
    """The macro in the buyer's language, else in English, else any language it has."""
    versions = {
        m.language: m
        for m in await session.scalars(select(Macro).where(Macro.tenant_id == tenant_id, Macro.key == key))
    }
    chosen = versions.get(language) or versions.get("en") or next(iter(versions.values()), None)
    if chosen is None:
        raise NotFound(f"No macro {key!r}.", key=key)
    return chosen


async def macro_variables(
    session: AsyncSession,
    ticket: Ticket,
    agent: User | None,
    *,
    order_link: Callable[[Order], str],
    now: datetime | None = None,
) -> dict[str, str]:
    """The values a macro can use for this ticket, shown in the buyer's language and time zone."""
    now = now or utcnow()
    customer = await session.get(Customer, ticket.customer_id)
    order = await session.get(Order, ticket.order_id) if ticket.order_id else None
    zone = customer.time_zone if customer else "UTC"
    reply_by = as_utc(ticket.next_due_at) if ticket.next_due_at else now + timedelta(hours=24)
    return {
        "buyer_name": (customer.name.split()[0] if customer and customer.name else ""),
        "order_number": order.number if order else "",
        "tracking_link": order_link(order) if order else "",
        "eta": "",  # shipments arrive with the shipping domain
        "agent_name": agent.name if agent else "",
        "reply_by": format_when(reply_by, zone, ticket.language, "short"),
    }


def render(macro: Macro, variables: dict[str, str]) -> str:
    return rules.render_macro({part: getattr(macro, part) for part in rules.MACRO_PARTS}, variables)
