"""Stock never oversells under a race. 32 buyers order the same SKU at once, each in its own transaction
(PostgreSQL: truly concurrent; SQLite: serialised by its write lock, and must be just as right): exactly
the stock on the shelf is allocated, the rest is backordered, and every stock row's `reserved` equals
the units its allocations hold. The HTTP version drives a real server process with 32 clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from aftersail.catalog.models import StockLevel
from aftersail.kit.db import Database
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, order_body, place_order, reservation_mismatches
from tests.integration.test_worker_support import free_port, start_cli, stop, subprocess_env, wait_for

CLIENTS = 32


def quantity(client: int) -> int:
    """2 or 3 units each: 80 units asked for in all."""
    return 2 + client % 2


@pytest.fixture
async def racing_db(db_url: str) -> AsyncIterator[Database]:
    """A pool wide enough for every buyer to hold a connection at once."""
    db = Database(db_url, pool_size=CLIENTS)
    yield db
    await db.dispose()


async def totals(db: Database, tenant_id: int) -> dict[str, int]:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:

        async def one(query: Any) -> int:
            return int(await session.scalar(query) or 0)

        return {
            "on_hand": await one(
                select(func.sum(StockLevel.on_hand)).where(StockLevel.tenant_id == tenant_id)
            ),
            "reserved": await one(
                select(func.sum(StockLevel.reserved)).where(StockLevel.tenant_id == tenant_id)
            ),
            "min_free": await one(
                select(func.min(StockLevel.on_hand - StockLevel.reserved)).where(
                    StockLevel.tenant_id == tenant_id
                )
            ),
            "allocated": await one(
                select(func.sum(AllocationLine.quantity))
                .join(Allocation, Allocation.id == AllocationLine.allocation_id)
                .where(AllocationLine.tenant_id == tenant_id, Allocation.status == AllocationStatus.RESERVED)
            ),
            "backordered": await one(
                select(func.sum(OrderLine.backordered_quantity)).where(OrderLine.tenant_id == tenant_id)
            ),
            "ordered": await one(
                select(func.sum(OrderLine.quantity)).where(OrderLine.tenant_id == tenant_id)
            ),
            "orders": await one(select(func.count()).select_from(Order).where(Order.tenant_id == tenant_id)),
            "pending": await one(
                select(func.count())
                .select_from(Order)
                .where(Order.tenant_id == tenant_id, Order.status == OrderStatus.PENDING)
            ),
        }


async def race(db: Database, network: Network) -> list[int]:
    """Every buyer places one order for lamps at the same moment; the order ids."""
    start = asyncio.Event()

    async def buyer(client: int) -> int:
        await start.wait()
        return await place_order(db, network, {"lamp": quantity(client)}, email=f"buyer{client}@example.de")

    tasks = [asyncio.create_task(buyer(client)) for client in range(CLIENTS)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


def assert_balanced(found: dict[str, int], stock: int) -> None:
    asked = sum(quantity(client) for client in range(CLIENTS))
    assert found["ordered"] == asked == 80
    assert found["orders"] == CLIENTS and found["pending"] == 0
    assert found["allocated"] == found["reserved"] == stock, found  # every unit sold, none twice
    assert found["backordered"] == asked - stock, found
    assert found["min_free"] >= 0 and found["on_hand"] == stock


async def test_32_buyers_race_for_50_lamps(racing_db: Database) -> None:
    tenant = await make_tenant(racing_db)
    network = await make_network(racing_db, tenant.tenant_id)
    await network.set_stock(racing_db, "FRA", "lamp", 50)
    order_ids = await race(racing_db, network)
    assert len(set(order_ids)) == CLIENTS
    assert_balanced(await totals(racing_db, tenant.tenant_id), 50)
    assert await network.stock_levels(racing_db) == {("FRA", "lamp", None): (50, 50)}
    assert await reservation_mismatches(racing_db, tenant.tenant_id) == {}


async def test_the_race_across_two_warehouses(racing_db: Database) -> None:
    """DE orders: Frankfurt (2 days) sells out first, then Felixstowe (4 days) takes the rest."""
    tenant = await make_tenant(racing_db)
    network = await make_network(racing_db, tenant.tenant_id)
    await network.set_stock(racing_db, "FRA", "lamp", 30)
    await network.set_stock(racing_db, "FXT", "lamp", 20)
    await network.set_stock(racing_db, "EWR", "lamp", 40)  # serves the US only: must stay untouched
    await race(racing_db, network)
    found = await totals(racing_db, tenant.tenant_id)
    assert found["allocated"] == found["reserved"] == 50 and found["backordered"] == 30, found
    assert await network.stock_levels(racing_db) == {
        ("FRA", "lamp", None): (30, 30),
        ("FXT", "lamp", None): (20, 20),
        ("EWR", "lamp", None): (40, 0),
    }
    assert await reservation_mismatches(racing_db, tenant.tenant_id) == {}


async def test_a_bundle_race_never_splits_kits_or_oversells(racing_db: Database) -> None:
    tenant = await make_tenant(racing_db)
    network = await make_network(racing_db, tenant.tenant_id, ("kit", "lamp", "cable"))
    await network.make_bundle(racing_db, "kit", {"lamp": 1, "cable": 2})
    await network.set_stock(racing_db, "FRA", "lamp", 10)
    await network.set_stock(racing_db, "FRA", "cable", 14)  # 7 kits in Frankfurt
    await network.set_stock(racing_db, "FXT", "lamp", 5)
    await network.set_stock(racing_db, "FXT", "cable", 6)  # 3 kits in Felixstowe

    async def buyer(client: int) -> int:
        return await place_order(racing_db, network, {"kit": 1, "lamp": 1}, email=f"k{client}@example.de")

    await asyncio.gather(*(buyer(client) for client in range(16)))
    # Each order takes 2 lamps and 2 cables. Frankfurt serves five whole orders (its lamps run out), then
    # Felixstowe two, and its last lamp and two cables make one more kit whose loose lamp waits: 8 kits.
    async with racing_db.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        rows = await session.execute(
            select(OrderLine.sku_id, func.sum(OrderLine.backordered_quantity))
            .where(OrderLine.tenant_id == tenant.tenant_id)
            .group_by(OrderLine.sku_id)
        )
        backordered = {sku: int(units) for sku, units in rows.all()}
        homes = await session.execute(
            select(AllocationLine.order_line_id, func.count(func.distinct(Allocation.warehouse_id)))
            .join(Allocation, Allocation.id == AllocationLine.allocation_id)
            .join(OrderLine, OrderLine.id == AllocationLine.order_line_id)
            .where(AllocationLine.tenant_id == tenant.tenant_id, OrderLine.sku_id == network.skus["kit"])
            .group_by(AllocationLine.order_line_id)
        )
        assert [count for _, count in homes.all()] == [1] * 8  # each kit's lamp and cables from one place
    assert backordered == {network.skus["kit"]: 8, network.skus["lamp"]: 9}
    assert await network.stock_levels(racing_db) == {
        ("FRA", "lamp", None): (10, 10),
        ("FRA", "cable", None): (14, 10),
        ("FXT", "lamp", None): (5, 5),
        ("FXT", "cable", None): (6, 6),
    }
    assert await reservation_mismatches(racing_db, tenant.tenant_id) == {}


@pytest.mark.slow
@pytest.mark.postgres
async def test_32_http_clients_race_against_a_real_server(postgres_url: str, tmp_path: Path) -> None:
    """32 clients, each on its own connection, post orders to a running `aftersail serve` at once."""
    db = Database(postgres_url)
    try:
        tenant = await make_tenant(db)
        network = await make_network(db, tenant.tenant_id)
        await network.set_stock(db, "FRA", "lamp", 30)
        await network.set_stock(db, "FXT", "lamp", 20)
        port, log = free_port(), tmp_path / "server.log"
        server = start_cli(
            ["serve", "--port", str(port), "--no-migrate"],
            subprocess_env(postgres_url, tmp_path / "data", AFTERSAIL_RUN_DISPATCHER="false"),
            log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient() as probe:

                async def ready() -> bool:
                    try:
                        return (await probe.get(f"{base}/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_for(
                    ready, within=20, interval=0.1, what="the server", logs=[log], processes=[server]
                )
            start = asyncio.Event()

            async def client(number: int) -> httpx.Response:
                body = order_body(network, {"lamp": quantity(number)}, email=f"http{number}@example.de")
                async with httpx.AsyncClient(base_url=base, headers=tenant.headers(), timeout=60) as http:
                    await start.wait()
                    return await http.post("/api/v1/orders", json=body)

            tasks = [asyncio.create_task(client(number)) for number in range(CLIENTS)]
            await asyncio.sleep(0.2)
            start.set()
            answers = await asyncio.gather(*tasks)
        finally:
            stop(server)
        assert [a.status_code for a in answers] == [201] * CLIENTS, [
            a.text for a in answers if a.status_code != 201
        ]
        statuses = [a.json()["status"] for a in answers]
        assert set(statuses) <= {"allocated", "backordered"} and "backordered" in statuses
        for answer in answers:
            order = answer.json()
            held = sum(line["quantity"] for a in order["allocations"] for line in a["lines"])
            assert held + order["lines"][0]["backordered_quantity"] == order["lines"][0]["quantity"]
        assert_balanced(await totals(db, tenant.tenant_id), 50)
        assert await network.stock_levels(db) == {
            ("FRA", "lamp", None): (30, 30),
            ("FXT", "lamp", None): (20, 20),
        }
        assert await reservation_mismatches(db, tenant.tenant_id) == {}
    finally:
        await db.dispose()
