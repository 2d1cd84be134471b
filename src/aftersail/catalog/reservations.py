"""Reserving and releasing stock for allocations: the only code that moves `stock_levels.reserved`.

Each reservation is one conditional UPDATE per stock row (`… WHERE on_hand - reserved >= :n`), taken in
stock-row id order so that two transactions touching the same rows queue instead of deadlocking; the CHECK
constraints stand behind it. A row whose free units ran out under us makes `do_reserve` raise
`StockContended`, and the caller re-plans from a fresh read.

On PostgreSQL the rows of one reservation move in a single statement (one round trip): a CTE locks them
`FOR UPDATE` in id order, then the same conditional UPDATE runs on each. `allocation_inputs` reads the
serving warehouses and their free stock in one query for an order's first plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import (
    Batch,
    BundleComponent,
    Lane,
    StockLevel,
    StockMovement,
    StockMovementKind,
    Warehouse,
    WarehouseCapability,
)
from aftersail.catalog.rules import StockSlot, WarehouseOption
from aftersail.kit.clock import utcnow
from aftersail.kit.db import driver_connection, on_postgres
from aftersail.kit.errors import Conflict


class StockContended(Conflict):
    """Free stock changed between the read and the reservation; re-plan and try again."""

    code = "stock_contended"


@dataclass(frozen=True, slots=True)
class StockAfter:
    """A stock row's figures right after a reservation moved it."""

    stock_level_id: int
    warehouse_id: int
    sku_id: int
    on_hand: int
    reserved: int
    low_stock_threshold: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


async def serving_options(session: AsyncSession, tenant_id: int, country: str) -> list[WarehouseOption]:
    """Active fulfilment warehouses with a lane to `country`."""
    rows = await session.execute(
        select(
            Warehouse.id, Warehouse.name, Warehouse.capabilities, Lane.transit_days_median, Lane.cost_minor
        )
        .join(Lane, and_(Lane.warehouse_id == Warehouse.id, Lane.tenant_id == tenant_id))
        .where(
            Warehouse.tenant_id == tenant_id, Warehouse.is_active.is_(True), Lane.country == country.upper()
        )
    )
    return [
        WarehouseOption(warehouse_id, _short_name(name), transit, cost)
        for warehouse_id, name, capabilities, transit, cost in rows.all()
        if WarehouseCapability.FULFILMENT.value in (capabilities or [WarehouseCapability.FULFILMENT.value])
    ]


def _short_name(name: str) -> str:
    """ "Frankfurt (Raunheim)" → "Frankfurt" for reasons people read at a glance."""
    return name.split(" (", 1)[0]


async def free_slots(
    session: AsyncSession,
    tenant_id: int,
    warehouse_ids: Iterable[int],
    sku_ids: Iterable[int],
    *,
    lock: bool = False,
) -> list[StockSlot]:
    """Stock rows with free units. With `lock`, the rows are also locked (`FOR UPDATE`, in id order) until
    the transaction ends, so a reservation planned on them cannot lose a race (PostgreSQL; SQLite's writer
    lock already serialises)."""
    warehouse_ids, sku_ids = list(warehouse_ids), list(sku_ids)
    if not warehouse_ids or not sku_ids:
        return []
    query = (
        select(
            StockLevel.id,
            StockLevel.warehouse_id,
            StockLevel.sku_id,
            StockLevel.on_hand - StockLevel.reserved,
            StockLevel.batch_id,
            Batch.expires_on,
            Batch.received_at,
            Batch.manufactured_on,
        )
        .outerjoin(Batch, and_(Batch.id == StockLevel.batch_id, Batch.tenant_id == tenant_id))
        .where(
            StockLevel.tenant_id == tenant_id,
            StockLevel.warehouse_id.in_(warehouse_ids),
            StockLevel.sku_id.in_(sku_ids),
            StockLevel.on_hand > StockLevel.reserved,
        )
    )
    if lock:
        query = query.order_by(StockLevel.id).with_for_update(of=StockLevel)
    return [_slot(*row) for row in await session.execute(query)]


def _slot(
    level_id: int,
    warehouse_id: int,
    sku_id: int,
    available: int,
    batch_id: int | None,
    expires_on: date | None,
    received_at: datetime | None,
    made_on: date | None,
) -> StockSlot:
    # First in = received first; a batch without a receipt date counts from when it was made.
    received_on = received_at.date() if received_at else made_on
    return StockSlot(level_id, warehouse_id, sku_id, available, batch_id, expires_on, received_on)


