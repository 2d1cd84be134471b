"""Use cases of the catalog domain: products, SKUs, bundles, warehouses and lanes (batches and stock levels
are in `catalog.stock`), plus the query helpers other domains' services share.

Every query filters by `tenant_id`; another tenant's row is `NotFound`. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import BundleComponent, Lane, Product, Sku, Warehouse
from aftersail.catalog.schemas import (
    BundleComponentIn,
    LaneCreate,
    ProductCreate,
    SkuCreate,
    WarehouseCreate,
)
from aftersail.kit.errors import Conflict, InvalidInput, NotFound
from aftersail.kit.pagination import Page, decode_cursor, paginate
from aftersail.kit.validation import MAX_ID


async def page_of(
    session: AsyncSession, query: Select[Any], id_column: Any, *, cursor: str | None, limit: int
) -> Page[Any]:
    """`paginate`, refusing a forged cursor whose id would overflow a 64-bit column."""
    if cursor and not 0 < decode_cursor(cursor) <= MAX_ID:
        raise InvalidInput("cursor: not a cursor this API returned", field="cursor")
    return await paginate(session, query, id_column, cursor=cursor, limit=limit)


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def flush_or_conflict(session: AsyncSession, message: str, field: str) -> None:
    """Flush; a unique index that a concurrent writer won is a Conflict, not a server error."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message, field=field) from exc


# --- products and SKUs ------------------------------------------------------------------------------------


async def list_products(
    session: AsyncSession,
    tenant_id: int,
    *,
    category: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Product]:
    query = select(Product).where(Product.tenant_id == tenant_id)
    if category:
        query = query.where(Product.category == category)
    if q and q.strip():
        pattern = f"%{like_escape(q.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Product.title).like(pattern, escape="\\"),
                func.lower(Product.handle).like(pattern, escape="\\"),
            )
        )
    return await page_of(session, query, Product.id, cursor=cursor, limit=limit)


async def access_product(session: AsyncSession, tenant_id: int, product_id: int) -> Product:
    product = await session.scalar(
        select(Product).where(Product.tenant_id == tenant_id, Product.id == product_id)
    )
    if product is None:
        raise NotFound("product not found", field="product_id")
    return product


async def find_product_by_handle(session: AsyncSession, tenant_id: int, handle: str) -> Product | None:
    return await session.scalar(
        select(Product).where(Product.tenant_id == tenant_id, Product.handle == handle)
    )


async def skus_of_products(
    session: AsyncSession, tenant_id: int, product_ids: Iterable[int]
) -> dict[int, list[Sku]]:
    ids = list(product_ids)
    found: dict[int, list[Sku]] = {pid: [] for pid in ids}
    if ids:
        rows = await session.scalars(
            select(Sku).where(Sku.tenant_id == tenant_id, Sku.product_id.in_(ids)).order_by(Sku.id)
        )
        for sku in rows:
            found[sku.product_id].append(sku)
    return found


async def list_skus(
    session: AsyncSession,
    tenant_id: int,
    *,
    product_id: int | None = None,
    category: str | None = None,
    code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Sku]:
    query = select(Sku).where(Sku.tenant_id == tenant_id)
    if product_id is not None:
        query = query.where(Sku.product_id == product_id)
    if category:
        query = query.where(Sku.category == category)
    if code:
        query = query.where(Sku.code == code)
    return await page_of(session, query, Sku.id, cursor=cursor, limit=limit)


async def access_sku(session: AsyncSession, tenant_id: int, sku_id: int) -> Sku:
    sku = await session.scalar(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id == sku_id))
    if sku is None:
        raise NotFound("SKU not found", field="sku_id")
    return sku


async def find_skus_by_code(session: AsyncSession, tenant_id: int, codes: Iterable[str]) -> dict[str, Sku]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = await session.scalars(select(Sku).where(Sku.tenant_id == tenant_id, Sku.code.in_(wanted)))
    return {sku.code: sku for sku in rows}


async def skus_by_ids(session: AsyncSession, tenant_id: int, ids: Iterable[int]) -> dict[int, Sku]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id.in_(wanted)))
    return {sku.id: sku for sku in rows}


