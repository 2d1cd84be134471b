"""An order's parcels leaving and arriving: an allocation shipped (its stock leaves the warehouse), and the
order delivered once its last parcel is. The shipping domain calls these when a parcel is recorded and when
its carrier reports delivery."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.kit.errors import Conflict, NotFound
from aftersail.orders.allocation import record_order_event
from aftersail.orders.models import Allocation, AllocationLine, AllocationStatus, Order, OrderStatus
from aftersail.orders.rules import check_transition

SHIPPABLE = frozenset({AllocationStatus.RESERVED, AllocationStatus.RELEASED})


async def access_allocation(session: AsyncSession, tenant_id: int, allocation_id: int) -> Allocation:
    allocation = await session.get(Allocation, allocation_id)
    if allocation is None or allocation.tenant_id != tenant_id:
        raise NotFound(f"Allocation {allocation_id} does not exist.", allocation_id=allocation_id)
    return allocation


async def do_ship_allocation(
    session: AsyncSession, allocation: Allocation, *, actor: str, now: datetime, details: dict[str, object]
) -> Order:
    """The warehouse handed the allocation's parcel to the carrier: its units leave stock (on hand and
    reserved both fall), and the order is shipped once none of its allocations waits any more. An order
    still in its cooling-off window is released first: a parcel on its way cannot be changed."""
    order = await session.get(Order, allocation.order_id, with_for_update=True)
    assert order is not None
    if allocation.status is AllocationStatus.SHIPPED:
        return order
    if allocation.status not in SHIPPABLE:
        raise Conflict(
            f"This allocation is {allocation.status.value}; only a reserved or released one can ship.",
            allocation_id=allocation.id,
        )
    moves: dict[int, int] = defaultdict(int)
    for stock_level_id, quantity in (
        await session.execute(
            select(AllocationLine.stock_level_id, AllocationLine.quantity).where(
                AllocationLine.tenant_id == allocation.tenant_id,
                AllocationLine.allocation_id == allocation.id,
            )
        )
    ).all():
        moves[stock_level_id] += quantity
    await reservations.do_ship_out(session, allocation.tenant_id, list(moves.items()), source=actor)
    allocation.status = AllocationStatus.SHIPPED
    if order.status in (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED):
        order.status = check_transition(order.status, OrderStatus.RELEASED)
        order.released_at = now
    waiting = await session.scalar(
        select(Allocation.id)
        .where(
            Allocation.tenant_id == order.tenant_id,
            Allocation.order_id == order.id,
            Allocation.status.in_([s.value for s in SHIPPABLE]),
        )
        .limit(1)
    )
    if waiting is None and order.status is OrderStatus.RELEASED:
        order.status = check_transition(order.status, OrderStatus.SHIPPED)
    await record_order_event(
        session, order, actor=actor, action="shipped", details={"allocation_id": allocation.id, **details}
    )
    await session.flush()
    return order


async def do_mark_delivered(session: AsyncSession, order: Order, *, at: datetime, actor: str) -> bool:
    """The carrier delivered the order's last parcel at `at`: the order is delivered (its return window runs
    from `at`). A second call changes nothing."""
    if order.status is OrderStatus.DELIVERED:
        return False
    if order.status is OrderStatus.RELEASED:
        order.status = check_transition(order.status, OrderStatus.SHIPPED)
    order.status = check_transition(order.status, OrderStatus.DELIVERED)
    order.delivered_at = at
    await record_order_event(session, order, actor=actor, action="delivered", details={"at": at.isoformat()})
    await session.flush()
    return True
