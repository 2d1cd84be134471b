"""Bulk import and export of one tenant's products, stock and orders (the `aftersail import/export` use
cases). Rows are validated with the API's own schemas and written through the same service functions,
each record in its own SAVEPOINT: a rejected record leaves no trace, the valid ones are kept. Stock rows are
counts: each goes through the same snapshot path as `POST /stock/snapshots`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog import stock
from aftersail.catalog.schemas import CountOutcome, ProductCreate, SnapshotLineIn, StockSnapshotIn
from aftersail.kit.csvio import FileFormat, Record, RowError, format_of, read_records, validation_errors
from aftersail.kit.csvlayout import (
    ADDRESS_FIELDS,
    CUSTOMER_COLUMNS,
    LINE_COLUMNS,
    SKU_COLUMNS,
    csv_order_field,
    csv_product_field,
    order_from_csv,
    product_from_csv,
)
from aftersail.kit.db import Database
from aftersail.kit.errors import DomainError
from aftersail.kit.validation import Code, Strict
from aftersail.orders import allocation
from aftersail.orders import service as orders
from aftersail.orders.schemas import OrderCreate

CHUNK = 200  # records per transaction; each record still has its own savepoint

PRODUCT_COLUMNS = ("handle", "title", "category", "brand", "description", *SKU_COLUMNS.values())
STOCK_COLUMNS = ("warehouse_code", "sku_code", "batch_code", "on_hand", "low_stock_threshold")
STOCK_EXPORT_ONLY = ("reserved", "available")
ORDER_COLUMNS = (
    "number",
    "placed_at",
    "channel",
    "currency",
    "external_ref",
    *CUSTOMER_COLUMNS.values(),
    *(f"ship_{f}" for f in ADDRESS_FIELDS),
    *LINE_COLUMNS,
)
ORDER_EXPORT_ONLY = ("status", "total_minor")


class Kind(StrEnum):
    PRODUCTS = "products"
    STOCK = "stock"
    ORDERS = "orders"


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[RowError] = field(default_factory=list)

    @property
    def rejected_records(self) -> int:
        return len({e.line for e in self.rejected})


@dataclass
class Unit:
    """What one savepoint writes: one record, or the CSV rows that make one order."""

    lines: list[int]
    model: BaseModel | None = None
    rename: Callable[[str], tuple[int, str]] | None = None
    errors: list[RowError] = field(default_factory=list)


class StockRow(Strict):
    warehouse_code: Annotated[Code, Field(max_length=32)]
    sku_code: Code
    batch_code: Annotated[Code, Field(max_length=64)] | None = None
    on_hand: int = Field(ge=0, le=100_000_000)
    low_stock_threshold: int | None = Field(default=None, ge=0, le=100_000_000)


# --- records → validated models ---------------------------------------------------------------------------


def _validate(unit: Unit, schema: type[BaseModel], data: dict[str, Any]) -> Unit:
    try:
        unit.model = schema.model_validate(data)
    except ValidationError as exc:
        for error in validation_errors(unit.lines[0], exc):
            line, name = unit.rename(error.field) if unit.rename else (error.line, error.field)
            unit.errors.append(RowError(line, name, error.message))
    return unit


def _units(kind: Kind, path: Path) -> Iterator[Unit]:
    csv_file = format_of(path) is FileFormat.CSV
    columns = {
        Kind.PRODUCTS: PRODUCT_COLUMNS,
        Kind.STOCK: STOCK_COLUMNS + STOCK_EXPORT_ONLY,
        Kind.ORDERS: ORDER_COLUMNS + ORDER_EXPORT_ONLY,
    }[kind]
    pending: list[Record] = []  # CSV rows of the order being gathered
    for item in read_records(path, columns=columns):
        if isinstance(item, RowError):
            yield Unit([item.line], errors=[item])
            continue
        if kind is Kind.ORDERS:
            data = {k: v for k, v in item.data.items() if k not in ORDER_EXPORT_ONLY}
            item = Record(item.line, data)
            if csv_file:
                if pending and (
                    not data.get("number") or data.get("number") != pending[0].data.get("number")
                ):
                    yield _validate(
                        Unit([r.line for r in pending], rename=csv_order_field(pending)),
                        OrderCreate,
                        order_from_csv(pending),
                    )
                    pending = []
                pending.append(item)
                continue
            yield _validate(Unit([item.line]), OrderCreate, data)
        elif kind is Kind.STOCK:
            data = {k: v for k, v in item.data.items() if k not in STOCK_EXPORT_ONLY}
            yield _validate(Unit([item.line]), StockRow, data)
        else:
            unit = Unit([item.line], rename=csv_product_field(item.line) if csv_file else None)
            try:
                data = product_from_csv(item.data) if csv_file else item.data
            except ValueError as exc:
                unit.errors.append(RowError(item.line, "attributes", str(exc)))
                yield unit
                continue
            yield _validate(unit, ProductCreate, data)
    if pending:
        yield _validate(
            Unit([r.line for r in pending], rename=csv_order_field(pending)),
            OrderCreate,
            order_from_csv(pending),
        )


# --- models → rows, through the services --------------------------------------------------------------------


async def _write_product(session: AsyncSession, tenant_id: int, data: ProductCreate) -> str | None:
    """A new handle creates the product; a known handle gains the record's SKUs (one CSV row per SKU)."""
    product = await catalog.find_product_by_handle(session, tenant_id, data.handle)
    if product is None:
        await catalog.do_create_product(session, tenant_id, data)
    else:
        await catalog.do_add_skus(session, tenant_id, product, data.skus)
    return None


