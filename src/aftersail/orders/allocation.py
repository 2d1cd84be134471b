"""Allocating orders to warehouses (分仓): plan with the pure rules, reserve atomically, record why.

`do_allocate_order` reads the lanes and free stock, lets `rules.plan_allocation` choose, then reserves each
pick with one conditional UPDATE per stock row inside a savepoint. If free stock moved between the read and
the reservation (another order took it), the savepoint rolls back and the plan is made again from a fresh
read; after a few rounds under a storm the last plan is made with what is left, so the order is always
decided: allocated, backordered, or refused by the tenant's policy.

Placing an order is the busiest write of a live-stream sale, so its path counts round trips: the lines
with their SKUs and bundle components come in one query, the serving warehouses with their free stock in
another, the reservation is one statement on PostgreSQL (`reservations.do_reserve`), each warehouse's
allocation with its parcel and lines another (`allocation_rows`), and the audit rows wait for the one flush
at the end. A tenant's order policy is remembered by the process for `POLICY_CACHE_SECONDS`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog.models import BundleComponent, Sku
from aftersail.catalog.reservations import StockAfter, StockContended
from aftersail.catalog.stock_events import level_payload, stock_alerts
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.outbox import emit
from aftersail.orders import service as orders
from aftersail.orders.allocation_rows import write_warehouse_allocation
from aftersail.orders.intake import PlaceRequest, place_one
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
    check_transition,
    plan_allocation,
)
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant

MAX_ROUNDS = 6
POLICY_CACHE_SECONDS = 5.0


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
    """The order's lines as the rules see them: SKU code for reasons, bundle components (one query)."""
    rows = await session.execute(
        select(
            OrderLine.id,
            OrderLine.sku_id,
            OrderLine.quantity,
            Sku.code,
            BundleComponent.component_sku_id,
            BundleComponent.quantity,
        )
        .join(Sku, (Sku.id == OrderLine.sku_id) & (Sku.tenant_id == order.tenant_id))
        .outerjoin(
            BundleComponent,
            (BundleComponent.bundle_sku_id == Sku.id)
            & (BundleComponent.tenant_id == order.tenant_id)
            & Sku.is_bundle.is_(True),
        )
        .where(OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id)
        .order_by(OrderLine.id, BundleComponent.component_sku_id)
    )
    lines: dict[int, tuple[int, int, str]] = {}
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line_id, sku_id, quantity, code, component_id, per_bundle in rows:
        lines.setdefault(line_id, (sku_id, quantity, code))
        if component_id is not None:
            components[line_id].append((component_id, per_bundle))
    return [
        Requirement(
            order_line_id=line_id,
            sku_id=sku_id,
            quantity=quantity,
            label=code,
            components=tuple(components.get(line_id, ())),
        )
        for line_id, (sku_id, quantity, code) in lines.items()
    ]


async def _plan_and_reserve(
    session: AsyncSession, order: Order, requirements: Sequence[Requirement], policy: OrderPolicy
) -> tuple[AllocationPlan, list[StockAfter]]:
    skus = {sku for r in requirements for sku in r.demand()}
    options, slots = await reservations.allocation_inputs(session, order.tenant_id, order.country, skus)
    for attempt in range(MAX_ROUNDS):
        if attempt:
            slots = await reservations.free_slots(
                session, order.tenant_id, [o.warehouse_id for o in options], skus
            )
        plan = plan_allocation(requirements, options, slots, order.country, policy.on_shortage)
        moves = [(p.stock_level_id, p.quantity) for p in plan.picks]
        if not moves:
            return plan, []
        # A savepoint of our own (no RELEASE round trip): a lost race rolls back to it, which also lets go
        # of the row locks taken, so the next round cannot lock rows out of id order. Nothing of the ORM is
        # flushed in between (the caller holds `no_autoflush`).
        await session.execute(_SAVEPOINT)
        try:
            after = await reservations.do_reserve(session, order.tenant_id, moves)
        except StockContended:
            await session.execute(_ROLLBACK_TO_SAVEPOINT)
            continue
        return plan, after
    # Still contended after several rounds (a hot SKU in a sell-out): lock the candidate rows in id order
    # and plan on what they really hold; the reservation cannot lose a race any more.
    slots = await reservations.free_slots(
        session, order.tenant_id, [o.warehouse_id for o in options], skus, lock=True
    )
    plan = plan_allocation(requirements, options, slots, order.country, policy.on_shortage)
    moves = [(p.stock_level_id, p.quantity) for p in plan.picks]
    return plan, await reservations.do_reserve(session, order.tenant_id, moves) if moves else []