async def do_create_product(
    session: AsyncSession, tenant_id: int, data: ProductCreate
) -> tuple[Product, list[Sku]]:
    """A product and its SKUs; the handle and every SKU code must be new in the tenant."""
    if await find_product_by_handle(session, tenant_id, data.handle) is not None:
        raise Conflict(f"a product with handle {data.handle!r} already exists", field="handle")
    product = Product(
        tenant_id=tenant_id,
        handle=data.handle,
        title=data.title,
        category=data.category,
        brand=data.brand,
        description=data.description,
    )
    session.add(product)
    await flush_or_conflict(session, f"a product with handle {data.handle!r} already exists", "handle")
    skus = await do_add_skus(session, tenant_id, product, data.skus, field_prefix="skus")
    return product, skus


async def do_add_skus(
    session: AsyncSession,
    tenant_id: int,
    product: Product,
    items: Sequence[SkuCreate],
    *,
    field_prefix: str = "skus",
) -> list[Sku]:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.code in seen:
            raise InvalidInput(f"SKU code {item.code!r} appears twice", field=f"{field_prefix}.{index}.code")
        seen.add(item.code)
    existing = await find_skus_by_code(session, tenant_id, seen)
    for index, item in enumerate(items):
        if item.code in existing:
            raise Conflict(
                f"a SKU with code {item.code!r} already exists", field=f"{field_prefix}.{index}.code"
            )
    skus = [
        Sku(
            tenant_id=tenant_id,
            product_id=product.id,
            code=item.code,
            title=item.title,
            attributes=dict(item.attributes),
            category=item.category or product.category,
            declared_value_minor=item.declared_value_minor,
            currency=item.currency,
            weight_grams=item.weight_grams,
            hs_code=item.hs_code,
            barcode=item.barcode,
            is_bundle=False,
        )
        for item in items
    ]
    session.add_all(skus)
    await flush_or_conflict(session, "a SKU with one of these codes already exists", f"{field_prefix}.code")
    return skus


# --- bundles ----------------------------------------------------------------------------------------------


async def do_set_bundle_components(
    session: AsyncSession, tenant_id: int, bundle_sku_id: int, components: Sequence[BundleComponentIn]
) -> list[tuple[BundleComponent, Sku]]:
    """Make `bundle_sku_id` a kit of `components`, replacing any previous list. Kits do not nest."""
    bundle = await access_sku(session, tenant_id, bundle_sku_id)
    seen: set[int] = set()
    for index, item in enumerate(components):
        field = f"components.{index}.sku_id"
        if item.sku_id == bundle.id:
            raise InvalidInput("a bundle cannot contain itself", field=field)
        if item.sku_id in seen:
            raise InvalidInput("each component SKU may appear once", field=field)
        seen.add(item.sku_id)
        component = await session.scalar(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id == item.sku_id))
        if component is None:
            raise InvalidInput("no such SKU", field=field)
        if component.is_bundle:
            raise InvalidInput(f"{component.code} is itself a bundle; bundles do not nest", field=field)
    if await session.scalar(
        select(BundleComponent.bundle_sku_id)
        .where(BundleComponent.tenant_id == tenant_id, BundleComponent.component_sku_id == bundle.id)
        .limit(1)
    ):
        raise Conflict(f"{bundle.code} is a component of another bundle; bundles do not nest", field="sku_id")
    await session.execute(
        delete(BundleComponent).where(
            BundleComponent.tenant_id == tenant_id, BundleComponent.bundle_sku_id == bundle.id
        )
    )
    session.add_all(
        BundleComponent(
            tenant_id=tenant_id, bundle_sku_id=bundle.id, component_sku_id=item.sku_id, quantity=item.quantity
        )
        for item in components
    )
    bundle.is_bundle = True
    await session.flush()
    return await bundle_components(session, tenant_id, bundle.id)


