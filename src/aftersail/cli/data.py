"""`aftersail import …` and `aftersail export …`: a tenant's products, stock and orders, CSV or JSON Lines."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aftersail.cli.common import console, err_console, load_settings, open_database, run
from aftersail.kit.csvio import FileFormat, RecordWriter, UnreadableFile, count_records, format_of
from aftersail.kit.errors import DomainError
from aftersail.kit.imports import (
    ORDER_COLUMNS,
    ORDER_EXPORT_ONLY,
    PRODUCT_COLUMNS,
    STOCK_COLUMNS,
    STOCK_EXPORT_ONLY,
    ImportReport,
    Kind,
    export_pages,
    run_import,
)
from aftersail.tenants import service as tenants

import_app = typer.Typer(
    help="Import products, stock or orders from a .csv or .jsonl (JSON Lines) file.", no_args_is_help=True
)
export_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Export products, stock or orders as CSV or JSON Lines.",
    no_args_is_help=True,
)

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant slug", show_default=False)]
FileArgument = Annotated[
    Path,
    typer.Argument(
        help=".csv (with a header row) or .jsonl file", exists=True, dir_okay=False, readable=True
    ),
]
MAX_SHOWN = 200


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


def _import(kind: Kind, path: Path, tenant: str) -> None:
    try:
        format_of(path)
        total = count_records(path)
    except UnreadableFile as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    async def _run() -> ImportReport:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                tenant_id = (await tenants.find_tenant_by_slug(session, tenant)).id
            columns = [
                TextColumn(f"Importing {kind.value}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            ]
            with Progress(*columns, console=err_console, transient=True) as progress:
                task = progress.add_task(kind.value, total=total)
                return await run_import(db, tenant_id, kind, path, lambda n: progress.advance(task, n))
        finally:
            await db.dispose()

    try:
        report = run(_run())
    except (DomainError, UnreadableFile) as exc:
        err_console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(2) from exc
    console.print(
        f"Imported {report.imported} {kind.value} record(s) into {tenant}; "
        f"rejected {report.rejected_records}."
    )
    if report.rejected:
        table = Table(title="Rejected rows (nothing from them was written)", show_lines=False)
        for column in ("line", "field", "why"):
            table.add_column(column, overflow="fold")
        for error in report.rejected[:MAX_SHOWN]:
            table.add_row(str(error.line), error.field or "—", error.message)
        console.print(table)
        if len(report.rejected) > MAX_SHOWN:
            console.print(f"… and {len(report.rejected) - MAX_SHOWN} more.")
        raise typer.Exit(1)


@import_app.command("products")
def import_products(file: FileArgument, tenant: TenantOption) -> None:
    """Import products and their SKUs (a known handle gains the row's SKUs).

    CSV, one row per SKU, columns:
    - handle, title, category: required
    - brand, description: optional
    - sku_code, declared_value_minor (integer minor units), currency (ISO 4217): required for a SKU
    - sku_title, sku_category, weight_grams, hs_code, barcode: optional
    - attributes: a JSON object or "size=M; color=red"

    JSON Lines: one product per line as the API takes it, {"handle", "title", "category", "skus": [...]}.
    """
    _import(Kind.PRODUCTS, file, tenant)


@import_app.command("stock")
def import_stock(file: FileArgument, tenant: TenantOption) -> None:
    """Apply warehouse counts: each row sets the on-hand units of a warehouse, SKU and optional batch (an
    unknown batch code is created), like a one-line POST /api/v1/stock/snapshots.

    CSV columns (JSON Lines: one object per line with the same keys):
    - warehouse_code, sku_code, on_hand: required
    - batch_code, low_stock_threshold: optional
    - reserved, available: written by the export, ignored here

    Every count is recorded as a stock movement. A row counting fewer units than orders have reserved is
    rejected (on-hand stays) and raises a stock.discrepancy event for someone to check; levels at or below
    their low-stock threshold raise stock.low (stock.sold_out at zero).
    """
    _import(Kind.STOCK, file, tenant)


@import_app.command("orders")
def import_orders(file: FileArgument, tenant: TenantOption) -> None:
    """Import orders (status pending); customers are matched by email and created when new.

    CSV, one row per order line; consecutive rows with the same number make one order:
    - number: blank gives each row its own, generated number
    - currency, ship_country, customer_email, sku_code, quantity, unit_price_minor: required
    - placed_at: ISO 8601 with an offset, default now
    - channel: web_shop, marketplace, live_session or api (default api)
    - customer_name (default ship_name), customer_country (default ship_country), customer_language
    - external_ref
    - ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code, ship_phone
    - status, total_minor: written by the export, ignored here

    JSON Lines: one order per line as the API takes it, "customer" inline and lines by "sku_code".
    """
    _import(Kind.ORDERS, file, tenant)


def _export(kind: Kind, tenant: str, fmt: FileFormat | None, output: Path | None) -> None:
    if fmt is None:
        fmt = (
            format_of(output)
            if output is not None and output.suffix.lower() in {".jsonl", ".ndjson"}
            else FileFormat.CSV
        )
    columns = {
        Kind.PRODUCTS: PRODUCT_COLUMNS,
        Kind.STOCK: STOCK_COLUMNS + STOCK_EXPORT_ONLY,
        Kind.ORDERS: ORDER_COLUMNS[:5] + ORDER_EXPORT_ONLY + ORDER_COLUMNS[5:],
    }[kind]

    async def _run(out: TextIO) -> int:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                tenant_id = (await tenants.find_tenant_by_slug(session, tenant)).id
            writer = RecordWriter(out, fmt, columns)
            async for rows in export_pages(db, tenant_id, kind, fmt):
                writer.write(rows)
            return writer.written
        finally:
            await db.dispose()

    target = output.open("w", encoding="utf-8", newline="") if output is not None else nullcontext(sys.stdout)
    try:
        with target as out:
            written = run(_run(out))
    except DomainError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    if output is not None:
        err_console.print(f"Wrote {written} {kind.value} record(s) to {output}.")


FormatOption = Annotated[
    FileFormat | None, typer.Option("--format", help="csv or jsonl (default: from --output, else csv)")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="File to write; default stdout", dir_okay=False)
]


@export_app.command("products")
def export_products(tenant: TenantOption, format: FormatOption = None, output: OutputOption = None) -> None:
    """Products and SKUs: CSV one row per SKU (the import's columns), or JSON Lines one product per line."""
    _export(Kind.PRODUCTS, tenant, format, output)


@export_app.command("stock")
def export_stock(tenant: TenantOption, format: FormatOption = None, output: OutputOption = None) -> None:
    """Stock levels: warehouse_code, sku_code, batch_code, on_hand, low_stock_threshold, reserved,
    available."""
    _export(Kind.STOCK, tenant, format, output)


@export_app.command("orders")
def export_orders(tenant: TenantOption, format: FormatOption = None, output: OutputOption = None) -> None:
    """Orders: CSV one row per line (the import's columns plus status and total_minor), or JSON Lines,
    one order per line."""
    _export(Kind.ORDERS, tenant, format, output)
