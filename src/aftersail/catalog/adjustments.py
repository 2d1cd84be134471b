"""Adjustments (调整) of on-hand stock by a warehouse: damaged goods out, found or returned goods in,
corrections either way — each one conditional UPDATE that never takes available units below zero, and one
`StockMovement` row with the reason. Counts (snapshots) are in `catalog.stock`.

Every query filters by `tenant_id`. Services flush; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import StockLevel, StockMovement, StockMovementKind
from aftersail.catalog.reservations import StockAfter
from aftersail.catalog.schemas import SnapshotLineIn, StockAdjustmentIn
from aftersail.catalog.stock import (
    LEVEL_FIGURES,
    MAX_ON_HAND,
    create_slot,
    flat_field,
    movement_row,
    resolve_counts,
    slot_id,
)
from aftersail.catalog.stock_events import announce_levels
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput


async def _adjusted_slot(session: AsyncSession, tenant_id: int, data: StockAdjustmentIn) -> int | None:
    if data.stock_level_id is not None:
        level_id = await session.scalar(
            select(StockLevel.id).where(
                StockLevel.tenant_id == tenant_id, StockLevel.id == data.stock_level_id
            )
        )
        if level_id is None:
            raise InvalidInput("no such stock level", field="stock_level_id")
        return level_id
    assert data.warehouse_id is not None and data.sku_id is not None  # the schema requires both
    warehouse = await catalog.referenced_warehouse(session, tenant_id, data.warehouse_id)
    line = SnapshotLineIn(sku_id=data.sku_id, batch_id=data.batch_id, on_hand=0)
    [count] = await resolve_counts(session, tenant_id, [line], flat_field)
    level_id = await slot_id(session, tenant_id, warehouse.id, count.sku.id, count.batch_id)
    if level_id is None and data.delta > 0:
        level = await create_slot(session, tenant_id, warehouse.id, count, 0)
        level_id = (
            level.id
            if level
            else await slot_id(session, tenant_id, warehouse.id, count.sku.id, count.batch_id)
        )
    return level_id


async def do_adjust_stock(
    session: AsyncSession, tenant_id: int, data: StockAdjustmentIn, *, source: str
) -> tuple[StockLevel, StockMovement]:
    """Add or remove on-hand units with a reason; refused (`Conflict`) when fewer units would be left than
    orders have reserved. A slot that does not exist yet is created by a positive adjustment."""
    level_id = await _adjusted_slot(session, tenant_id, data)
    if level_id is None:
        raise Conflict("nothing of this SKU is in stock there: there are no units to remove", field="delta")
    row = (
        await session.execute(
            update(StockLevel)
            .where(
                StockLevel.tenant_id == tenant_id,
                StockLevel.id == level_id,
                StockLevel.on_hand + data.delta - StockLevel.reserved >= 0,
                StockLevel.on_hand + data.delta <= MAX_ON_HAND,
            )
            .values(on_hand=StockLevel.on_hand + data.delta, updated_at=utcnow())
            .returning(*LEVEL_FIGURES)
            .execution_options(synchronize_session=False)
        )
    ).first()
    level = await session.get(StockLevel, level_id, populate_existing=True)
    assert level is not None
    if row is None:
        if level.on_hand + data.delta > MAX_ON_HAND:
            raise InvalidInput(f"on-hand would exceed {MAX_ON_HAND:,} units", field="delta")
        available = level.on_hand - level.reserved
        raise Conflict(
            f"removing {-data.delta} units would leave less than nothing available: {available} available "
            f"({level.on_hand} on hand, {level.reserved} reserved for orders)",
            field="delta",
            available=available,
        )
    after = StockAfter(level_id, *row)
    reason = data.reason.value + (f": {data.note}" if data.note else "")
    movement = movement_row(
        tenant_id, level_id, StockMovementKind.ADJUSTMENT, data.delta, after, reason, source
    )
    session.add(movement)
    await session.flush()
    await announce_levels(session, tenant_id, [after], cause="adjustment")
    return level, movement