async def _write_stock(session: AsyncSession, tenant_id: int, row: StockRow) -> str | None:
    """A one-line stock snapshot: a count below the reserved units is refused (and raises a discrepancy)."""
    snapshot = StockSnapshotIn(
        warehouse_code=row.warehouse_code,
        note="import",
        lines=[
            SnapshotLineIn(
                sku_code=row.sku_code,
                batch_code=row.batch_code,
                on_hand=row.on_hand,
                low_stock_threshold=row.low_stock_threshold,
            )
        ],
    )
    report = await stock.do_take_snapshot(
        session, tenant_id, snapshot, source="import", field=stock.flat_field
    )
    [line] = report.lines
    return line.message if line.outcome is CountOutcome.REJECTED else None


async def _write_order(session: AsyncSession, tenant_id: int, data: OrderCreate) -> str | None:
    await allocation.do_place_order(session, tenant_id, data, actor="import")
    return None


# A writer returns None when the record was written, or why it was refused while keeping what the refusal
# itself wrote (a refused stock count keeps its discrepancy event); errors it raises roll the record back.
WRITERS: dict[Kind, Callable[[AsyncSession, int, Any], Awaitable[str | None]]] = {
    Kind.PRODUCTS: _write_product,
    Kind.STOCK: _write_stock,
    Kind.ORDERS: _write_order,
}


async def run_import(
    db: Database, tenant_id: int, kind: Kind, path: Path, advance: Callable[[int], None] = lambda n: None
) -> ImportReport:
    """Import `path` into the tenant. `advance(n)` is told how many file records each unit consumed."""
    report = ImportReport()
    units = _units(kind, path)
    while True:
        chunk = [unit for _, unit in zip(range(CHUNK), units, strict=False)]
        if not chunk:
            return report
        async with db.transaction(tenant_id=tenant_id) as session:
            for unit in chunk:
                await _write_unit(session, tenant_id, kind, unit, report)
                advance(len(unit.lines))


async def _write_unit(
    session: AsyncSession, tenant_id: int, kind: Kind, unit: Unit, report: ImportReport
) -> None:
    if unit.errors or unit.model is None:
        report.rejected.extend(unit.errors)
        return
    try:
        async with session.begin_nested():
            refusal = await WRITERS[kind](session, tenant_id, unit.model)
    except DomainError as exc:
        path = str(exc.details.get("field") or "")
        line, name = unit.rename(path) if unit.rename and path else (unit.lines[0], path)
        report.rejected.append(RowError(line, name, exc.message))
    except (IntegrityError, DataError) as exc:
        report.rejected.append(
            RowError(unit.lines[0], "", f"refused by the database: {type(exc.orig).__name__}")
        )
    else:
        if refusal is None:
            report.imported += 1
        else:
            report.rejected.append(RowError(unit.lines[0], "on_hand", refusal))


