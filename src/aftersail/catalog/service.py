"""Use cases of the catalog domain: products, SKUs, bundles, batches, warehouses, lanes and stock levels.

Every query filters by `tenant_id`; another tenant's row is `NotFound`. Services flush; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku, StockLevel, Warehouse
from aftersail.kit.errors import NotFound
from aftersail.kit.pagination import Page, paginate


async def list_warehouses(session: AsyncSession, tenant_id: int) -> list[Warehouse]:
    rows = await session.scalars(
        select(Warehouse).where(Warehouse.tenant_id == tenant_id).order_by(Warehouse.code)
    )
    return list(rows.all())


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
    return await paginate(session, query, StockLevel.id, cursor=cursor, limit=limit)


async def access_sku(session: AsyncSession, tenant_id: int, sku_id: int) -> Sku:
    sku = await session.scalar(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id == sku_id))
    if sku is None:
        raise NotFound("SKU not found", field="sku_id")
    return sku
