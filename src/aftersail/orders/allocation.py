"""Allocating orders to warehouses (分仓): plan with the pure rules, reserve atomically, record why.

`do_allocate_order` reads the lanes and free stock, lets `rules.plan_allocation` choose, then reserves each
pick with one conditional UPDATE per stock row inside a savepoint. If free stock moved between the read and
the reservation (another order took it), the savepoint rolls back and the plan is made again from a fresh
read; after a few rounds under a storm the last plan is made with what is left, so the order is always
decided: allocated, backordered, or refused by the tenant's policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog import service as catalog
from aftersail.catalog.reservations import StockAfter, StockContended
from aftersail.kit.clock import utcnow
from aftersail.kit.outbox import emit
from aftersail.orders import service as orders
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    ShipmentGroup,
)
from aftersail.orders.rules import (
    AllocationPlan,
    OrderPolicy,
    Requirement,
    address_key,
    check_transition,
    plan_allocation,
)
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants import service as tenants

MAX_ROUNDS = 6


async def record_order_event(
    session: AsyncSession, order: Order, *, actor: str, action: str, details: dict[str, object] | None = None
) -> OrderEvent:
    """One line of the order's audit trail."""
    event = OrderEvent(
        tenant_id=order.tenant_id, order_id=order.id, actor=actor, action=action, details=details or {}
    )
    session.add(event)
    return event


async def _requirements(session: AsyncSession, order: Order) -> list[Requirement]:
    lines = list(
        (
            await session.scalars(
                select(OrderLine)
                .where(OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id)
                .order_by(OrderLine.id)
            )
        ).all()
    )
    skus = await catalog.skus_by_ids(session, order.tenant_id, {line.sku_id for line in lines})
    bundles = await reservations.bundle_map(
        session, order.tenant_id, [s.id for s in skus.values() if s.is_bundle]
    )
    return [
        Requirement(
            order_line_id=line.id,
            sku_id=line.sku_id,
            quantity=line.quantity,
            label=skus[line.sku_id].code,
            components=tuple(bundles.get(line.sku_id, ())),
        )
        for line in lines
    ]


async def _plan_and_reserve(
    session: AsyncSession, order: Order, requirements: Sequence[Requirement], policy: OrderPolicy
) -> tuple[AllocationPlan, list[StockAfter]]:
    options = await reservations.serving_options(session, order.tenant_id, order.country)
    skus = {sku for r in requirements for sku in r.demand()}
    for _ in range(MAX_ROUNDS):
        slots = await reservations.free_slots(
            session, order.tenant_id, [o.warehouse_id for o in options], skus
        )
        plan = plan_allocation(requirements, options, slots, order.country, policy.on_shortage)
        try:
            async with session.begin_nested():
                after = await reservations.do_reserve(
                    session, order.tenant_id, [(p.stock_level_id, p.quantity) for p in plan.picks]
                )
            return plan, after
        except StockContended:
            continue
    # Still contended: everything left is being taken right now. Decide with no stock rather than spin.
    plan = plan_allocation(requirements, options, [], order.country, policy.on_shortage)
    return plan, []


async def _shipment_group(
    session: AsyncSession, order: Order, warehouse_id: int, policy: OrderPolicy
) -> ShipmentGroup:
    """Join the buyer's open parcel from this warehouse to this address, or start one (合并发货)."""
    key = address_key(order.shipping_address)
    now = utcnow()
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


async def do_allocate_order(
    session: AsyncSession, order: Order, *, actor: str, policy: OrderPolicy
) -> AllocationPlan:
    """Allocate every unit of `order` that has none yet (call `do_unallocate_order` first to redo)."""
    requirements = await _requirements(session, order)
    plan, after = await _plan_and_reserve(session, order, requirements, policy)
    for warehouse_plan in plan.warehouses:
        group = await _shipment_group(session, order, warehouse_plan.warehouse_id, policy)
        allocation = Allocation(
            tenant_id=order.tenant_id,
            order_id=order.id,
            warehouse_id=warehouse_plan.warehouse_id,
            shipment_group_id=group.id,
            status=AllocationStatus.RESERVED,
            reason=warehouse_plan.reason[:500],
            transit_days=warehouse_plan.transit_days,
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
            for pick in warehouse_plan.picks
        )
    for line_id, units in plan.backordered.items():
        await session.execute(
            update(OrderLine)
            .where(OrderLine.tenant_id == order.tenant_id, OrderLine.id == line_id)
            .values(backordered_quantity=units)
            .execution_options(synchronize_session=False)
        )
    target = OrderStatus.ALLOCATED if plan.fully_allocated else OrderStatus.BACKORDERED
    order.status = check_transition(order.status, target)
    await record_order_event(
        session,
        order,
        actor=actor,
        action=target.value,
        details={
            "summary": plan.summary,
            "warehouses": [w.reason for w in plan.warehouses],
            "backordered": {str(k): v for k, v in plan.backordered.items() if v},
        },
    )
    await _announce_stock(session, order, after)
    await session.flush()
    return plan


