"""The rows an intake batch writes, built the same for both dialects: orders (with a drawn number), lines,
parcels (合并发货: a buyer's orders to one address share the open parcel), allocations and their lines, and
the audit trail. `intake_writes` writes them with the ORM on SQLite, `intake_pg` in one statement on
PostgreSQL."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aftersail.orders.allocation_rows import MAX_REASON
from aftersail.orders.intake_batch import BatchOrder, order_status, order_total
from aftersail.orders.models import AllocationStatus
from aftersail.orders.rules import OrderPolicy, WarehousePlan, address_key
from aftersail.orders.schemas import CustomerOut

_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # read aloud on the phone: no 0/O, 1/I/L


def number_day(now: datetime) -> str:
    return now.strftime("%y%m%d")


def new_number(day: str) -> str:
    return f"AS-{day}-" + "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(5))


def order_values(tenant_id: int, order: BatchOrder, now: datetime) -> dict[str, Any]:
    """The order's row (its number drawn or given already)."""
    data = order.data
    assert order.plan is not None and isinstance(order.customer, CustomerOut)
    return {
        "tenant_id": tenant_id,
        "number": order.number,
        "customer_id": order.customer.id,
        "channel": data.channel,
        "status": order_status(order.plan),
        "currency": data.currency,
        "total_minor": order_total(data),
        "shipping_address": data.shipping_address.model_dump(),
        "country": data.shipping_address.country,
        "live_session_id": data.live_session_id,
        "host": order.host,
        "external_ref": data.external_ref,
        "placed_at": data.placed_at or now,
        "created_at": now,
        "updated_at": now,
    }


def line_values(tenant_id: int, batch: list[BatchOrder]) -> tuple[list[int], list[dict[str, Any]]]:
    """The provisional ids of the batch's lines and their rows (with the units left backordered)."""
    values = []
    provisional = []
    for order in batch:
        assert order.plan is not None
        for line, sku, line_id in zip(order.data.lines, order.skus, order.line_ids, strict=True):
            provisional.append(line_id)
            values.append(
                {
                    "tenant_id": tenant_id,
                    "order_id": order.order_id,
                    "sku_id": sku.id,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "currency": order.data.currency,
                    "backordered_quantity": order.plan.backordered.get(line_id, 0),
                }
            )
    return provisional, values


def renumber_lines(batch: list[BatchOrder], real: dict[int, int]) -> None:
    for order in batch:
        order.line_ids = [real[line_id] for line_id in order.line_ids]
        assert order.plan is not None
        order.plan.backordered = {real[k]: v for k, v in order.plan.backordered.items()}


@dataclass(slots=True)
class WrittenAllocation:
    """An allocation as written, for the answer."""

    allocation_id: int
    warehouse_id: int
    group_id: int
    reason: str
    transit_days: int
    lines: list[dict[str, Any]]


Ident = tuple[int, int, str]  # a parcel stop: (customer id, warehouse id, address key)


def wanted_plans(batch: list[BatchOrder]) -> list[tuple[BatchOrder, WarehousePlan]]:
    """Each (order, warehouse plan) that picks stock, in plan order."""
    return [
        (order, plan)
        for order in batch
        for plan in (order.plan.warehouses if order.plan is not None else [])
        if plan.picks
    ]


def stop_of(order: BatchOrder, plan: WarehousePlan) -> Ident:
    assert isinstance(order.customer, CustomerOut)
    return (order.customer.id, plan.warehouse_id, address_key(order.data.shipping_address.model_dump()))


def assign_groups(
    wanted: list[tuple[BatchOrder, WarehousePlan]], open_groups: dict[Ident, int], merge: bool
) -> tuple[list[Ident], list[tuple[bool, int]]]:
    """The parcels the batch starts, and for each wanted plan its parcel: (new?, the existing parcel's id
    or the index of the new one). While the merge window lasts a buyer's orders to one address share the
    open parcel of each warehouse (合并发货)."""
    new_groups: list[Ident] = []
    started: dict[Ident, int] = {}
    refs: list[tuple[bool, int]] = []
    for order, plan in wanted:
        ident = stop_of(order, plan)
        if merge and ident in open_groups:
            refs.append((False, open_groups[ident]))
        elif merge and ident in started:
            refs.append((True, started[ident]))
        else:
            new_groups.append(ident)
            started[ident] = len(new_groups) - 1
            refs.append((True, len(new_groups) - 1))
    return new_groups, refs


def group_values(
    tenant_id: int, new_groups: list[Ident], policy: OrderPolicy, now: datetime
) -> list[dict[str, Any]]:
    closes_at = now + timedelta(minutes=policy.merge_window_minutes)
    return [
        {
            "tenant_id": tenant_id,
            "warehouse_id": warehouse_id,
            "customer_id": customer_id,
            "address_key": key,
            "is_open": policy.merge_window_minutes > 0,
            "closes_at": closes_at,
            "created_at": now,
            "updated_at": now,
        }
        for customer_id, warehouse_id, key in new_groups
    ]


def allocation_values(
    tenant_id: int, wanted: list[tuple[BatchOrder, WarehousePlan]], group_ids: list[int], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "order_id": order.order_id,
            "warehouse_id": plan.warehouse_id,
            "shipment_group_id": group_id,
            "status": AllocationStatus.RESERVED,
            "reason": plan.reason[:MAX_REASON],
            "transit_days": plan.transit_days,
            "created_at": now,
            "updated_at": now,
        }
        for (order, plan), group_id in zip(wanted, group_ids, strict=True)
    ]


def allocation_line_values(
    tenant_id: int,
    wanted: list[tuple[BatchOrder, WarehousePlan]],
    allocation_ids: Sequence[int],
    group_ids: list[int],
    real: dict[int, int],
) -> tuple[list[dict[str, Any]], dict[int, list[WrittenAllocation]]]:
    """The allocation lines, and order index → its allocations as written, in plan order."""
    written: dict[int, list[WrittenAllocation]] = defaultdict(list)
    values = []
    for (order, plan), allocation_id, group_id in zip(wanted, allocation_ids, group_ids, strict=True):
        lines = [
            {
                "tenant_id": tenant_id,
                "allocation_id": allocation_id,
                "order_line_id": real[pick.order_line_id],
                "stock_level_id": pick.stock_level_id,
                "sku_id": pick.sku_id,
                "batch_id": pick.batch_id,
                "quantity": pick.quantity,
            }
            for pick in plan.picks
        ]
        values += lines
        written[order.index].append(
            WrittenAllocation(
                allocation_id, plan.warehouse_id, group_id, plan.reason[:MAX_REASON], plan.transit_days, lines
            )
        )
    return values, written


def event_values(tenant_id: int, batch: list[BatchOrder], now: datetime) -> list[dict[str, Any]]:
    """Each order's audit trail starts with its creation and its allocation decision."""
    values = []
    for order in batch:
        plan = order.plan
        assert plan is not None
        decided = order_status(plan)
        trail: list[tuple[str, dict[str, Any]]] = [
            ("created", {"channel": order.data.channel.value}),
            (
                decided.value,
                {
                    "summary": plan.summary,
                    "warehouses": [w.reason for w in plan.warehouses],
                    "backordered": {str(k): v for k, v in plan.backordered.items() if v},
                },
            ),
            *order.request.extra_events,
        ]
        values += [
            {
                "tenant_id": tenant_id,
                "order_id": order.order_id,
                "actor": order.request.actor,
                "action": action,
                "details": details,
                "created_at": now,
            }
            for action, details in trail
        ]
    return values