# --- export ------------------------------------------------------------------------------------------------


async def export_pages(
    db: Database, tenant_id: int, kind: Kind, fmt: FileFormat
) -> AsyncIterator[list[dict[str, Any]]]:
    """The tenant's data a page at a time, in the shape `run_import` reads back (CSV rows or JSON objects)."""
    cursor: str | None = None
    while True:
        async with db.transaction(tenant_id=tenant_id) as session:
            if kind is Kind.PRODUCTS:
                rows, cursor = await _product_page(session, tenant_id, fmt, cursor)
            elif kind is Kind.STOCK:
                rows, cursor = await _stock_page(session, tenant_id, cursor)
            else:
                rows, cursor = await _order_page(session, tenant_id, fmt, cursor)
        yield rows
        if cursor is None:
            return


async def _product_page(
    session: AsyncSession, tenant_id: int, fmt: FileFormat, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page = await catalog.list_products(session, tenant_id, cursor=cursor, limit=200)
    skus = await catalog.skus_of_products(session, tenant_id, [p.id for p in page.items])
    rows: list[dict[str, Any]] = []
    for product in page.items:
        head = {k: getattr(product, k) for k in ("handle", "title", "category", "brand", "description")}
        items = [{name: getattr(sku, name) for name in SKU_COLUMNS} for sku in skus[product.id]]
        if fmt is FileFormat.JSONL:
            rows.append(head | {"skus": items})
        else:
            rows += [head | {SKU_COLUMNS[k]: v for k, v in item.items()} for item in items] or [head]
    return rows, page.next_cursor


async def _stock_page(
    session: AsyncSession, tenant_id: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page = await stock.list_stock(session, tenant_id, cursor=cursor, limit=200)
    warehouses = {w.id: w.code for w in await catalog.list_warehouses(session, tenant_id)}
    skus = await catalog.skus_by_ids(session, tenant_id, [s.sku_id for s in page.items])
    batches = await stock.batches_by_ids(session, tenant_id, [s.batch_id for s in page.items if s.batch_id])
    rows = [
        {
            "warehouse_code": warehouses[s.warehouse_id],
            "sku_code": skus[s.sku_id].code,
            "batch_code": batches[s.batch_id].code if s.batch_id else None,
            "on_hand": s.on_hand,
            "low_stock_threshold": s.low_stock_threshold,
            "reserved": s.reserved,
            "available": s.on_hand - s.reserved,
        }
        for s in page.items
    ]
    return rows, page.next_cursor


async def _order_page(
    session: AsyncSession, tenant_id: int, fmt: FileFormat, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page = await orders.list_orders(session, tenant_id, orders.OrderFilters(), cursor=cursor, limit=200)
    rows: list[dict[str, Any]] = []
    for order in page.items:
        customer = await orders.access_customer(session, tenant_id, order.customer_id)
        head = {
            "number": order.number,
            "placed_at": order.placed_at.isoformat(),
            "channel": order.channel.value,
            "currency": order.currency,
            "external_ref": order.external_ref,
            "status": order.status.value,
            "total_minor": order.total_minor,
        }
        who = {
            "email": customer.email,
            "name": customer.name,
            "country": customer.country,
            "preferred_language": customer.preferred_language,
        }
        address = {k: v for k, v in (order.shipping_address or {}).items() if k in ADDRESS_FIELDS}
        lines = [
            {"sku_code": sku.code, "quantity": line.quantity, "unit_price_minor": line.unit_price_minor}
            for line, sku in await orders.order_lines(session, tenant_id, order.id)
        ]
        if fmt is FileFormat.JSONL:
            rows.append(head | {"customer": who, "shipping_address": address, "lines": lines})
        else:
            flat = (
                head
                | {CUSTOMER_COLUMNS[k]: v for k, v in who.items()}
                | {f"ship_{k}": v for k, v in address.items()}
            )
            rows += [flat | line for line in lines]
    return rows, page.next_cursor
