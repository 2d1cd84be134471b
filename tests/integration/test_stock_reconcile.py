"""Warehouse counts and adjustments reconcile with order reservations (services on a migrated database, SQLite
and PostgreSQL): reserved never exceeds on-hand, every change leaves a movement row, and alerts become
outbox events."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import func, select

from aftersail.catalog import adjustments, stock
from aftersail.catalog.models import Batch, StockLevel, StockMovement
from aftersail.catalog.schemas import StockAdjustmentIn, StockSnapshotIn
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders.models import Order, OrderStatus
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, place_order, reservation_mismatches


async def _network(database: Database) -> Network:
    tenant = await make_tenant(database)
    return await make_network(database, tenant.tenant_id)


async def snapshot(database: Database, network: Network, lines: list[dict[str, Any]], **extra: Any) -> Any:
    async with database.transaction(tenant_id=network.tenant_id) as session:
        data = StockSnapshotIn.model_validate(
            {"warehouse_id": network.warehouses["FRA"], "lines": lines} | extra
        )
        return await stock.do_take_snapshot(session, network.tenant_id, data, source="test")


async def adjust(database: Database, network: Network, **body: Any) -> tuple[StockLevel, StockMovement]:
    async with database.transaction(tenant_id=network.tenant_id) as session:
        return await adjustments.do_adjust_stock(
            session, network.tenant_id, StockAdjustmentIn.model_validate(body), source="test"
        )


async def events(database: Database, tenant_id: int, topic: str) -> list[dict[str, Any]]:
    async with database.transaction(system=True, readonly=True) as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.topic == topic)
            .order_by(OutboxEvent.id)
        )
        return list(rows.all())


async def movements(
    database: Database, tenant_id: int, level_id: int
) -> list[tuple[str, int, int, int, str]]:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.execute(
            select(
                StockMovement.kind,
                StockMovement.on_hand_delta,
                StockMovement.on_hand_after,
                StockMovement.reserved_after,
                StockMovement.reason,
            )
            .where(StockMovement.tenant_id == tenant_id, StockMovement.stock_level_id == level_id)
            .order_by(StockMovement.id)
        )
        return [
            (kind.value, delta, on_hand, reserved, reason) for kind, delta, on_hand, reserved, reason in rows
        ]


async def test_a_snapshot_sets_counts_line_by_line(database: Database) -> None:
    network = await _network(database)
    cable = await network.set_stock(database, "FRA", "cable", 10)
    report = await snapshot(
        database,
        network,
        [
            {"sku_id": network.skus["lamp"], "on_hand": 12, "low_stock_threshold": 3},
            {"sku_code": network.codes["cable"], "on_hand": 7},
            {"sku_code": network.codes["case"], "batch_code": "LOT-7", "on_hand": 5},
            {"sku_id": network.skus["cable"], "on_hand": 0, "batch_code": "LOT-EMPTY"},
        ],
        note="cycle count aisle 4",
    )
    assert (report.applied, report.rejected) == (4, 0)
    assert [(ln.outcome.value, ln.on_hand_before, ln.on_hand, ln.delta) for ln in report.lines] == [
        ("created", None, 12, 12),
        ("changed", 10, 7, -3),
        ("created", None, 5, 5),
        ("created", None, 0, 0),
    ]
    assert report.lines[1].stock_level_id == cable
    assert await movements(database, network.tenant_id, cable) == [
        ("snapshot", 10, 10, 0, "count"),  # the set_stock that made the slot
        ("snapshot", -3, 7, 0, "cycle count aisle 4"),
    ]
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        batch = await session.scalar(
            select(Batch).where(Batch.tenant_id == network.tenant_id, Batch.code == "LOT-7")
        )
        assert batch is not None and batch.sku_id == network.skus["case"]
    again = await snapshot(database, network, [{"sku_id": network.skus["lamp"], "on_hand": 12}])
    assert [(ln.outcome.value, ln.delta, ln.message) for ln in again.lines] == [
        ("unchanged", 0, "count matches")
    ]


async def test_bad_references_refuse_the_whole_snapshot(database: Database) -> None:
    network = await _network(database)
    await network.set_stock(database, "FRA", "lamp", 3)
    before = await network.stock_levels(database)
    cases = [
        (
            [{"sku_id": network.skus["lamp"], "on_hand": 9}, {"sku_code": "NOPE", "on_hand": 1}],
            "lines.1.sku_code",
        ),
        ([{"sku_id": network.skus["lamp"], "on_hand": 9, "batch_id": 10**9}], "lines.0.batch_id"),
        (
            [{"sku_id": network.skus["lamp"], "on_hand": 9}, {"sku_id": network.skus["lamp"], "on_hand": 2}],
            "lines.1.sku_id",
        ),
    ]
    for lines, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await snapshot(database, network, lines)
        assert caught.value.field == field
    with pytest.raises(InvalidInput) as caught:
        async with database.transaction(tenant_id=network.tenant_id) as session:
            data = StockSnapshotIn.model_validate(
                {"warehouse_code": "NOWHERE", "lines": [{"sku_id": 1, "on_hand": 1}]}
            )
            await stock.do_take_snapshot(session, network.tenant_id, data, source="test")
    assert caught.value.field == "warehouse_code"
    assert await network.stock_levels(database) == before


async def test_a_count_below_the_reservations_is_rejected_and_raises_a_discrepancy(
    database: Database,
) -> None:
    network = await _network(database)
    lamp = await network.set_stock(database, "FRA", "lamp", 10)
    await network.set_stock(database, "FRA", "cable", 10)
    await place_order(database, network, {"lamp": 6})
    report = await snapshot(
        database,
        network,
        [{"sku_id": network.skus["lamp"], "on_hand": 4}, {"sku_id": network.skus["cable"], "on_hand": 8}],
    )
    assert (report.applied, report.rejected) == (1, 1)
    rejected = report.lines[0]
    assert (rejected.outcome.value, rejected.on_hand, rejected.reserved, rejected.delta) == (
        "rejected",
        10,
        6,
        0,
    )
    assert "counted 4, but 6 units are reserved" in rejected.message
    assert report.lines[1].outcome.value == "changed"
    assert (await network.stock_levels(database))[("FRA", "lamp", None)] == (10, 6)
    [discrepancy] = await events(database, network.tenant_id, "stock.discrepancy")
    assert discrepancy | {"note": ""} == {
        "stock_level_id": lamp,
        "warehouse_id": network.warehouses["FRA"],
        "sku_id": network.skus["lamp"],
        "batch_id": None,
        "on_hand": 10,
        "reserved": 6,
        "available": 4,
        "counted": 4,
        "shortfall": 2,
        "note": "",
        "source": "test",
    }
    # Counting exactly the reserved units is allowed: nothing is left to sell.
    exact = await snapshot(database, network, [{"sku_id": network.skus["lamp"], "on_hand": 6}])
    assert (exact.lines[0].outcome.value, exact.lines[0].available) == ("changed", 0)
    sold_out = await events(database, network.tenant_id, "stock.sold_out")
    assert sold_out[-1] == {
        "stock_level_id": lamp,
        "warehouse_id": network.warehouses["FRA"],
        "sku_id": network.skus["lamp"],
        "available": 0,
        "threshold": 0,
    }
    live = (await events(database, network.tenant_id, "live.stock"))[-1]
    assert live["cause"] == "snapshot" and live["order_id"] is None
    assert live["levels"] == [
        {
            "stock_level_id": lamp,
            "warehouse_id": network.warehouses["FRA"],
            "sku_id": network.skus["lamp"],
            "on_hand": 6,
            "reserved": 6,
            "available": 0,
        }
    ]
    assert await reservation_mismatches(database, network.tenant_id) == {}


async def test_adjustments_move_on_hand_with_a_reason_and_never_below_the_reservations(
    database: Database,
) -> None:
    network = await _network(database)
    lamp = await network.set_stock(database, "FRA", "lamp", 10, low_stock_threshold=5)
    await place_order(database, network, {"lamp": 3})
    level, movement = await adjust(
        database, network, stock_level_id=lamp, delta=-2, reason="damaged", note="crushed box"
    )
    assert (level.on_hand, level.reserved, movement.on_hand_delta, movement.reason) == (
        8,
        3,
        -2,
        "damaged: crushed box",
    )
    low = await events(database, network.tenant_id, "stock.low")
    assert low[-1] == {
        "stock_level_id": lamp,
        "warehouse_id": network.warehouses["FRA"],
        "sku_id": network.skus["lamp"],
        "available": 5,
        "threshold": 5,
    }
    with pytest.raises(Conflict, match="5 available \\(8 on hand, 3 reserved for orders\\)"):
        await adjust(database, network, stock_level_id=lamp, delta=-6, reason="correction")
    level, _ = await adjust(database, network, stock_level_id=lamp, delta=-5, reason="correction")
    assert (level.on_hand, level.reserved) == (3, 3)
    assert (await events(database, network.tenant_id, "stock.sold_out"))[-1]["available"] == 0
    level, _ = await adjust(database, network, stock_level_id=lamp, delta=4, reason="returned")
    assert level.on_hand - level.reserved == 4
    # A positive adjustment of a slot that does not exist yet creates it; a negative one has nothing to take.
    found, _ = await adjust(
        database,
        network,
        warehouse_id=network.warehouses["FXT"],
        sku_id=network.skus["case"],
        delta=2,
        reason="found",
    )
    assert (found.on_hand, found.reserved, found.warehouse_id) == (2, 0, network.warehouses["FXT"])
    with pytest.raises(Conflict, match="no units to remove"):
        await adjust(
            database,
            network,
            warehouse_id=network.warehouses["EWR"],
            sku_id=network.skus["case"],
            delta=-1,
            reason="damaged",
        )
    assert [m[:3] for m in await movements(database, network.tenant_id, lamp)] == [
        ("snapshot", 10, 10),
        ("adjustment", -2, 8),
        ("adjustment", -5, 3),
        ("adjustment", 4, 7),
    ]
    assert await reservation_mismatches(database, network.tenant_id) == {}


async def test_counts_adjustments_and_orders_racing_keep_the_books(database: Database) -> None:
    """Orders reserve, the warehouse removes damaged units and recounts, all at once: no row ever holds more
    reserved than on hand, reservations equal allocations, and the movement rows add up to the stock."""
    network = await _network(database)
    lamp = await network.set_stock(database, "FRA", "lamp", 40)

    async def order() -> None:
        await place_order(database, network, {"lamp": 1})

    async def damage() -> None:
        with contextlib.suppress(Conflict):  # refused once too few units are free: that is the point
            await adjust(database, network, stock_level_id=lamp, delta=-3, reason="damaged")

    async def recount() -> None:
        await snapshot(database, network, [{"sku_id": network.skus["lamp"], "on_hand": 25}])

    work = [order() for _ in range(24)] + [damage() for _ in range(8)] + [recount() for _ in range(3)]
    await asyncio.gather(*work)
    assert await reservation_mismatches(database, network.tenant_id) == {}
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        level = await session.get(StockLevel, lamp)
        assert level is not None and 0 <= level.reserved <= level.on_hand
        moved = await session.scalar(
            select(func.sum(StockMovement.on_hand_delta)).where(
                StockMovement.tenant_id == network.tenant_id, StockMovement.stock_level_id == lamp
            )
        )
        assert moved == level.on_hand
        statuses = (
            await session.scalars(select(Order.status).where(Order.tenant_id == network.tenant_id))
        ).all()
    assert len(statuses) == 24
    assert sum(1 for s in statuses if s is OrderStatus.ALLOCATED) == level.reserved
