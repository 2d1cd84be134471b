"""HTTP routes of the catalog domain: products, SKUs, bundles, batches, warehouses, lanes and stock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aftersail.catalog import adjustments, batches, stock
from aftersail.catalog import service as catalog
from aftersail.catalog.models import Product, StockMovementKind
from aftersail.catalog.schemas import (
    BatchCreate,
    BatchOut,
    BundleComponentOut,
    BundleSet,
    LaneCreate,
    LaneOut,
    ProductCreate,
    ProductOut,
    SkuCreate,
    SkuOut,
    StockAdjustmentIn,
    StockAdjustmentOut,
    StockMovementOut,
    StockOut,
    StockSet,
    StockSnapshotIn,
    StockSnapshotOut,
    WarehouseCreate,
    WarehouseOut,
)
from aftersail.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aftersail.kit.validation import Paged, PathId, QueryId, query_text
from aftersail.web.deps import CatalogWriter, Reader, SessionDep, StockWriter

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, query_text(200)]


async def _products_out(session: SessionDep, tenant_id: int, products: list[Product]) -> list[ProductOut]:
    skus = await catalog.skus_of_products(session, tenant_id, [p.id for p in products])
    return [
        ProductOut.model_validate(p).model_copy(
            update={"skus": [SkuOut.model_validate(s) for s in skus[p.id]]}
        )
        for p in products
    ]


@router.post("/products", status_code=201, response_model=ProductOut, tags=["catalog"])
async def create_product(body: ProductCreate, session: SessionDep, principal: CatalogWriter) -> ProductOut:
    """Create a product with its SKUs (variants) in one call."""
    product, _ = await catalog.do_create_product(session, principal.tenant_id, body)
    return (await _products_out(session, principal.tenant_id, [product]))[0]


@router.get("/products", response_model=Paged[ProductOut], tags=["catalog"])
async def list_products(
    session: SessionDep,
    principal: Reader,
    category: Annotated[str | None, query_text(80)] = None,
    q: Annotated[str | None, query_text(200, "Part of the title or handle")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[ProductOut]:
    page = await catalog.list_products(
        session, principal.tenant_id, category=category, q=q, cursor=cursor, limit=limit
    )
    items = await _products_out(session, principal.tenant_id, list(page.items))
    return Paged[ProductOut](items=items, next_cursor=page.next_cursor)


@router.get("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
async def get_product(product_id: PathId, session: SessionDep, principal: Reader) -> ProductOut:
    product = await catalog.access_product(session, principal.tenant_id, product_id)
    return (await _products_out(session, principal.tenant_id, [product]))[0]


@router.post("/products/{product_id}/skus", status_code=201, response_model=SkuOut, tags=["catalog"])
async def add_sku(
    product_id: PathId, body: SkuCreate, session: SessionDep, principal: CatalogWriter
) -> SkuOut:
    """Add one more SKU (variant) to an existing product."""
    product = await catalog.access_product(session, principal.tenant_id, product_id)
    [sku] = await catalog.do_add_skus(session, principal.tenant_id, product, [body], field_prefix="sku")
    return SkuOut.model_validate(sku)


@router.get("/skus", response_model=Paged[SkuOut], tags=["catalog"])
async def list_skus(
    session: SessionDep,
    principal: Reader,
    product_id: QueryId = None,
    category: Annotated[str | None, query_text(80)] = None,
    code: Annotated[str | None, query_text(80)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[SkuOut]:
    page = await catalog.list_skus(
        session,
        principal.tenant_id,
        product_id=product_id,
        category=category,
        code=code,
        cursor=cursor,
        limit=limit,
    )
    return Paged[SkuOut](items=[SkuOut.model_validate(s) for s in page.items], next_cursor=page.next_cursor)


@router.get("/skus/{sku_id}", response_model=SkuOut, tags=["catalog"])
async def get_sku(sku_id: PathId, session: SessionDep, principal: Reader) -> SkuOut:
    return SkuOut.model_validate(await catalog.access_sku(session, principal.tenant_id, sku_id))


@router.post("/skus/{sku_id}/components", response_model=list[BundleComponentOut], tags=["catalog"])
async def set_bundle_components(
    sku_id: PathId, body: BundleSet, session: SessionDep, principal: CatalogWriter
) -> list[BundleComponentOut]:
    """Make this SKU a bundle (kit) of the given component SKUs, replacing any earlier list."""
    rows = await catalog.do_set_bundle_components(session, principal.tenant_id, sku_id, body.components)
    return [BundleComponentOut(sku_id=s.id, code=s.code, title=s.title, quantity=c.quantity) for c, s in rows]


@router.get("/skus/{sku_id}/components", response_model=list[BundleComponentOut], tags=["catalog"])
async def get_bundle_components(
    sku_id: PathId, session: SessionDep, principal: Reader
) -> list[BundleComponentOut]:
    rows = await catalog.bundle_components(session, principal.tenant_id, sku_id)
    return [BundleComponentOut(sku_id=s.id, code=s.code, title=s.title, quantity=c.quantity) for c, s in rows]


@router.post("/skus/{sku_id}/batches", status_code=201, response_model=BatchOut, tags=["catalog"])
async def create_batch(
    sku_id: PathId, body: BatchCreate, session: SessionDep, principal: CatalogWriter
) -> BatchOut:
    return BatchOut.model_validate(await batches.do_create_batch(session, principal.tenant_id, sku_id, body))


@router.get("/skus/{sku_id}/batches", response_model=list[BatchOut], tags=["catalog"])
async def list_batches(sku_id: PathId, session: SessionDep, principal: Reader) -> list[BatchOut]:
    return [
        BatchOut.model_validate(b) for b in await batches.list_batches(session, principal.tenant_id, sku_id)
    ]


@router.post("/warehouses", status_code=201, response_model=WarehouseOut, tags=["warehouses"])
async def create_warehouse(
    body: WarehouseCreate, session: SessionDep, principal: CatalogWriter
) -> WarehouseOut:
    return WarehouseOut.model_validate(await catalog.do_create_warehouse(session, principal.tenant_id, body))


@router.get("/warehouses", response_model=list[WarehouseOut], tags=["warehouses"])
async def list_warehouses(session: SessionDep, principal: Reader) -> list[WarehouseOut]:
    return [
        WarehouseOut.model_validate(w) for w in await catalog.list_warehouses(session, principal.tenant_id)
    ]


@router.get("/warehouses/{warehouse_id}", response_model=WarehouseOut, tags=["warehouses"])
async def get_warehouse(warehouse_id: PathId, session: SessionDep, principal: Reader) -> WarehouseOut:
    return WarehouseOut.model_validate(
        await catalog.access_warehouse(session, principal.tenant_id, warehouse_id)
    )


@router.post("/lanes", status_code=201, response_model=LaneOut, tags=["warehouses"])
async def create_lane(body: LaneCreate, session: SessionDep, principal: CatalogWriter) -> LaneOut:
    """A shipping lane from one of your warehouses to a destination country."""
    return LaneOut.model_validate(await catalog.do_create_lane(session, principal.tenant_id, body))


@router.get("/lanes", response_model=list[LaneOut], tags=["warehouses"])
async def list_lanes(
    session: SessionDep,
    principal: Reader,
    warehouse_id: QueryId = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
) -> list[LaneOut]:
    lanes = await catalog.list_lanes(session, principal.tenant_id, warehouse_id=warehouse_id, country=country)
    return [LaneOut.model_validate(lane) for lane in lanes]


@router.get("/stock", response_model=Paged[StockOut], tags=["stock"])
async def list_stock(
    session: SessionDep,
    principal: Reader,
    warehouse_id: QueryId = None,
    sku_id: QueryId = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[StockOut]:
    page = await stock.list_stock(
        session, principal.tenant_id, warehouse_id=warehouse_id, sku_id=sku_id, cursor=cursor, limit=limit
    )
    return Paged[StockOut](items=[StockOut.of(s) for s in page.items], next_cursor=page.next_cursor)


@router.put("/stock", response_model=StockOut, tags=["stock"])
async def set_stock(body: StockSet, session: SessionDep, principal: StockWriter) -> StockOut:
    """Set the on-hand count of one warehouse/SKU/batch slot (created when new): a one-line stock snapshot,
    recorded as a stock movement. Refused with 409 when the new count is below the units already reserved
    for orders."""
    level = await stock.do_set_stock(session, principal.tenant_id, body, source=principal.actor)
    return StockOut.of(level)


@router.post("/stock/snapshots", response_model=StockSnapshotOut, tags=["stock"])
async def take_stock_snapshot(
    body: StockSnapshotIn, session: SessionDep, principal: StockWriter
) -> StockSnapshotOut:
    """A warehouse's counts for some SKUs/batches (by id or code; an unknown batch code is created).

    Each line sets on-hand to the count and records a `snapshot` stock movement with the difference. A line
    counting fewer units than orders have already reserved is **rejected**: on-hand stays, and a
    `stock.discrepancy` event asks someone to look; the other lines still apply. The answer reports every
    line (`created`, `changed`, `unchanged` or `rejected`, before/after figures). Unknown warehouse, SKU or
    batch refuses the whole snapshot with 422. Levels at or below their low-stock threshold afterwards raise
    `stock.low` (or `stock.sold_out` at zero)."""
    return await stock.do_take_snapshot(session, principal.tenant_id, body, source=principal.actor)


@router.post("/stock/adjustments", status_code=201, response_model=StockAdjustmentOut, tags=["stock"])
async def adjust_stock(
    body: StockAdjustmentIn, session: SessionDep, principal: StockWriter
) -> StockAdjustmentOut:
    """Add or remove on-hand units of one slot with a reason: `damaged` (removes), `found` and `returned`
    (add), `correction` (either way). Name the slot by `stock_level_id`, or by `warehouse_id` + `sku_id`
    (+ `batch_id`; a positive adjustment creates a slot that does not exist yet). Refused with 409 when it
    would leave fewer units on hand than orders have reserved. Recorded as an `adjustment` stock movement."""
    level, movement = await adjustments.do_adjust_stock(
        session, principal.tenant_id, body, source=principal.actor
    )
    return StockAdjustmentOut(stock=StockOut.of(level), movement=StockMovementOut.model_validate(movement))


@router.get("/stock/movements", response_model=Paged[StockMovementOut], tags=["stock"])
async def list_stock_movements(
    session: SessionDep,
    principal: Reader,
    stock_level_id: QueryId = None,
    warehouse_id: QueryId = None,
    sku_id: QueryId = None,
    kind: StockMovementKind | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[StockMovementOut]:
    """Why stock changed, newest first: counts (`snapshot`), `adjustment`s, and reservations as they are
    recorded. Filter by one stock level, or by warehouse and/or SKU."""
    page = await stock.list_movements(
        session,
        principal.tenant_id,
        stock_level_id=stock_level_id,
        warehouse_id=warehouse_id,
        sku_id=sku_id,
        kind=kind,
        cursor=cursor,
        limit=limit,
    )
    return Paged[StockMovementOut](
        items=[StockMovementOut.model_validate(m) for m in page.items], next_cursor=page.next_cursor
    )
