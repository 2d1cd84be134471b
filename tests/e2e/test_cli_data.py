"""`aftersail import` and `aftersail export` through the real CLI, on a migrated database (both backends)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Product, Sku, StockLevel
from aftersail.catalog.schemas import LaneCreate, WarehouseCreate
from aftersail.cli import app as cli
from aftersail.kit.db import Database
from aftersail.orders.models import Customer, Order, OrderLine
from tests.factories import TenantFixture, make_tenant

runner = CliRunner()

PRODUCTS_HEADER = (
    "handle,title,category,sku_code,sku_title,attributes,declared_value_minor,currency,weight_grams"
)
PRODUCTS_CSV = (
    PRODUCTS_HEADER
    + """
jacket,Trail Jacket,apparel,JK-S,Jacket S,size=S; color=red,4500,USD,800
jacket,Trail Jacket,apparel,JK-M,Jacket M,"{""size"": ""M""}",4500,usd,820
mug,Mug,kitchen,MUG-1,,,900,EUR,
bad,Bad,apparel,BAD-1,Bad,,lots,USD,10
dup,Dup,apparel,JK-S,Again,,100,USD,10
nocur,No currency,apparel,NC-1,X,,100,,10
"""
)

STOCK_JSONL = (
    "\n".join(
        [
            json.dumps({"warehouse_code": "LAX", "sku_code": "JK-S", "on_hand": 10}),
            json.dumps(
                {
                    "warehouse_code": "LAX",
                    "sku_code": "JK-M",
                    "batch_code": "L1",
                    "on_hand": 4,
                    "low_stock_threshold": 2,
                }
            ),
            json.dumps({"warehouse_code": "NOPE", "sku_code": "JK-S", "on_hand": 1}),
            "{not json",
            json.dumps({"warehouse_code": "LAX", "sku_code": "JK-S", "on_hand": -3}),
            json.dumps(["a list"]),
        ]
    )
    + "\n"
)

ORDERS_HEADER = (
    "number,placed_at,channel,currency,customer_email,customer_name,ship_city,ship_country,sku_code,quantity,"
    "unit_price_minor"
)
ORDERS_CSV = (
    ORDERS_HEADER
    + """