async def allocation_inputs(
    session: AsyncSession, tenant_id: int, country: str, sku_ids: Iterable[int]
) -> tuple[list[WarehouseOption], list[StockSlot]]:
    """`serving_options` and their `free_slots` for `sku_ids`, in one query (an order's first plan)."""
    sku_ids = list(sku_ids)
    if not sku_ids:
        return await serving_options(session, tenant_id, country), []
    rows = await session.execute(
        select(
            Warehouse.id,
            Warehouse.name,
            Warehouse.capabilities,
            Lane.transit_days_median,
            Lane.cost_minor,
            StockLevel.id,
            StockLevel.sku_id,
            StockLevel.on_hand - StockLevel.reserved,
            StockLevel.batch_id,
            Batch.expires_on,
            Batch.received_at,
            Batch.manufactured_on,
        )
        .select_from(Warehouse)
        .join(Lane, and_(Lane.warehouse_id == Warehouse.id, Lane.tenant_id == tenant_id))
        .outerjoin(
            StockLevel,
            and_(
                StockLevel.warehouse_id == Warehouse.id,
                StockLevel.tenant_id == tenant_id,
                StockLevel.sku_id.in_(sku_ids),
                StockLevel.on_hand > StockLevel.reserved,
            ),
        )
        .outerjoin(Batch, and_(Batch.id == StockLevel.batch_id, Batch.tenant_id == tenant_id))
        .where(
            Warehouse.tenant_id == tenant_id, Warehouse.is_active.is_(True), Lane.country == country.upper()
        )
        .order_by(Warehouse.id, StockLevel.id)
    )
    options: dict[int, WarehouseOption] = {}
    slots = []
    fulfilment = WarehouseCapability.FULFILMENT.value
    for row in rows:
        warehouse_id, name, capabilities, transit, cost, level_id = row[:6]
        if fulfilment not in (capabilities or [fulfilment]):
            continue
        if warehouse_id not in options:
            options[warehouse_id] = WarehouseOption(warehouse_id, _short_name(name), transit, cost)
        if level_id is not None:
            sku_id, available, batch_id, expires_on, received_at, made_on = row[6:]
            slots.append(
                _slot(level_id, warehouse_id, sku_id, available, batch_id, expires_on, received_at, made_on)
            )
    return list(options.values()), slots


async def bundle_map(
    session: AsyncSession, tenant_id: int, sku_ids: Iterable[int]
) -> dict[int, list[tuple[int, int]]]:
    """Bundle SKU id → [(component SKU id, units per bundle)] for those of `sku_ids` that are bundles."""
    rows = await session.execute(
        select(BundleComponent.bundle_sku_id, BundleComponent.component_sku_id, BundleComponent.quantity)
        .where(BundleComponent.tenant_id == tenant_id, BundleComponent.bundle_sku_id.in_(list(sku_ids)))
        .order_by(BundleComponent.bundle_sku_id, BundleComponent.component_sku_id)
    )
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in rows.all():
        components[bundle_id].append((component_id, quantity))
    return dict(components)


