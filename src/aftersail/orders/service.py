"""Use cases of the orders domain: customers, orders and their lines, live sessions.

Every query filters by `tenant_id`; another tenant's row is `NotFound`, never a hint that it exists.
Services flush; the caller's transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku
from aftersail.kit.errors import NotFound
from aftersail.kit.pagination import Page, paginate
from aftersail.orders.models import Customer, LiveSession, Order, OrderChannel, OrderLine, OrderStatus


@dataclass
class OrderFilters:
    status: OrderStatus | None = None
    channel: OrderChannel | None = None
    country: str | None = None
    live_session_id: int | None = None
    customer_id: int | None = None
    q: str | None = None  # order number prefix, or customer email / name
    placed_from: datetime | None = None
    placed_to: datetime | None = None


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_orders(
    session: AsyncSession,
    tenant_id: int,
    filters: OrderFilters,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Order]:
    """Newest first; every filter narrows within the tenant."""
    query = select(Order).where(Order.tenant_id == tenant_id)
    if filters.status is not None:
        query = query.where(Order.status == filters.status)
    if filters.channel is not None:
        query = query.where(Order.channel == filters.channel)
    if filters.country:
        query = query.where(Order.country == filters.country.upper())
    if filters.live_session_id is not None:
        query = query.where(Order.live_session_id == filters.live_session_id)
    if filters.customer_id is not None:
        query = query.where(Order.customer_id == filters.customer_id)
    if filters.placed_from is not None:
        query = query.where(Order.placed_at >= filters.placed_from)
    if filters.placed_to is not None:
        query = query.where(Order.placed_at < filters.placed_to)
    if filters.q and filters.q.strip():
        needle = filters.q.strip()
        matching_customers = select(Customer.id).where(
            Customer.tenant_id == tenant_id,
            or_(
                func.lower(Customer.email) == needle.lower(),
                func.lower(Customer.name).like("%" + _like_prefix(needle.lower()), escape="\\"),
            ),
        )
        query = query.where(
            or_(
                Order.number.like(_like_prefix(needle), escape="\\"),
                Order.customer_id.in_(matching_customers),
            )
        )
    return await paginate(session, query, Order.id, cursor=cursor, limit=limit)


async def access_order(session: AsyncSession, tenant_id: int, order_id: int) -> Order:
    order = await session.scalar(select(Order).where(Order.tenant_id == tenant_id, Order.id == order_id))
    if order is None:
        raise NotFound("order not found", field="order_id")
    return order


async def order_lines(session: AsyncSession, tenant_id: int, order_id: int) -> list[tuple[OrderLine, Sku]]:
    rows = await session.execute(
        select(OrderLine, Sku)
        .join(Sku, (Sku.id == OrderLine.sku_id) & (Sku.tenant_id == tenant_id))
        .where(OrderLine.tenant_id == tenant_id, OrderLine.order_id == order_id)
        .order_by(OrderLine.id)
    )
    return [(line, sku) for line, sku in rows.all()]


async def access_customer(session: AsyncSession, tenant_id: int, customer_id: int) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
    )
    if customer is None:
        raise NotFound("customer not found", field="customer_id")
    return customer


async def list_live_sessions(session: AsyncSession, tenant_id: int) -> list[LiveSession]:
    rows = await session.scalars(
        select(LiveSession)
        .where(LiveSession.tenant_id == tenant_id)
        .order_by(LiveSession.starts_at.desc(), LiveSession.id.desc())
    )
    return list(rows.all())


async def find_order_for_buyer(session: AsyncSession, tenant_id: int, number: str, email: str) -> Order:
    """The buyer's own order by number and email (case-insensitive); any mismatch is the same NotFound."""
    order = await session.scalar(
        select(Order)
        .join(Customer, (Customer.id == Order.customer_id) & (Customer.tenant_id == tenant_id))
        .where(
            Order.tenant_id == tenant_id,
            Order.number == number.strip(),
            func.lower(Customer.email) == email.strip().lower(),
        )
    )
    if order is None:
        raise NotFound("no order with that number and email")
    return order
