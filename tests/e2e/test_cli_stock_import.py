"""`aftersail import stock` goes through the snapshot path: counts leave movement rows, a count below the
reserved units is refused with a reason and raises a discrepancy, low stock raises its alert (both
backends)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from aftersail.catalog.models import StockLevel, StockMovement
from aftersail.cli import app as cli
from aftersail.kit.db import Database
from aftersail.kit.outbox_models import OutboxEvent
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, place_order

runner = CliRunner()


def on_db(url: str, work: Any) -> Any:
    async def _run() -> Any:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_run())


def test_stock_import_reconciles_with_reservations(db_url: str, tmp_path: Any) -> None:
    async def _world(db: Database) -> tuple[str, Network]:
        tenant = await make_tenant(db)
        network = await make_network(db, tenant.tenant_id)
        await network.set_stock(db, "FRA", "lamp", 10)
        await place_order(db, network, {"lamp": 6})
        return tenant.slug, network

    slug, network = on_db(db_url, _world)
    source = tmp_path / "counts.csv"
    source.write_text(
        "warehouse_code,sku_code,batch_code,on_hand,low_stock_threshold\n"
        f"FRA,{network.codes['lamp']},,4,\n"
        f"FRA,{network.codes['cable']},,12,3\n"
        f"FXT,{network.codes['case']},B-1,2,5\n"
        f"FRA,{network.codes['lamp']},,7,\n"
    )
    result = runner.invoke(
        cli, ["import", "stock", str(source), "--tenant", slug], env={"AFTERSAIL_DATABASE_URL": db_url}
    )
    assert result.exit_code == 1, result.output
    assert "Imported 3 stock record(s)" in result.output and "rejected 1" in result.output
    assert "counted 4, but 6 units are" in result.output.replace("\n", " ").replace("│", " ")

    async def _books(db: Database) -> dict[str, Any]:
        async with db.transaction(system=True, readonly=True) as session:
            levels = (
                await session.scalars(select(StockLevel).where(StockLevel.tenant_id == network.tenant_id))
            ).all()
            moves = (
                await session.scalars(
                    select(StockMovement).where(StockMovement.tenant_id == network.tenant_id)
                )
            ).all()
            topics = (
                await session.scalars(
                    select(OutboxEvent.topic).where(OutboxEvent.tenant_id == network.tenant_id)
                )
            ).all()
            names = {v: k for k, v in network.skus.items()}
            return {
                "levels": {
                    names[lv.sku_id]: (lv.on_hand, lv.reserved, lv.low_stock_threshold) for lv in levels
                },
                "imported": sorted(
                    (names[lv.sku_id], m.on_hand_delta)
                    for m in moves
                    for lv in levels
                    if m.stock_level_id == lv.id and m.source == "import"
                ),
                "topics": set(topics),
            }

    books = on_db(db_url, _books)
    assert books["levels"] == {"lamp": (7, 6, 0), "cable": (12, 0, 3), "case": (2, 0, 5)}
    assert books["imported"] == [("cable", 12), ("case", 2), ("lamp", -3)]
    assert {"stock.discrepancy", "stock.low", "live.stock"} <= books["topics"]
