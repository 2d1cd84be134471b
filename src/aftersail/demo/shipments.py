"""Where the demo's shipped and delivered orders went out from: a shipped allocation per order, from the
seller's warehouse with the fastest lane to the buyer, each line from one of that warehouse's batches.

The loader writes orders as history, without allocating them; returns are counted per batch through these
rows (`orders.service.shipped_batches`), and so are the units sold per batch in the returns cost report.
Bulk rows, like the loader's: no stock moves (the demo's stock is today's, after these shipments).
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Lane, StockLevel, Warehouse
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderLine,
    OrderStatus,
)

SHIPPED = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)


async def write_shipments(session: AsyncSession, tenant_id: int, rng: random.Random) -> int:
    """Allocations (status shipped) for every shipped or delivered order of the tenant; how many."""
    lanes: dict[str, list[tuple[int, int, int]]] = {}  # country → [(days, cost, warehouse id)]
    for lane in (await session.scalars(select(Lane).where(Lane.tenant_id == tenant_id))).all():
        lanes.setdefault(lane.country, []).append(
            (lane.transit_days_median, lane.cost_minor, lane.warehouse_id)
        )
    levels: dict[tuple[int, int], list[tuple[int, int | None]]] = {}  # (warehouse, SKU) → [(level, batch)]
    for level in (
        await session.scalars(
            select(StockLevel).where(StockLevel.tenant_id == tenant_id).order_by(StockLevel.id)
        )
    ).all():
        levels.setdefault((level.warehouse_id, level.sku_id), []).append((level.id, level.batch_id))
    codes = dict(
        (
            await session.execute(
                select(Warehouse.id, Warehouse.code).where(Warehouse.tenant_id == tenant_id)
            )
        ).all()
    )
    orders = (
        await session.execute(
            select(Order.id, Order.country, Order.updated_at, Order.placed_at)
            .where(Order.tenant_id == tenant_id, Order.status.in_([s.value for s in SHIPPED]))
            .order_by(Order.id)
        )
    ).all()
    lines: dict[int, list[tuple[int, int, int]]] = {}
    for line_id, order_id, sku_id, quantity in (
        await session.execute(
            select(OrderLine.id, OrderLine.order_id, OrderLine.sku_id, OrderLine.quantity)
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.tenant_id == tenant_id, Order.status.in_([s.value for s in SHIPPED]))
            .order_by(OrderLine.id)
        )
    ).all():
        lines.setdefault(order_id, []).append((line_id, sku_id, quantity))

    allocations: list[dict[str, Any]] = []
    picked: list[list[tuple[int, int, int, int, int | None]]] = []  # (line, SKU, units, level, batch)
    for order_id, country, updated_at, placed_at in orders:
        choices = sorted(lanes.get(country, []))
        stocked = [
            choice
            for choice in choices
            if all((choice[2], sku_id) in levels for _, sku_id, _ in lines.get(order_id, []))
        ]
        if not stocked or not lines.get(order_id):
            continue
        days, _, warehouse_id = stocked[0]
        allocations.append(
            {
                "tenant_id": tenant_id,
                "created_at": placed_at,
                "updated_at": updated_at,
                "order_id": order_id,
                "warehouse_id": warehouse_id,
                "status": AllocationStatus.SHIPPED,
                "reason": f"{codes[warehouse_id]}: fastest lane to {country} with stock, {days} days",
                "transit_days": days,
            }
        )
        picked.append(
            [
                (line_id, sku_id, quantity, *rng.choice(levels[(warehouse_id, sku_id)]))
                for line_id, sku_id, quantity in lines[order_id]
            ]
        )
    if not allocations:
        return 0
    ids = list(
        (
            await session.execute(
                insert(Allocation).returning(Allocation.id, sort_by_parameter_order=True), allocations
            )
        )
        .scalars()
        .all()
    )
    rows = [
        {
            "tenant_id": tenant_id,
            "allocation_id": allocation_id,
            "order_line_id": line_id,
            "stock_level_id": level_id,
            "sku_id": sku_id,
            "batch_id": batch_id,
            "quantity": quantity,
        }
        for allocation_id, chosen in zip(ids, picked, strict=True)
        for line_id, sku_id, quantity, level_id, batch_id in chosen
    ]
    await session.execute(insert(AllocationLine), rows)
    return len(ids)
