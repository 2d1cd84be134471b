"""What an intake batch tells: the Live board and alerts through the outbox (one `live.orders` and one
`live.stock` event per batch), and each caller its order as GET /orders/{id} would show it, built from
the rows just written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Batch, Sku
from aftersail.catalog.reservations import StockAfter
from aftersail.catalog.stock_events import level_payload, stock_alerts
from aftersail.kit.outbox import emit_many, schedule_new_jobs
from aftersail.orders.intake_batch import BatchOrder, Placed, World, order_status, order_total
from aftersail.orders.intake_rows import WrittenAllocation
from aftersail.orders.models import AllocationStatus
from aftersail.orders.rules import RELEASE_TOPIC, OrderPolicy, release_job_key
from aftersail.orders.schemas import (
    CustomerOut,
)

Job = tuple[str, dict[str, Any], datetime, str]  # (topic, payload, due at, dedupe key)


async def announce(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    after: Sequence[StockAfter],
    policy: OrderPolicy,
    now: datetime,
) -> None:
    """The batch's outbox events, in this order: `live.orders`, `live.stock` and the stock alerts, the
    release jobs."""
    placed, jobs = order_announcements(tenant_id, batch, policy, now)
    await emit_many(session, [placed, *stock_announcements(batch, after, now)], tenant_id=tenant_id)
    await schedule_new_jobs(session, jobs, tenant_id=tenant_id)


def order_announcements(
    tenant_id: int, batch: list[BatchOrder], policy: OrderPolicy, now: datetime
) -> tuple[tuple[str, dict[str, Any]], list[Job]]:
    """The Live board hears of the batch's orders after commit (`live.orders`); when the tenant has a
    cooling-off window, the jobs that release each order when it ends (`orders.tasks`)."""
    placed = []
    for order in batch:
        assert order.plan is not None
        placed.append(
            {
                "order_id": order.order_id,
                "number": order.number,
                "live_session_id": order.data.live_session_id,
                "status": order_status(order.plan).value,
                "country": order.data.shipping_address.country,
                "total_minor": order_total(order.data),
                "currency": order.data.currency,
                "placed_at": (order.data.placed_at or now).isoformat(),
                "host": order.host,
                "lines": [
                    {"sku_id": sku.id, "quantity": line.quantity}
                    for line, sku in zip(order.data.lines, order.skus, strict=True)
                ],
                "warehouses": [w.warehouse_id for w in order.plan.warehouses],
            }
        )
    releases = [
        (RELEASE_TOPIC, {"order_id": o.order_id}, due, release_job_key(tenant_id, o.order_id))
        for o in batch
        if (due := policy.release_due_at(o.data.placed_at or now)) is not None
    ]
    return ("live.orders", {"orders": placed}), releases


def stock_heading(batch: list[BatchOrder], now: datetime) -> dict[str, Any]:
    """The `live.stock` payload of a batch but its levels."""
    sessions = {o.data.live_session_id for o in batch}
    return {
        "order_ids": [o.order_id for o in batch],
        "live_session_id": next(iter(sessions)) if len(sessions) == 1 else None,
        "at": now.isoformat(),
    }


def stock_announcements(
    batch: list[BatchOrder], after: Sequence[StockAfter], now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """The Live board hears of the stock rows the batch moved (`live.stock`); rows at or below their
    threshold raise `stock.low`, or `stock.sold_out` at zero. (On PostgreSQL the write statement builds
    the same payloads from the rows it moves: `intake_pg`.)"""
    if not after:
        return []
    levels = {"levels": [level_payload(level) for level in after]}
    return [("live.stock", stock_heading(batch, now) | levels), *stock_alerts(after)]


async def build_answers(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    written: dict[int, list[WrittenAllocation]],
    world: World,
    now: datetime,
) -> dict[int, Placed]:
    """`answer_orders`, looking up the codes of bundle components and batches the batch picked."""
    codes = {sku.id: sku.code for order in batch for sku in order.skus}
    picked = [line for allocations in written.values() for a in allocations for line in a.lines]
    unknown = {line["sku_id"] for line in picked} - codes.keys()
    if unknown:
        codes.update(
            dict(
                (
                    await session.execute(
                        select(Sku.id, Sku.code).where(Sku.tenant_id == tenant_id, Sku.id.in_(unknown))
                    )
                ).all()
            )
        )
    batch_ids = {line["batch_id"] for line in picked if line["batch_id"] is not None}
    batch_codes: dict[int, str] = {}
    if batch_ids:
        batch_codes = dict(
            (
                await session.execute(
                    select(Batch.id, Batch.code).where(Batch.tenant_id == tenant_id, Batch.id.in_(batch_ids))
                )
            ).all()
        )
    return answer_orders(batch, written, world, codes, batch_codes, now)


def answer_orders(
    batch: list[BatchOrder],
    written: dict[int, list[WrittenAllocation]],
    world: World,
    codes: dict[int, str],
    batch_codes: dict[int, str],
    now: datetime,
) -> dict[int, Placed]:
    """Each order as GET /orders/{id} would show it, built from what was just written, as plain data in
    the shape and field order of `OrderDetailOut` (serialised as it is, it gives the model's JSON; the
    values are the rows themselves, checked when they were written). `codes` and `batch_codes` name every
    SKU and batch the allocations picked."""
    answers = {}
    for order in batch:
        data, plan, customer = order.data, order.plan, order.customer
        assert plan is not None and isinstance(customer, CustomerOut)
        currency = data.currency
        answer = {
            "id": order.order_id,
            "number": order.number,
            "customer_id": customer.id,
            "channel": data.channel,
            "status": order_status(plan),
            "currency": currency,
            "total_minor": order_total(data),
            "shipping_address": data.shipping_address.model_dump(),
            "country": data.shipping_address.country,
            "live_session_id": data.live_session_id,
            "host": order.host,
            "external_ref": data.external_ref,
            "placed_at": data.placed_at or now,
            "released_at": None,
            "cancelled_at": None,
            "created_at": now,
            "customer": {name: getattr(customer, name) for name in _CUSTOMER_FIELDS},
            "lines": [
                {
                    "id": line_id,
                    "sku_id": sku.id,
                    "sku_code": sku.code,
                    "sku_title": sku.title,
                    "quantity": line.quantity,
                    "backordered_quantity": plan.backordered.get(line_id, 0),
                    "unit_price_minor": line.unit_price_minor,
                    "currency": currency,
                    "total_minor": line.unit_price_minor * line.quantity,
                }
                for line, sku, line_id in zip(data.lines, order.skus, order.line_ids, strict=True)
            ],
            "allocations": [
                {
                    "id": a.allocation_id,
                    "warehouse_id": a.warehouse_id,
                    "warehouse_code": world.warehouses[a.warehouse_id][0],
                    "warehouse_name": world.warehouses[a.warehouse_id][1],
                    "status": AllocationStatus.RESERVED,
                    "reason": a.reason,
                    "transit_days": a.transit_days,
                    "shipment_group_id": a.group_id,
                    "created_at": now,
                    "lines": [
                        {
                            "order_line_id": line["order_line_id"],
                            "sku_id": line["sku_id"],
                            "sku_code": codes[line["sku_id"]],
                            "batch_id": line["batch_id"],
                            "batch_code": batch_codes.get(line["batch_id"]) if line["batch_id"] else None,
                            "quantity": line["quantity"],
                        }
                        for line in a.lines
                    ],
                }
                for a in written.get(order.index, [])
            ],
        }
        answers[order.index] = Placed(order.order_id, answer)
    return answers


_CUSTOMER_FIELDS = tuple(CustomerOut.model_fields)