async def _announce_stock(session: AsyncSession, order: Order, after: Sequence[StockAfter]) -> None:
    """Stock moves reach the Live board; low stock and sell-outs become events of their own."""
    if not after:
        return
    await emit(
        session,
        "live.stock",
        {
            "order_id": order.id,
            "live_session_id": order.live_session_id,
            "levels": [
                {
                    "stock_level_id": a.stock_level_id,
                    "warehouse_id": a.warehouse_id,
                    "sku_id": a.sku_id,
                    "on_hand": a.on_hand,
                    "reserved": a.reserved,
                    "available": a.available,
                }
                for a in after
            ],
        },
        tenant_id=order.tenant_id,
    )
    for level in after:
        if level.available <= level.low_stock_threshold:
            topic = "stock.sold_out" if level.available == 0 else "stock.low"
            await emit(
                session,
                topic,
                {
                    "stock_level_id": level.stock_level_id,
                    "warehouse_id": level.warehouse_id,
                    "sku_id": level.sku_id,
                    "available": level.available,
                    "threshold": level.low_stock_threshold,
                },
                tenant_id=order.tenant_id,
            )


async def active_allocations(session: AsyncSession, order: Order) -> list[Allocation]:
    return list(
        (
            await session.scalars(
                select(Allocation)
                .where(
                    Allocation.tenant_id == order.tenant_id,
                    Allocation.order_id == order.id,
                    Allocation.status == AllocationStatus.RESERVED,
                )
                .order_by(Allocation.id)
            )
        ).all()
    )


async def do_unallocate_order(session: AsyncSession, order: Order) -> list[StockAfter]:
    """Give back every reserved unit of `order` and cancel its reserved allocations."""
    allocations = await active_allocations(session, order)
    if not allocations:
        return []
    rows = await session.execute(
        select(AllocationLine.stock_level_id, AllocationLine.quantity).where(
            AllocationLine.tenant_id == order.tenant_id,
            AllocationLine.allocation_id.in_([a.id for a in allocations]),
        )
    )
    moves: dict[int, int] = defaultdict(int)
    for stock_level_id, quantity in rows.all():
        moves[stock_level_id] += quantity
    after = await reservations.do_unreserve(session, order.tenant_id, list(moves.items()))
    for allocation in allocations:
        allocation.status = AllocationStatus.CANCELLED
        allocation.shipment_group_id = None
    await session.execute(
        update(OrderLine)
        .where(OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id)
        .values(backordered_quantity=0)
        .execution_options(synchronize_session=False)
    )
    await _announce_stock(session, order, after)
    await session.flush()
    return after


async def do_release_order(session: AsyncSession, order: Order, *, actor: str) -> Order:
    """The warehouse starts picking: the cooling-off window closes and the parcels stop taking merges."""
    order.status = check_transition(order.status, OrderStatus.RELEASED)
    order.released_at = utcnow()
    allocations = await active_allocations(session, order)
    for allocation in allocations:
        allocation.status = AllocationStatus.RELEASED
    group_ids = {a.shipment_group_id for a in allocations if a.shipment_group_id is not None}
    if group_ids:
        await session.execute(
            update(ShipmentGroup)
            .where(ShipmentGroup.tenant_id == order.tenant_id, ShipmentGroup.id.in_(group_ids))
            .values(is_open=False)
            .execution_options(synchronize_session=False)
        )
    await record_order_event(session, order, actor=actor, action="released")
    await session.flush()
    return order


async def order_policy(session: AsyncSession, tenant_id: int) -> OrderPolicy:
    return OrderPolicy.from_settings((await tenants.access_tenant(session, tenant_id)).settings)


async def do_place_order(session: AsyncSession, tenant_id: int, data: OrderCreate, *, actor: str) -> Order:
    """Create and allocate the order in one transaction; the Live board hears of it after commit."""
    policy = await order_policy(session, tenant_id)
    order = await orders.do_create_order(session, tenant_id, data)
    await record_order_event(
        session, order, actor=actor, action="created", details={"channel": order.channel.value}
    )
    plan = await do_allocate_order(session, order, actor=actor, policy=policy)
    await emit(
        session,
        "live.order",
        {
            "order_id": order.id,
            "number": order.number,
            "live_session_id": order.live_session_id,
            "status": order.status.value,
            "country": order.country,
            "total_minor": order.total_minor,
            "currency": order.currency,
            "placed_at": order.placed_at.isoformat(),
            "warehouses": [w.warehouse_id for w in plan.warehouses],
        },
        tenant_id=tenant_id,
    )
    return order
