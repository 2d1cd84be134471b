"""How an intake batch writes through the ORM (SQLite, and the idempotency keys on both dialects), one
multi-row statement each: idempotency keys, new customers, orders (a generated number that is taken is
drawn again), lines, parcels with their allocations and allocation lines, and the audit trail. The rows
come from `intake_rows`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.db import dialect_insert
from aftersail.kit.errors import Conflict
from aftersail.orders.intake_batch import (
    BUYER_COLUMNS,
    BatchOrder,
    Deferred,
    NumberRaced,
    Outcome,
    table_of,
)
from aftersail.orders.intake_rows import (
    Ident,
    WrittenAllocation,
    allocation_line_values,
    allocation_values,
    assign_groups,
    event_values,
    group_values,
    line_values,
    new_number,
    number_day,
    order_values,
    renumber_lines,
    wanted_plans,
)
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    Customer,
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentGroup,
)
from aftersail.orders.rules import OrderPolicy
from aftersail.orders.schemas import CustomerOut

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


async def finish_keys(session: AsyncSession, batch: list[BatchOrder]) -> None:
    keyed = [{"row": o.key_row_id, "order": o.order_id} for o in batch if o.key_row_id is not None]
    if keyed:
        table = table_of(IdempotencyKey)
        await session.execute(
            update(table).where(table.c.id == bindparam("row")).values(resource_id=bindparam("order")),
            keyed,
        )
