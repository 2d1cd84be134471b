"""What an intake batch writes, one multi-row statement each: idempotency keys, new customers, orders (a
generated number that is taken is drawn again), lines, parcels with their allocations and allocation
lines, and the audit trail."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import Conflict
from aftersail.orders.allocation_rows import MAX_REASON
from aftersail.orders.intake_batch import (
    BUYER_COLUMNS,
    BatchOrder,
    Deferred,
    NumberRaced,
    Outcome,
    dialect_insert,
    order_status,
    order_total,
    table_of,
)
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Customer,
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentGroup,
)
from aftersail.orders.rules import OrderPolicy, WarehousePlan, address_key
from aftersail.orders.schemas import CustomerOut

_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # read aloud on the phone: no 0/O, 1/I/L
_NUMBER_ATTEMPTS = 10


async def claim_keys(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    outcomes: list[Outcome | None],
    now: datetime,
) -> bool:
    """Insert the batch's new keys (sorted: two batches claim in one order); a key another transaction
    claimed meanwhile defers its order. True when an order was deferred (the batch is planned again)."""
    keyed = sorted(
        (o for o in batch if o.request.key is not None and outcomes[o.index] is None),
        key=lambda o: (o.request.scope, o.request.key or ""),
    )
    if not keyed:
        return False
    statement = (
        dialect_insert(session, table_of(IdempotencyKey))
        .on_conflict_do_nothing(index_elements=["tenant_id", "scope", "key"])
        .returning(IdempotencyKey.id, IdempotencyKey.scope, IdempotencyKey.key)
    )
    rows = await session.execute(
        statement,
        [
            {
                "tenant_id": tenant_id,
                "scope": o.request.scope,
                "key": o.request.key,
                "request_hash": o.request.digest or "",
                "created_at": now,
            }
            for o in keyed
        ],
    )
    claimed = {(scope, key): row_id for row_id, scope, key in rows}
    deferred = False
    for order in keyed:
        order.key_row_id = claimed.get((order.request.scope, order.request.key or ""))
        if order.key_row_id is None:
            outcomes[order.index] = Deferred()
            deferred = True
    return deferred


async def write_customers(
    session: AsyncSession, tenant_id: int, batch: list[BatchOrder], now: datetime
) -> None:
    """New buyers (one per email in the batch) become customers; orders then hold the row."""
    new: dict[int, dict[str, Any]] = {}
    for order in batch:
        if isinstance(order.customer, dict):
            new.setdefault(id(order.customer), order.customer)
    if not new:
        return
    values = [
        {**fields, "tenant_id": tenant_id, "created_at": now, "updated_at": now} for fields in new.values()
    ]
    rows = await session.execute(
        insert(table_of(Customer)).returning(*BUYER_COLUMNS, sort_by_parameter_order=True), values
    )
    made = dict(zip(new, (CustomerOut(**row._mapping) for row in rows), strict=True))
    for order in batch:
        if isinstance(order.customer, dict):
            order.customer = made[id(order.customer)]


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


async def write_orders(session: AsyncSession, tenant_id: int, batch: list[BatchOrder], now: datetime) -> None:
    """One INSERT for the batch's orders; a generated number that is taken is drawn again."""
    statement = (
        dialect_insert(session, table_of(Order))
        .on_conflict_do_nothing(index_elements=["tenant_id", "number"])
        .returning(table_of(Order).c.id, table_of(Order).c.number)
    )
    day = number_day(now)
    waiting = list(batch)
    for _ in range(_NUMBER_ATTEMPTS):
        for order in waiting:
            order.number = order.data.number or new_number(day)
        values = [order_values(tenant_id, order, now) for order in waiting]
        written = {number: order_id for order_id, number in await session.execute(statement, values)}
        still = []
        for order in waiting:
            if order.number in written:
                order.order_id = written[order.number]
            elif order.data.number is not None:
                raise NumberRaced(f"an order numbered {order.number} already exists", field="number")
            else:
                still.append(order)
        if not still:
            return
        waiting = still
    raise Conflict("could not find a free order number; try again")


async def write_lines(session: AsyncSession, tenant_id: int, batch: list[BatchOrder]) -> dict[int, int]:
    """The orders' lines, with the units left backordered; provisional line id → real id."""
    provisional, values = line_values(tenant_id, batch)
    rows = await session.execute(
        insert(table_of(OrderLine)).returning(table_of(OrderLine).c.id, sort_by_parameter_order=True), values
    )
    real = dict(zip(provisional, rows.scalars().all(), strict=True))
    renumber_lines(batch, real)
    return real


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


async def write_allocations(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    policy: OrderPolicy,
    real: dict[int, int],
    now: datetime,
) -> dict[int, list[WrittenAllocation]]:
    """Parcels, allocations and their lines, one INSERT each; order index → its allocations."""
    wanted = wanted_plans(batch)
    if not wanted:
        return {}
    merge = policy.merge_window_minutes > 0
    open_groups: dict[Ident, int] = {}
    if merge:
        customer_ids = {o.customer.id for o, _ in wanted if isinstance(o.customer, CustomerOut)}
        for group_id, customer_id, warehouse_id, key in await session.execute(
            select(
                ShipmentGroup.id,
                ShipmentGroup.customer_id,
                ShipmentGroup.warehouse_id,
                ShipmentGroup.address_key,
            )
            .where(
                ShipmentGroup.tenant_id == tenant_id,
                ShipmentGroup.customer_id.in_(customer_ids),
                ShipmentGroup.is_open.is_(True),
                ShipmentGroup.closes_at > now,
            )
            .order_by(ShipmentGroup.id)
        ):
            open_groups.setdefault((customer_id, warehouse_id, key), group_id)
    new_groups, refs = assign_groups(wanted, open_groups, merge)
    made: list[int] = []
    if new_groups:
        rows = await session.execute(
            insert(table_of(ShipmentGroup)).returning(
                table_of(ShipmentGroup).c.id, sort_by_parameter_order=True
            ),
            group_values(tenant_id, new_groups, policy, now),
        )
        made = list(rows.scalars().all())
    group_ids = [made[ref] if new else ref for new, ref in refs]
    rows = await session.execute(
        insert(table_of(Allocation)).returning(table_of(Allocation).c.id, sort_by_parameter_order=True),
        allocation_values(tenant_id, wanted, group_ids, now),
    )
    line_values, written = allocation_line_values(tenant_id, wanted, rows.scalars().all(), group_ids, real)
    await session.execute(insert(table_of(AllocationLine)), line_values)
    return written


async def write_events(session: AsyncSession, tenant_id: int, batch: list[BatchOrder], now: datetime) -> None:
    await session.execute(insert(table_of(OrderEvent)), event_values(tenant_id, batch, now))


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


async def finish_keys(session: AsyncSession, batch: list[BatchOrder]) -> None:
    keyed = [{"row": o.key_row_id, "order": o.order_id} for o in batch if o.key_row_id is not None]
    if keyed:
        table = table_of(IdempotencyKey)
        await session.execute(
            update(table).where(table.c.id == bindparam("row")).values(resource_id=bindparam("order")),
            keyed,
        )