async def bundle_components(
    session: AsyncSession, tenant_id: int, bundle_sku_id: int
) -> list[tuple[BundleComponent, Sku]]:
    await access_sku(session, tenant_id, bundle_sku_id)
    rows = await session.execute(
        select(BundleComponent, Sku)
        .join(Sku, and_(Sku.id == BundleComponent.component_sku_id, Sku.tenant_id == tenant_id))
        .where(BundleComponent.tenant_id == tenant_id, BundleComponent.bundle_sku_id == bundle_sku_id)
        .order_by(Sku.code)
    )
    return [(component, sku) for component, sku in rows.all()]


# --- warehouses and lanes ---------------------------------------------------------------------------------


async def list_warehouses(session: AsyncSession, tenant_id: int) -> list[Warehouse]:
    rows = await session.scalars(
        select(Warehouse).where(Warehouse.tenant_id == tenant_id).order_by(Warehouse.code)
    )
    return list(rows.all())


async def access_warehouse(session: AsyncSession, tenant_id: int, warehouse_id: int) -> Warehouse:
    found = await session.scalar(
        select(Warehouse).where(Warehouse.tenant_id == tenant_id, Warehouse.id == warehouse_id)
    )
    if found is None:
        raise NotFound("warehouse not found", field="warehouse_id")
    return found


async def find_warehouse_by_code(session: AsyncSession, tenant_id: int, code: str) -> Warehouse | None:
    return await session.scalar(
        select(Warehouse).where(Warehouse.tenant_id == tenant_id, Warehouse.code == code)
    )


async def do_create_warehouse(session: AsyncSession, tenant_id: int, data: WarehouseCreate) -> Warehouse:
    if await find_warehouse_by_code(session, tenant_id, data.code) is not None:
        raise Conflict(f"a warehouse with code {data.code!r} already exists", field="code")
    address: dict[str, Any] = data.address.model_dump() if data.address else {"country": data.country}
    if address["country"] != data.country:
        raise InvalidInput("address.country: differs from the warehouse country", field="address.country")
    warehouse = Warehouse(
        tenant_id=tenant_id,
        code=data.code,
        name=data.name,
        country=data.country,
        regions_served=list(dict.fromkeys(data.regions_served)),
        time_zone=data.time_zone,
        address=address,
        capabilities=[c.value for c in dict.fromkeys(data.capabilities)],
        is_active=True,
    )
    session.add(warehouse)
    await flush_or_conflict(session, f"a warehouse with code {data.code!r} already exists", "code")
    return warehouse


async def do_create_lane(session: AsyncSession, tenant_id: int, data: LaneCreate) -> Lane:
    warehouse = await referenced_warehouse(session, tenant_id, data.warehouse_id)
    if data.transit_days_p90 < data.transit_days_median:
        raise InvalidInput("transit_days_p90: below transit_days_median", field="transit_days_p90")
    taken = await session.scalar(
        select(Lane.id).where(
            Lane.tenant_id == tenant_id, Lane.warehouse_id == warehouse.id, Lane.country == data.country
        )
    )
    message = f"warehouse {warehouse.code} already has a lane to {data.country}"
    if taken is not None:
        raise Conflict(message, field="country")
    lane = Lane(tenant_id=tenant_id, **data.model_dump())
    session.add(lane)
    await flush_or_conflict(session, message, "country")
    return lane


async def list_lanes(
    session: AsyncSession, tenant_id: int, *, warehouse_id: int | None = None, country: str | None = None
) -> list[Lane]:
    query = select(Lane).where(Lane.tenant_id == tenant_id)
    if warehouse_id is not None:
        query = query.where(Lane.warehouse_id == warehouse_id)
    if country:
        query = query.where(Lane.country == country.upper())
    return list((await session.scalars(query.order_by(Lane.warehouse_id, Lane.country))).all())


async def referenced_warehouse(session: AsyncSession, tenant_id: int, warehouse_id: int) -> Warehouse:
    """A warehouse named in a request body: missing (or another tenant's) is bad input on that field."""
    try:
        return await access_warehouse(session, tenant_id, warehouse_id)
    except NotFound as exc:
        raise InvalidInput("no such warehouse", field="warehouse_id") from exc
