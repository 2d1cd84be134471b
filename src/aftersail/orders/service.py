"""Use cases of the orders domain: customers, orders and their lines, live sessions (new orders are
placed by `orders.intake`).

Every query filters by `tenant_id`; another tenant's row is `NotFound`, never a hint that it exists.
Services flush; the caller's transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Batch, Sku, Warehouse
from aftersail.kit.errors import Conflict, InvalidInput, NotFound
from aftersail.kit.pagination import Page
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Customer,
    LiveSession,
    Order,
    OrderChannel,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from aftersail.orders.schemas import CustomerCreate, LiveSessionCreate, OrderCreate


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
    return await catalog.page_of(session, query, Order.id, cursor=cursor, limit=limit)


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


async def count_orders(
    session: AsyncSession, tenant_id: int, customer_id: int, *, status: OrderStatus | None = None
) -> int:
    query = select(func.count(Order.id)).where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
    if status is not None:
        query = query.where(Order.status == status)
    return int(await session.scalar(query) or 0)


async def shipped_batches(session: AsyncSession, tenant_id: int, order_id: int) -> dict[int, int | None]:
    """The batch each order line was reserved (and shipped) from: returns are counted per batch. A line split
    across batches gives its first."""
    rows = await session.execute(
        select(AllocationLine.order_line_id, AllocationLine.batch_id)
        .join(
            Allocation, (Allocation.id == AllocationLine.allocation_id) & (Allocation.tenant_id == tenant_id)
        )
        .where(AllocationLine.tenant_id == tenant_id, Allocation.order_id == order_id)
        .order_by(AllocationLine.id)
    )
    found: dict[int, int | None] = {}
    for line_id, batch_id in rows.all():
        found.setdefault(line_id, batch_id)
    return found


AllocationRow = tuple[Allocation, Warehouse, list[tuple[AllocationLine, str, str | None]]]


async def order_allocations(session: AsyncSession, tenant_id: int, order_id: int) -> list[AllocationRow]:
    """The order's live allocations (not cancelled), oldest first: (allocation, warehouse, [(line, SKU code,
    batch code)]). Cancelled ones, left behind by changes and cancellation, live on in the audit trail."""
    allocations = (
        await session.execute(
            select(Allocation, Warehouse)
            .join(Warehouse, (Warehouse.id == Allocation.warehouse_id) & (Warehouse.tenant_id == tenant_id))
            .where(
                Allocation.tenant_id == tenant_id,
                Allocation.order_id == order_id,
                Allocation.status != AllocationStatus.CANCELLED,
            )
            .order_by(Allocation.id)
        )
    ).all()
    if not allocations:
        return []
    lines: dict[int, list[tuple[AllocationLine, str, str | None]]] = {a.id: [] for a, _ in allocations}
    rows = await session.execute(
        select(AllocationLine, Sku.code, Batch.code)
        .join(Sku, (Sku.id == AllocationLine.sku_id) & (Sku.tenant_id == tenant_id))
        .outerjoin(Batch, (Batch.id == AllocationLine.batch_id) & (Batch.tenant_id == tenant_id))
        .where(AllocationLine.tenant_id == tenant_id, AllocationLine.allocation_id.in_(list(lines)))
        .order_by(AllocationLine.id)
    )
    for line, sku_code, batch_code in rows.all():
        lines[line.allocation_id].append((line, sku_code, batch_code))
    return [(allocation, warehouse, lines[allocation.id]) for allocation, warehouse in allocations]


async def list_order_events(session: AsyncSession, tenant_id: int, order_id: int) -> list[OrderEvent]:
    """The order's audit trail, oldest first (call `access_order` first: an unknown order is NotFound)."""
    rows = await session.scalars(
        select(OrderEvent)
        .where(OrderEvent.tenant_id == tenant_id, OrderEvent.order_id == order_id)
        .order_by(OrderEvent.id)
    )
    return list(rows.all())


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
    """The buyer's own order by number (as typed, or all in upper or lower case: still on the number's index)
    and email (case-insensitive); any mismatch is the same NotFound."""
    typed = number.strip()
    order = await session.scalar(
        select(Order)
        .join(Customer, (Customer.id == Order.customer_id) & (Customer.tenant_id == tenant_id))
        .where(
            Order.tenant_id == tenant_id,
            Order.number.in_(sorted({typed, typed.upper(), typed.lower()})),
            func.lower(Customer.email) == email.strip().lower(),
        )
        .order_by(Order.id)
        .limit(1)
    )
    if order is None:
        raise NotFound("no order with that number and email")
    return order


# --- customers ---------------------------------------------------------------------------------------------


async def find_customer_by_email(session: AsyncSession, tenant_id: int, email: str) -> Customer | None:
    return await session.scalar(
        select(Customer)
        .where(Customer.tenant_id == tenant_id, func.lower(Customer.email) == email.strip().lower())
        .order_by(Customer.id)
        .limit(1)
    )


async def do_create_customer(session: AsyncSession, tenant_id: int, data: CustomerCreate) -> Customer:
    """One customer per email in a tenant."""
    if await find_customer_by_email(session, tenant_id, data.email) is not None:
        raise Conflict(f"a customer with email {data.email} already exists", field="email")
    customer = Customer(tenant_id=tenant_id, **data.model_dump())
    session.add(customer)
    await session.flush()
    return customer


async def list_customers(
    session: AsyncSession,
    tenant_id: int,
    *,
    email: str | None = None,
    country: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Customer]:
    query = select(Customer).where(Customer.tenant_id == tenant_id)
    if email:
        query = query.where(func.lower(Customer.email) == email.strip().lower())
    if country:
        query = query.where(Customer.country == country.strip().upper())
    if q and q.strip():
        pattern = "%" + _like_prefix(q.strip().lower())
        query = query.where(
            or_(
                func.lower(Customer.name).like(pattern, escape="\\"),
                func.lower(Customer.email).like(pattern, escape="\\"),
            )
        )
    return await catalog.page_of(session, query, Customer.id, cursor=cursor, limit=limit)


# --- live sessions ----------------------------------------------------------------------------------------


async def do_create_live_session(
    session: AsyncSession, tenant_id: int, data: LiveSessionCreate
) -> LiveSession:
    if data.ends_at is not None and data.ends_at < data.starts_at:
        raise InvalidInput("ends_at: before starts_at", field="ends_at")
    live = LiveSession(tenant_id=tenant_id, **data.model_dump())
    session.add(live)
    await session.flush()
    return live


async def access_live_session(session: AsyncSession, tenant_id: int, live_session_id: int) -> LiveSession:
    live = await session.scalar(
        select(LiveSession).where(LiveSession.tenant_id == tenant_id, LiveSession.id == live_session_id)
    )
    if live is None:
        raise NotFound("live session not found", field="live_session_id")
    return live


# --- orders -----------------------------------------------------------------------------------------------


def check_line_currencies(data: OrderCreate) -> None:
    """A line priced in another currency would make the order total meaningless."""
    for index, line in enumerate(data.lines):
        if line.currency is not None and line.currency != data.currency:
            path = f"lines.{index}.currency"
            raise InvalidInput(
                f"{path}: {line.currency} differs from the order currency {data.currency}", field=path
            )
