"""Writing an allocation decision: the parcel it joins (or starts), the allocation row and its lines.

`do_allocate_order` calls `write_warehouse_allocation` once per warehouse of the plan. On PostgreSQL the
three writes are one statement (a chain of CTEs, one round trip on the order-intake hot path); elsewhere
they go through the ORM. Both write the same rows: the buyer's open parcel from this warehouse to this
address is joined while the tenant's merge window is open (合并发货), else a new one is started.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Boolean, Integer, String, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.db import UTCDateTime, on_postgres
from aftersail.orders.models import Allocation, AllocationLine, AllocationStatus, Order, ShipmentGroup
from aftersail.orders.rules import OrderPolicy, Pick, WarehousePlan, address_key

MAX_REASON = 500

_WRITE_ALLOCATION = text(
    """
WITH found AS (
    SELECT id FROM shipment_groups
    WHERE :merge AND tenant_id = :tenant_id AND customer_id = :customer_id AND warehouse_id = :warehouse_id
        AND address_key = :address_key AND is_open AND closes_at > :now
    ORDER BY id
    LIMIT 1
), made AS (
    INSERT INTO shipment_groups
        (tenant_id, warehouse_id, customer_id, address_key, is_open, closes_at, created_at, updated_at)
    SELECT :tenant_id, :warehouse_id, :customer_id, :address_key, :merge, :closes_at, :now, :now
    WHERE NOT EXISTS (SELECT 1 FROM found)
    RETURNING id
), parcel AS (
    SELECT id FROM found UNION ALL SELECT id FROM made
), allocation AS (
    INSERT INTO allocations
        (tenant_id, order_id, warehouse_id, shipment_group_id, status, reason, transit_days,
         created_at, updated_at)
    SELECT :tenant_id, :order_id, :warehouse_id, parcel.id, :status, :reason, :transit_days, :now, :now
    FROM parcel
    RETURNING id
)
INSERT INTO allocation_lines
    (tenant_id, allocation_id, order_line_id, stock_level_id, sku_id, batch_id, quantity)
SELECT :tenant_id, allocation.id, p.order_line_id, p.stock_level_id, p.sku_id, p.batch_id, p.quantity
FROM allocation, unnest(
    CAST(:order_line_ids AS bigint[]),
    CAST(:stock_level_ids AS bigint[]),
    CAST(:sku_ids AS bigint[]),
    CAST(:batch_ids AS bigint[]),
    CAST(:quantities AS integer[])
) AS p (order_line_id, stock_level_id, sku_id, batch_id, quantity)
"""
).bindparams(
    bindparam("merge", type_=Boolean()),
    bindparam("tenant_id", type_=BigInteger()),
    bindparam("customer_id", type_=BigInteger()),
    bindparam("warehouse_id", type_=BigInteger()),
    bindparam("order_id", type_=BigInteger()),
    bindparam("address_key", type_=String()),
    bindparam("status", type_=String()),
    bindparam("reason", type_=String()),
    bindparam("transit_days", type_=Integer()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("closes_at", type_=UTCDateTime()),
)


async def write_warehouse_allocation(
    session: AsyncSession, order: Order, plan: WarehousePlan, policy: OrderPolicy
) -> None:
    """Store one warehouse's part of the order with its reason, in the buyer's parcel from there."""
    now = utcnow()
    if on_postgres(session):
        await _write_in_one_statement(session, order, plan, policy, now)
        return
    group = await _shipment_group(session, order, plan.warehouse_id, policy, now)
    allocation = Allocation(
        tenant_id=order.tenant_id,
        order_id=order.id,
        warehouse_id=plan.warehouse_id,
        shipment_group_id=group.id,
        status=AllocationStatus.RESERVED,
        reason=plan.reason[:MAX_REASON],
        transit_days=plan.transit_days,
    )
    session.add(allocation)
    await session.flush()
    session.add_all(
        AllocationLine(
            tenant_id=order.tenant_id,
            allocation_id=allocation.id,
            order_line_id=pick.order_line_id,
            stock_level_id=pick.stock_level_id,
            sku_id=pick.sku_id,
            batch_id=pick.batch_id,
            quantity=pick.quantity,
        )
        for pick in plan.picks
    )


async def _write_in_one_statement(
    session: AsyncSession, order: Order, plan: WarehousePlan, policy: OrderPolicy, now: datetime
) -> None:
    picks: Sequence[Pick] = plan.picks
    await session.execute(
        _WRITE_ALLOCATION,
        {
            "merge": policy.merge_window_minutes > 0,
            "tenant_id": order.tenant_id,
            "customer_id": order.customer_id,
            "warehouse_id": plan.warehouse_id,
            "order_id": order.id,
            "address_key": address_key(order.shipping_address),
            "status": AllocationStatus.RESERVED.value,
            "reason": plan.reason[:MAX_REASON],
            "transit_days": plan.transit_days,
            "now": now,
            "closes_at": now + timedelta(minutes=policy.merge_window_minutes),
            "order_line_ids": [p.order_line_id for p in picks],
            "stock_level_ids": [p.stock_level_id for p in picks],
            "sku_ids": [p.sku_id for p in picks],
            "batch_ids": [p.batch_id for p in picks],
            "quantities": [p.quantity for p in picks],
        },
    )


async def _shipment_group(
    session: AsyncSession, order: Order, warehouse_id: int, policy: OrderPolicy, now: datetime
) -> ShipmentGroup:
    """Join the buyer's open parcel from this warehouse to this address, or start one (合并发货)."""
    key = address_key(order.shipping_address)
    if policy.merge_window_minutes > 0:
        group = await session.scalar(
            select(ShipmentGroup)
            .where(
                ShipmentGroup.tenant_id == order.tenant_id,
                ShipmentGroup.customer_id == order.customer_id,
                ShipmentGroup.warehouse_id == warehouse_id,
                ShipmentGroup.address_key == key,
                ShipmentGroup.is_open.is_(True),
                ShipmentGroup.closes_at > now,
            )
            .order_by(ShipmentGroup.id)
            .limit(1)
        )
        if group is not None:
            return group
    group = ShipmentGroup(
        tenant_id=order.tenant_id,
        warehouse_id=warehouse_id,
        customer_id=order.customer_id,
        address_key=key,
        is_open=policy.merge_window_minutes > 0,
        closes_at=now + timedelta(minutes=policy.merge_window_minutes),
    )
    session.add(group)
    await session.flush()
    return group
