"""Cooling-off changes (冷静期): cancel an order, change its address, or change a line's variant or quantity
until the warehouse releases it for picking; and the release itself.

Each change takes the order's row lock, checks that the order may still change (`rules.check_changeable`),
then runs in a savepoint of the caller's transaction: it gives the order's reservations back, applies the
change, allocates again with the new facts and writes an audit row with the before and after. If the new
allocation is refused (no warehouse serves the new country, or the tenant rejects orders it cannot fill),
the savepoint rolls back and the order keeps its old allocation: nothing is half-applied, even for a caller
that catches the error and carries on. Lock order: the order row first, then stock rows in id order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput, NotFound
from aftersail.kit.outbox import emit
from aftersail.orders.allocation import (
    active_allocations,
    do_allocate_order,
    do_release_order,
    do_unallocate_order,
    order_policy,
    record_order_event,
)
from aftersail.orders.models import Order, OrderEvent, OrderLine, OrderStatus
from aftersail.orders.rules import CHANGEABLE, check_changeable, check_transition

MAX_REASON = 500


class NotReleasable(Conflict):
    code = "not_releasable"


def buyer_actor(order_id: int) -> str:
    """The actor of a change made through the buyer's signed order link."""
    return f"buyer:{order_id}"


async def lock_order(session: AsyncSession, order: Order) -> Order:
    """Re-read the order under its row lock (PostgreSQL `FOR UPDATE`; SQLite writers are already serial),
    so that a release and a change of the same order never both win."""
    await session.refresh(order, with_for_update=True)
    return order


async def _warehouses(session: AsyncSession, order: Order) -> list[int]:
    return [a.warehouse_id for a in await active_allocations(session, order)]


async def _announce(session: AsyncSession, order: Order, change: str) -> None:
    """The Live board and other listeners hear of the order's new status (`change` says what happened)."""
    await emit(
        session,
        "live.order",
        {
            "order_id": order.id,
            "number": order.number,
            "live_session_id": order.live_session_id,
            "status": order.status.value,
            "change": change,
            "country": order.country,
            "total_minor": order.total_minor,
            "currency": order.currency,
            "placed_at": order.placed_at.isoformat(),
            "warehouses": await _warehouses(session, order),
        },
        tenant_id=order.tenant_id,
    )


def _by(actor_name: str) -> dict[str, Any]:
    return {"actor_name": actor_name[:120]} if actor_name else {}


async def do_cancel_order(
    session: AsyncSession, order: Order, *, actor: str, reason: str, actor_name: str = ""
) -> Order:
    """Cancel before picking: every reserved unit goes back to stock."""
    await lock_order(session, order)
    check_changeable(order.status, "be cancelled")
    reason = reason.strip()[:MAX_REASON]
    async with session.begin_nested():
        before = {"status": order.status.value, "warehouses": await _warehouses(session, order)}
        returned = await do_unallocate_order(session, order)
        order.status = check_transition(order.status, OrderStatus.CANCELLED)
        order.cancelled_at = utcnow()
        await record_order_event(
            session,
            order,
            actor=actor,
            action="cancelled",
            details={
                "reason": reason,
                "before": before,
                "after": {"status": order.status.value, "warehouses": []},
                "stock_returned": [a.stock_level_id for a in returned],
                **_by(actor_name),
            },
        )
        await session.flush()
        await _announce(session, order, "cancelled")
    return order


async def do_change_address(
    session: AsyncSession, order: Order, new_address: dict[str, Any], *, actor: str, actor_name: str = ""
) -> Order:
    """Ship to another address (and maybe another country): the lanes are chosen again. A country no
    warehouse serves is `NoWarehouseServes` (422) and the order stays as it was."""
    await lock_order(session, order)
    check_changeable(order.status, "change its address")
    address = dict(new_address)
    country = str(address.get("country") or "").upper()
    if not country:
        raise InvalidInput("the address needs a country", field="address.country")
    address["country"] = country
    old = dict(order.shipping_address or {})
    if old == address:
        return order
    policy = await order_policy(session, order.tenant_id)
    async with session.begin_nested():
        before_warehouses = await _warehouses(session, order)
        await do_unallocate_order(session, order)
        order.shipping_address = address
        order.country = country
        await record_order_event(
            session,
            order,
            actor=actor,
            action="address_changed",
            details={
                "before": {"address": old, "warehouses": before_warehouses},
                "after": {"address": address},
                **_by(actor_name),
            },
        )
        await session.flush()
        await do_allocate_order(session, order, actor=actor, policy=policy)
        await _announce(session, order, "address_changed")
    return order