def _merged(moves: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    total: dict[int, int] = defaultdict(int)
    for stock_level_id, units in moves:
        total[stock_level_id] += units
    return sorted(total.items())  # id order: the lock order every transaction shares


def all_or_nothing(ids: str, units: str, tenant: str) -> str:
    """The CTEs `wanted`, `locked` and `verdict` of a statement that reserves stock all or nothing:
    `ids` and `units` (SQL expressions: bigint[] and integer[]) name the rows and units wanted, `tenant`
    their tenant. `locked` locks the rows in id order (the order every transaction shares); `verdict.ok`
    says whether every one still has its units. The statement moves the rows only if it is true."""
    return f"""
WITH wanted AS (
    SELECT * FROM unnest({ids}, {units}) AS w (id, units)
), locked AS (
    SELECT s.id, s.on_hand - s.reserved >= w.units AS enough
    FROM stock_levels AS s JOIN wanted AS w ON w.id = s.id
    WHERE s.tenant_id = {tenant}
    ORDER BY s.id
    FOR UPDATE OF s
), verdict AS (
    SELECT count(*) FILTER (WHERE enough) = (SELECT count(*) FROM wanted) AS ok FROM locked
)"""


# Move the rows if every one still has the units, else none (RETURNING is then empty). Runs on the
# driver, inside the caller's transaction or savepoint, whose rollback releases the locks of a lost
# attempt.
RESERVE_ROWS = (
    all_or_nothing("$2::bigint[]", "$3::integer[]", "$1")
    + """
UPDATE stock_levels AS s
SET reserved = s.reserved + w.units, updated_at = $4
FROM wanted AS w
WHERE s.id = w.id AND s.tenant_id = $1 AND (SELECT ok FROM verdict)
RETURNING s.id, s.warehouse_id, s.sku_id, s.on_hand, s.reserved, s.low_stock_threshold
"""
)


async def reserve_on(
    driver: Any, tenant_id: int, moves: Iterable[tuple[int, int]], now: datetime
) -> list[StockAfter]:
    """`do_reserve` on an asyncpg connection in a transaction: all or nothing, `StockContended` if any
    row no longer has the units (the caller rolls back, which also lets go of the rows it locked)."""
    merged = _merged(moves)
    if not merged:
        return []
    rows = await driver.fetch(
        RESERVE_ROWS, tenant_id, [level for level, _ in merged], [units for _, units in merged], now
    )
    moved = {row[0]: StockAfter(*row) for row in rows}
    for stock_level_id, _ in merged:
        if stock_level_id not in moved:
            raise StockContended("stock changed while reserving; try again", stock_level_id=stock_level_id)
    return [moved[stock_level_id] for stock_level_id, _ in merged]


async def do_reserve(
    session: AsyncSession, tenant_id: int, moves: Sequence[tuple[int, int]]
) -> list[StockAfter]:
    """Reserve `units` on each `(stock_level_id, units)`; all or nothing (on a lost race,
    `StockContended`, the caller rolls back to its savepoint)."""
    if on_postgres(session):
        return await reserve_on(await driver_connection(session), tenant_id, moves, utcnow())
    merged = _merged(moves)
    if not merged:
        return []
    after = []
    now = utcnow()
    for stock_level_id, units in merged:
        row = (
            await session.execute(
                update(StockLevel)
                .where(
                    StockLevel.id == stock_level_id,
                    StockLevel.tenant_id == tenant_id,
                    StockLevel.on_hand - StockLevel.reserved >= units,
                )
                .values(reserved=StockLevel.reserved + units, updated_at=now)
                .returning(
                    StockLevel.warehouse_id,
                    StockLevel.sku_id,
                    StockLevel.on_hand,
                    StockLevel.reserved,
                    StockLevel.low_stock_threshold,
                )
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            raise StockContended("stock changed while reserving; try again", stock_level_id=stock_level_id)
        after.append(StockAfter(stock_level_id, *row))
    return after


async def _take_reserved(
    session: AsyncSession, tenant_id: int, stock_level_id: int, units: int, *, leaving: bool, now: datetime
) -> StockAfter | None:
    """Reserved units let go of (`leaving`: they also leave the shelf, in a parcel); None if the row no
    longer holds them."""
    condition = [StockLevel.reserved >= units] + ([StockLevel.on_hand >= units] if leaving else [])
    values: dict[str, Any] = {"reserved": StockLevel.reserved - units, "updated_at": now}
    if leaving:
        values["on_hand"] = StockLevel.on_hand - units
    row = (
        await session.execute(
            update(StockLevel)
            .where(StockLevel.id == stock_level_id, StockLevel.tenant_id == tenant_id, *condition)
            .values(**values)
            .returning(
                StockLevel.warehouse_id,
                StockLevel.sku_id,
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.low_stock_threshold,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    return None if row is None else StockAfter(stock_level_id, *row)


async def do_unreserve(
    session: AsyncSession, tenant_id: int, moves: Sequence[tuple[int, int]]
) -> list[StockAfter]:
    """Give reserved units back (an allocation cancelled or moved)."""
    after = []
    now = utcnow()
    for stock_level_id, units in _merged(moves):
        level = await _take_reserved(session, tenant_id, stock_level_id, units, leaving=False, now=now)
        if level is None:
            raise Conflict(
                "reserved stock is lower than the allocation being released", stock_level_id=stock_level_id
            )
        after.append(level)
    return after


async def do_ship_out(
    session: AsyncSession, tenant_id: int, moves: Sequence[tuple[int, int]], *, source: str
) -> list[StockAfter]:
    """Reserved units leave the warehouse in a parcel: on-hand and reserved both fall, a movement each."""
    after = []
    now = utcnow()
    for stock_level_id, units in _merged(moves):
        level = await _take_reserved(session, tenant_id, stock_level_id, units, leaving=True, now=now)
        if level is None:
            raise Conflict(
                "reserved stock is lower than the parcel being shipped", stock_level_id=stock_level_id
            )
        after.append(level)
        session.add(
            StockMovement(
                tenant_id=tenant_id,
                stock_level_id=stock_level_id,
                kind=StockMovementKind.SHIPPED,
                on_hand_delta=-units,
                reserved_delta=-units,
                on_hand_after=level.on_hand,
                reserved_after=level.reserved,
                reason="shipped",
                source=source,
                created_at=now,
            )
        )
    return after
