"""Jobs of the orders domain: the tenant-set cooling-off window (`orders.release_after_minutes`).

When a tenant sets a window, every placed order is released for picking once the window has passed: one
durable `orders.release` job per order at `placed_at + window`, written by order intake in the order's
own transaction, or by the handler on `live.order` (changed) beside the realtime forwarder that shares
the topic; the job releases the order if it can still change. Without a window the order waits until
the warehouse releases it (POST /orders/{id}/release).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import NotFound
from aftersail.kit.outbox import Delivery, register, schedule_job
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.allocation import order_policy
from aftersail.orders.models import OrderStatus
from aftersail.orders.rules import RELEASE_TOPIC, release_job_key

RELEASE_ACTOR = "system:release-window"
RELEASABLE = frozenset({OrderStatus.ALLOCATED, OrderStatus.BACKORDERED})


@register("live.order", name="orders.schedule_release")
async def schedule_release(session: AsyncSession, delivery: Delivery) -> None:
    """An order was changed: if the tenant has a window, make sure its release job exists."""
    order_id = delivery.payload.get("order_id")
    if delivery.tenant_id is None or not isinstance(order_id, int):
        return
    policy = await order_policy(session, delivery.tenant_id)
    if policy.release_after_minutes is None:
        return  # no window: the warehouse releases orders itself
    try:
        order = await orders.access_order(session, delivery.tenant_id, order_id)
    except NotFound:
        return
    due_at = policy.release_due_at(order.placed_at)
    if due_at is None or order.status not in RELEASABLE:
        return
    await schedule_job(
        session,
        RELEASE_TOPIC,
        {"order_id": order.id},
        due_at,
        delivery.tenant_id,
        dedupe_key=release_job_key(delivery.tenant_id, order.id),
    )


@register(RELEASE_TOPIC, name="orders.release_when_window_ends")
async def release_when_window_ends(session: AsyncSession, delivery: Delivery) -> None:
    """The window has passed: release the order unless it was cancelled or released meanwhile. If the
    tenant lengthened its window since, wait for the new end; if it removed it, the warehouse decides."""
    order_id = delivery.payload.get("order_id")
    if delivery.tenant_id is None or not isinstance(order_id, int):
        return
    try:
        order = await orders.access_order(session, delivery.tenant_id, order_id)
    except NotFound:
        return
    if order.status not in RELEASABLE:
        return
    due_at = (await order_policy(session, delivery.tenant_id)).release_due_at(order.placed_at)
    if due_at is None:
        return
    if due_at > utcnow():
        await schedule_job(
            session,
            RELEASE_TOPIC,
            {"order_id": order.id},
            due_at,
            delivery.tenant_id,
            dedupe_key=f"{release_job_key(delivery.tenant_id, order.id)}:{due_at.isoformat()}",
        )
        return
    await changes.do_release_for_picking(session, order, actor=RELEASE_ACTOR)