async def access_order_line(session: AsyncSession, order: Order, line_id: int) -> OrderLine:
    line = await session.scalar(
        select(OrderLine).where(
            OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id, OrderLine.id == line_id
        )
    )
    if line is None:
        raise NotFound("this order has no such line", field="line_id")
    return line


async def do_change_line(
    session: AsyncSession,
    order: Order,
    line_id: int,
    *,
    actor: str,
    sku_id: int | None = None,
    quantity: int | None = None,
    actor_name: str = "",
) -> Order:
    """Another variant (a SKU of the same product) and/or another quantity for one line; the order total
    moves by the line's difference (the unit price stays: a variant is the same product)."""
    if sku_id is None and quantity is None:
        raise InvalidInput("give a new sku_id, a new quantity, or both", field="sku_id")
    if quantity is not None and not 1 <= quantity <= 10_000:
        raise InvalidInput("quantity: between 1 and 10000", field="quantity")
    await lock_order(session, order)
    check_changeable(order.status, "change its items")
    line = await access_order_line(session, order, line_id)
    skus = await catalog.skus_by_ids(session, order.tenant_id, {line.sku_id, sku_id or line.sku_id})
    current = skus[line.sku_id]
    target = skus.get(sku_id or line.sku_id)
    if target is None:
        raise InvalidInput("no such SKU", field="sku_id")
    if target.product_id != current.product_id:
        raise InvalidInput(
            f"{target.code} is not a variant of {current.code}: choose a SKU of the same product.",
            field="sku_id",
        )
    new_quantity = quantity if quantity is not None else line.quantity
    if target.id == line.sku_id and new_quantity == line.quantity:
        return order
    policy = await order_policy(session, order.tenant_id)
    async with session.begin_nested():
        before = {"sku_id": current.id, "sku_code": current.code, "quantity": line.quantity}
        before_total = order.total_minor
        await do_unallocate_order(session, order)
        order.total_minor = before_total + line.unit_price_minor * (new_quantity - line.quantity)
        line.sku_id = target.id
        line.quantity = new_quantity
        await record_order_event(
            session,
            order,
            actor=actor,
            action="line_changed",
            details={
                "line_id": line.id,
                "before": {**before, "total_minor": before_total},
                "after": {
                    "sku_id": target.id,
                    "sku_code": target.code,
                    "quantity": new_quantity,
                    "total_minor": order.total_minor,
                },
                **_by(actor_name),
            },
        )
        await session.flush()
        await do_allocate_order(session, order, actor=actor, policy=policy)
        await _announce(session, order, "line_changed")
    return order


async def do_release_for_picking(
    session: AsyncSession, order: Order, *, actor: str, actor_name: str = ""
) -> Order:
    """The warehouse starts picking (`allocation.do_release_order`): from now on a change is a return or an
    exchange."""
    await lock_order(session, order)
    if order.status not in CHANGEABLE or order.status is OrderStatus.PENDING:
        raise NotReleasable(
            f"Order {order.number} is {order.status.value}; only allocated or backordered orders can be "
            "released for picking.",
            status=order.status.value,
        )
    check_transition(order.status, OrderStatus.RELEASED)
    async with session.begin_nested():
        await do_release_order(session, order, actor=actor)
        if actor_name:  # name the person on the audit row the release just wrote
            released = await session.scalar(
                select(OrderEvent)
                .where(
                    OrderEvent.tenant_id == order.tenant_id,
                    OrderEvent.order_id == order.id,
                    OrderEvent.action == "released",
                )
                .order_by(OrderEvent.id.desc())
                .limit(1)
            )
            if released is not None:
                released.details = {**(released.details or {}), **_by(actor_name)}
        await _announce(session, order, "released")
    return order