_SAVEPOINT = text("SAVEPOINT aftersail_reserve")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT aftersail_reserve")


async def do_allocate_order(
    session: AsyncSession, order: Order, *, actor: str, policy: OrderPolicy
) -> AllocationPlan:
    """Allocate every unit of `order` that has none yet (call `do_unallocate_order` first to redo)."""
    with session.no_autoflush:
        requirements = await _requirements(session, order)
        plan, after = await _plan_and_reserve(session, order, requirements, policy)
        for warehouse_plan in plan.warehouses:
            await write_warehouse_allocation(session, order, warehouse_plan, policy)
        for line_id, units in plan.backordered.items():
            if not units:
                continue  # lines start with none backordered (new, or reset by `do_unallocate_order`)
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
            "at": utcnow().isoformat(),
            "levels": [level_payload(a) for a in after],
        },
        tenant_id=order.tenant_id,
    )
    for topic, payload in stock_alerts(after):
        await emit(session, topic, payload, tenant_id=order.tenant_id)


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


_policies: dict[tuple[int, int], tuple[float, Any, OrderPolicy]] = {}


async def order_policy(session: AsyncSession, tenant_id: int) -> OrderPolicy:
    """The tenant's order settings; a process re-reads them at most every `POLICY_CACHE_SECONDS` (at once
    when this process changes a tenant's settings)."""
    bind = session.get_bind()
    cached = _cached_policy(bind, tenant_id)
    if cached is not None:
        return cached
    policy = OrderPolicy.from_settings((await tenants.access_tenant(session, tenant_id)).settings)
    _policies[(id(bind), tenant_id)] = (time.monotonic() + POLICY_CACHE_SECONDS, bind, policy)
    return policy


def cached_order_policy(db: Database, tenant_id: int) -> OrderPolicy | None:
    """`order_policy` if this process read it lately for `db`, else None."""
    return _cached_policy(db.engine.sync_engine, tenant_id)


def _cached_policy(bind: Any, tenant_id: int) -> OrderPolicy | None:
    cached = _policies.get((id(bind), tenant_id))
    if cached is not None and cached[1] is bind and cached[0] > time.monotonic():
        return cached[2]
    return None


@sa_event.listens_for(Tenant.settings, "set")
def _forget_policies(_target: Tenant, _value: Any, _old: Any, _initiator: Any) -> None:
    _policies.clear()


async def do_set_order_policy(session: AsyncSession, tenant_id: int, policy: OrderPolicy) -> OrderPolicy:
    """Store the tenant's order settings (`tenant.settings["orders"]`); the policy cache forgets them."""
    tenant = await tenants.access_tenant(session, tenant_id)
    tenant.settings = {
        **(tenant.settings or {}),
        "orders": policy.as_settings(),
    }  # a new dict: tracked by value
    await session.flush()
    return policy


async def do_place_order(session: AsyncSession, tenant_id: int, data: OrderCreate, *, actor: str) -> Order:
    """Create and allocate the order in the caller's transaction (the batch path of `orders.intake`, for
    one order); the Live board hears of it after commit."""
    policy = await order_policy(session, tenant_id)
    placed = await place_one(session, tenant_id, PlaceRequest(data=data, actor=actor), policy=policy)
    return await orders.access_order(session, tenant_id, placed.order_id)
