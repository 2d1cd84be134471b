"""Use cases of inventory: batches (production lots) of SKUs, and the stock level each warehouse holds of a
SKU or one of its batches. Products, SKUs and warehouses themselves are in `catalog.service`.

Every query filters by `tenant_id`; another tenant's row is `NotFound`. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Batch, Sku, StockLevel
from aftersail.catalog.schemas import BatchCreate, StockSet
from aftersail.catalog.service import access_sku, flush_or_conflict, page_of, referenced_warehouse
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.pagination import Page

# --- batches ----------------------------------------------------------------------------------------------


async def do_create_batch(session: AsyncSession, tenant_id: int, sku_id: int, data: BatchCreate) -> Batch:
    sku = await access_sku(session, tenant_id, sku_id)
    if data.manufactured_on and data.expires_on and data.expires_on < data.manufactured_on:
        raise InvalidInput("expires_on: before manufactured_on", field="expires_on")
    if await find_batch(session, tenant_id, sku.id, data.code) is not None:
        raise Conflict(f"{sku.code} already has a batch {data.code!r}", field="code")
    batch = Batch(
        tenant_id=tenant_id,
        sku_id=sku.id,
        code=data.code,
        manufactured_on=data.manufactured_on,
        expires_on=data.expires_on,
        received_at=data.received_at,
    )
    session.add(batch)
    await flush_or_conflict(session, f"{sku.code} already has a batch {data.code!r}", "code")
    return batch


async def find_batch(session: AsyncSession, tenant_id: int, sku_id: int, code: str) -> Batch | None:
    return await session.scalar(
        select(Batch).where(Batch.tenant_id == tenant_id, Batch.sku_id == sku_id, Batch.code == code)
    )


async def batches_by_ids(session: AsyncSession, tenant_id: int, ids: Iterable[int]) -> dict[int, Batch]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Batch).where(Batch.tenant_id == tenant_id, Batch.id.in_(wanted)))
    return {batch.id: batch for batch in rows}


async def list_batches(session: AsyncSession, tenant_id: int, sku_id: int) -> list[Batch]:
    await access_sku(session, tenant_id, sku_id)
    rows = await session.scalars(
        select(Batch).where(Batch.tenant_id == tenant_id, Batch.sku_id == sku_id).order_by(Batch.id)
    )
    return list(rows.all())


# --- stock ------------------------------------------------------------------------------------------------


async def do_set_stock(session: AsyncSession, tenant_id: int, data: StockSet) -> StockLevel:
    """Set on-hand units of one warehouse/SKU/batch slot, creating it; never below what is reserved.

    The update is one conditional statement (`WHERE reserved <= :on_hand`), so a reservation that lands
    between our read and our write cannot be undercut.
    """
    warehouse = await referenced_warehouse(session, tenant_id, data.warehouse_id)
    sku = await session.scalar(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id == data.sku_id))
    if sku is None:
        raise InvalidInput("no such SKU", field="sku_id")
    if data.batch_id is not None:
        batch = await session.scalar(
            select(Batch).where(Batch.tenant_id == tenant_id, Batch.id == data.batch_id)
        )
        if batch is None or batch.sku_id != sku.id:
            raise InvalidInput(f"no such batch of {sku.code}", field="batch_id")
    level = await _stock_slot(session, tenant_id, warehouse.id, sku.id, data.batch_id)
    if level is None:
        level = StockLevel(
            tenant_id=tenant_id,
            warehouse_id=warehouse.id,
            sku_id=sku.id,
            batch_id=data.batch_id,
            on_hand=data.on_hand,
            reserved=0,
            low_stock_threshold=data.low_stock_threshold or 0,
            updated_at=utcnow(),
        )
        try:
            async with session.begin_nested():
                session.add(level)
        except IntegrityError:  # a concurrent writer created the slot first: update theirs
            level = await _stock_slot(session, tenant_id, warehouse.id, sku.id, data.batch_id)
            if level is None:
                raise
        else:
            return level
    values: dict[str, Any] = {"on_hand": data.on_hand, "updated_at": utcnow()}
    if data.low_stock_threshold is not None:
        values["low_stock_threshold"] = data.low_stock_threshold
    result = await session.execute(
        update(StockLevel)
        .where(
            StockLevel.tenant_id == tenant_id, StockLevel.id == level.id, StockLevel.reserved <= data.on_hand
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(level)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict(
            f"on_hand {data.on_hand} is below the {level.reserved} units already reserved",
            field="on_hand",
            reserved=level.reserved,
        )
    return level


async def _stock_slot(
    session: AsyncSession, tenant_id: int, warehouse_id: int, sku_id: int, batch_id: int | None
) -> StockLevel | None:
    batch_match = StockLevel.batch_id.is_(None) if batch_id is None else StockLevel.batch_id == batch_id
    return await session.scalar(
        select(StockLevel).where(
            StockLevel.tenant_id == tenant_id,
            StockLevel.warehouse_id == warehouse_id,
            StockLevel.sku_id == sku_id,
            batch_match,
        )
    )


async def list_stock(
    session: AsyncSession,
    tenant_id: int,
    *,
    warehouse_id: int | None = None,
    sku_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[StockLevel]:
    query = select(StockLevel).where(StockLevel.tenant_id == tenant_id)
    if warehouse_id is not None:
        query = query.where(StockLevel.warehouse_id == warehouse_id)
    if sku_id is not None:
        query = query.where(StockLevel.sku_id == sku_id)
    return await page_of(session, query, StockLevel.id, cursor=cursor, limit=limit)