W-1,2025-03-01T10:00:00+00:00,web_shop,USD,ana@buyer.test,Ana,Austin,US,JK-S,2,4999
W-1,2025-03-01T10:00:00+00:00,web_shop,USD,ana@buyer.test,Ana,Austin,US,MUG-1,1,1200
W-2,2025-03-02T10:00:00+00:00,web_shop,USD,ben@buyer.test,Ben,Leeds,GB,JK-M,1,4999
W-2,2025-03-02T10:00:00+00:00,web_shop,USD,ben@buyer.test,Ben,Leeds,GB,GHOST,1,100
W-3,2025-03-03T10:00:00,web_shop,USD,cai@buyer.test,Cai,Paris,FR,JK-M,1,4999
,,api,USD,ana@buyer.test,Ana,Austin,US,MUG-1,3,1100
"""
)


def invoke(url: str, *args: str) -> Any:
    return runner.invoke(cli, list(args), env={"AFTERSAIL_DATABASE_URL": url}, catch_exceptions=False)


def on_db(url: str, work: Any) -> Any:
    async def _run() -> Any:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_run())


def new_tenant(url: str) -> TenantFixture:
    async def _make(db: Database) -> TenantFixture:
        tenant = await make_tenant(db)
        async with db.transaction(tenant_id=tenant.tenant_id) as session:
            warehouse = await catalog.do_create_warehouse(
                session,
                tenant.tenant_id,
                WarehouseCreate(code="LAX", name="LA", country="US", time_zone="America/Los_Angeles"),
            )
            # Imported orders are allocated as they land: LA ships to every destination the files use.
            for country in ("US", "GB", "FR"):
                await catalog.do_create_lane(
                    session,
                    tenant.tenant_id,
                    LaneCreate(
                        warehouse_id=warehouse.id,
                        country=country,
                        transit_days_median=3,
                        transit_days_p90=5,
                        cost_minor=900,
                        currency="USD",
                    ),
                )
        return tenant

    return on_db(url, _make)


def counts(url: str, tenant: TenantFixture) -> dict[str, int]:
    async def _count(db: Database) -> dict[str, int]:
        async with db.transaction(tenant_id=tenant.tenant_id) as session:
            return {
                m.__tablename__: int(
                    await session.scalar(
                        select(func.count()).select_from(m).where(m.tenant_id == tenant.tenant_id)
                    )
                    or 0
                )
                for m in (Product, Sku, StockLevel, Customer, Order, OrderLine)
            }

    return on_db(url, _count)


@pytest.fixture
def tenant(db_url: str) -> TenantFixture:
    return new_tenant(db_url)


def test_import_products_keeps_valid_rows_and_reports_the_rest(
    db_url: str, tenant: TenantFixture, tmp_path: Path
) -> None:
    source = tmp_path / "products.csv"
    source.write_text(PRODUCTS_CSV)
    result = invoke(db_url, "import", "products", str(source), "--tenant", tenant.slug)
    assert result.exit_code == 1, result.output
    assert "Imported 3 products record(s)" in result.output and "rejected 3" in result.output
    report = result.output
    for line, column in [("5", "declared_value_minor"), ("6", "sku_code"), ("7", "currency")]:
        assert any(
            row.split("│")[1:3] and row.split("│")[1].strip() == line and column in row.split("│")[2]
            for row in report.splitlines()
            if "│" in row
        ), (line, column, report)
    assert counts(db_url, tenant) | {} == {
        "products": 2,
        "skus": 3,
        "stock_levels": 0,
        "customers": 0,
        "orders": 0,
        "order_lines": 0,
    }
    again = invoke(db_url, "import", "products", str(source), "--tenant", tenant.slug)
    assert again.exit_code == 1 and counts(db_url, tenant)["skus"] == 3


def test_import_stock_jsonl(db_url: str, tenant: TenantFixture, tmp_path: Path) -> None:
    products = tmp_path / "p.csv"
    products.write_text(PRODUCTS_CSV.split("bad,")[0])
    assert invoke(db_url, "import", "products", str(products), "--tenant", tenant.slug).exit_code == 0
    source = tmp_path / "stock.jsonl"
    source.write_text(STOCK_JSONL)
    result = invoke(db_url, "import", "stock", str(source), "--tenant", tenant.slug)
    assert result.exit_code == 1, result.output
    assert "Imported 2 stock record(s)" in result.output and "rejected 4" in result.output
    for fragment in ("warehouse_code", "not JSON", "on_hand", "JSON object"):
        assert fragment in result.output
    exported = invoke(db_url, "export", "stock", "--tenant", tenant.slug)
    assert exported.exit_code == 0
    assert exported.stdout.splitlines() == [
        "warehouse_code,sku_code,batch_code,on_hand,low_stock_threshold,reserved,available",
        "LAX,JK-M,L1,4,2,0,4",
        "LAX,JK-S,,10,0,0,10",
    ]


def test_import_orders_groups_lines_and_rejects_whole_orders(
    db_url: str, tenant: TenantFixture, tmp_path: Path
) -> None:
    products = tmp_path / "p.csv"
    products.write_text(PRODUCTS_CSV.split("bad,")[0])
    invoke(db_url, "import", "products", str(products), "--tenant", tenant.slug)
    source = tmp_path / "orders.csv"
    source.write_text(ORDERS_CSV)
    result = invoke(db_url, "import", "orders", str(source), "--tenant", tenant.slug)
    assert result.exit_code == 1, result.output
    assert "Imported 2 orders record(s)" in result.output and "rejected 2" in result.output
    assert "sku_code" in result.output and "placed_at" in result.output
    # W-2 had one bad line: neither its lines nor its new customer (Ben) were written.
    assert counts(db_url, tenant) | {"products": 0, "skus": 0, "stock_levels": 0} == {
        "products": 0,
        "skus": 0,
        "stock_levels": 0,
        "customers": 1,
        "orders": 2,
        "order_lines": 3,
    }
    exported = invoke(db_url, "export", "orders", "--tenant", tenant.slug, "--format", "jsonl")
    orders = [json.loads(line) for line in exported.stdout.splitlines()]
    w1 = next(o for o in orders if o["number"] == "W-1")
    # No stock was imported: the order is recorded and waits for stock.
    assert (w1["total_minor"], w1["status"], w1["customer"]["email"]) == (
        2 * 4999 + 1200,
        "backordered",
        "ana@buyer.test",
    )
    assert [(ln["sku_code"], ln["quantity"]) for ln in w1["lines"]] == [("JK-S", 2), ("MUG-1", 1)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_then_import_round_trips_into_another_tenant(
    db_url: str, tenant: TenantFixture, tmp_path: Path, fmt: str
) -> None:
    products = tmp_path / "p.csv"
    products.write_text(PRODUCTS_CSV.split("bad,")[0])
    invoke(db_url, "import", "products", str(products), "--tenant", tenant.slug)
    orders = tmp_path / "o.csv"
    orders.write_text(ORDERS_CSV)
    invoke(db_url, "import", "orders", str(orders), "--tenant", tenant.slug)
    other = new_tenant(db_url)
    for kind in ("products", "orders"):
        target = tmp_path / f"{kind}.{fmt}"
        written = invoke(db_url, "export", kind, "--tenant", tenant.slug, "--output", str(target))
        assert written.exit_code == 0, written.output
        loaded = invoke(db_url, "import", kind, str(target), "--tenant", other.slug)
        assert loaded.exit_code == 0, loaded.output
    assert counts(db_url, other) == counts(db_url, tenant)
    first = invoke(db_url, "export", "products", "--tenant", tenant.slug, "--format", "jsonl").stdout
    second = invoke(db_url, "export", "products", "--tenant", other.slug, "--format", "jsonl").stdout
    assert sorted(first.splitlines()) == sorted(second.splitlines())


def test_unusable_input_exits_2(db_url: str, tenant: TenantFixture, tmp_path: Path) -> None:
    wrong = tmp_path / "products.xlsx"
    wrong.write_text("x")
    assert invoke(db_url, "import", "products", str(wrong), "--tenant", tenant.slug).exit_code == 2
    columns = tmp_path / "products.csv"
    columns.write_text("handle,title,colour\nx,y,red\n")
    result = invoke(db_url, "import", "products", str(columns), "--tenant", tenant.slug)
    assert result.exit_code == 2 and "colour" in result.output
    assert invoke(db_url, "import", "products", str(columns), "--tenant", "no-such-tenant").exit_code == 2
    assert invoke(db_url, "import", "products", str(columns)).exit_code == 2  # --tenant is required
