"""Reads of what was sold, for reports that set something against sales (the returns cost report): the units
of the order lines of orders placed in a span, with the batch they shipped from. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderLine,
    OrderStatus,
)


@dataclass(frozen=True, slots=True)
class SoldUnits:
    """Units of one order line from one batch (None: not allocated to a batch, or no allocation kept)."""

    order_id: int
    sku_id: int
    batch_id: int | None
    market: str  # the order's delivery country
    quantity: int
    unit_price_minor: int


async def units_sold(
    session: AsyncSession, tenant_id: int, start: datetime, end: datetime, currency: str
) -> list[SoldUnits]:
    """Units of orders placed in [start, end) in `currency`, cancelled orders left out. A line allocated
    across batches is split by its allocation lines; what no live allocation covers has no batch."""
    placed = and_(
        Order.tenant_id == tenant_id,
        Order.placed_at >= start,
        Order.placed_at < end,
        Order.status != OrderStatus.CANCELLED,
        Order.currency == currency,
    )
    lines = (
        await session.execute(
            select(
                OrderLine.id,
                OrderLine.order_id,
                OrderLine.sku_id,
                OrderLine.quantity,
                OrderLine.unit_price_minor,
                Order.country,
            )
            .join(Order, and_(Order.id == OrderLine.order_id, Order.tenant_id == tenant_id))
            .where(OrderLine.tenant_id == tenant_id, placed)
            .order_by(OrderLine.id)
        )
    ).all()
    batches = (
        await session.execute(
            select(AllocationLine.order_line_id, AllocationLine.batch_id, func.sum(AllocationLine.quantity))
            .join(
                Allocation,
                and_(Allocation.id == AllocationLine.allocation_id, Allocation.tenant_id == tenant_id),
            )
            .join(Order, and_(Order.id == Allocation.order_id, Order.tenant_id == tenant_id))
            .where(
                AllocationLine.tenant_id == tenant_id, Allocation.status != AllocationStatus.CANCELLED, placed
            )
            .group_by(AllocationLine.order_line_id, AllocationLine.batch_id)
        )
    ).all()
    by_line: dict[int, list[tuple[int | None, int]]] = {}
    for line_id, batch_id, quantity in batches:
        by_line.setdefault(line_id, []).append((batch_id, int(quantity or 0)))
    sold = []
    for line_id, order_id, sku_id, quantity, unit_price, country in lines:
        left = quantity
        for batch_id, allocated in sorted(by_line.get(line_id, []), key=lambda b: (b[0] is None, b[0] or 0)):
            taken = min(left, allocated)
            if taken > 0:
                sold.append(SoldUnits(order_id, sku_id, batch_id, country, taken, unit_price))
                left -= taken
        if left > 0:
            sold.append(SoldUnits(order_id, sku_id, None, country, left, unit_price))
    return sold


async def sale_currencies(
    session: AsyncSession, tenant_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    """Units sold per currency in [start, end) (cancelled orders left out)."""
    rows = await session.execute(
        select(Order.currency, func.sum(OrderLine.quantity))
        .join(Order, and_(Order.id == OrderLine.order_id, Order.tenant_id == tenant_id))
        .where(
            OrderLine.tenant_id == tenant_id,
            Order.placed_at >= start,
            Order.placed_at < end,
            Order.status != OrderStatus.CANCELLED,
        )
        .group_by(Order.currency)
    )
    return {currency: int(units or 0) for currency, units in rows.all()}
