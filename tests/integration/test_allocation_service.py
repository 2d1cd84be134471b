"""Allocation through orders.allocation on a migrated database (SQLite and PostgreSQL): the chosen warehouse
and its reason are stored, reservations equal the allocation lines, batches leave FEFO, bundles come whole
from one warehouse, splits, backorders, the reject policy, and giving stock back."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.orders import allocation
from aftersail.orders import service as orders
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
)
from aftersail.orders.rules import StockExhausted
from tests.factories import make_tenant
from tests.fulfilment import (
    Network,
    make_network,
    place_order,
    reservation_mismatches,
    set_order_policy,
)


async def stocked(
    db: Database, skus: tuple[str, ...] = ("lamp", "cable", "case"), **stock: dict[str, int]
) -> Network:
    """A fresh tenant and network; `FRA={"lamp": 5}` puts unbatched stock on the shelves."""
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id, skus)
    for warehouse, units in stock.items():
        for sku, on_hand in units.items():
            await network.set_stock(db, warehouse, sku, on_hand)
    return network


async def allocations_of(
    db: Database, network: Network, order_id: int
) -> list[tuple[Allocation, list[AllocationLine]]]:
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        found = (
            await session.scalars(
                select(Allocation)
                .where(Allocation.tenant_id == network.tenant_id, Allocation.order_id == order_id)
                .order_by(Allocation.id)
            )
        ).all()
        result = []
        for row in found:
            lines = (
                await session.scalars(
                    select(AllocationLine)
                    .where(
                        AllocationLine.tenant_id == network.tenant_id, AllocationLine.allocation_id == row.id
                    )
                    .order_by(AllocationLine.id)
                )
            ).all()
            result.append((row, list(lines)))
        return result


async def order_state(
    db: Database, network: Network, order_id: int
) -> tuple[OrderStatus, list[tuple[int, int]]]:
    """The order's status and (quantity, backordered quantity) per line."""
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        lines = [
            (line.quantity, line.backordered_quantity)
            for line, _ in await orders.order_lines(session, network.tenant_id, order_id)
        ]
        return order.status, lines


async def test_the_chosen_warehouse_and_its_reason_are_stored(database: Database) -> None:
    network = await stocked(
        database,
        FRA={"lamp": 10, "cable": 10, "case": 10},
        FXT={"lamp": 10, "cable": 10, "case": 10},
    )
    order_id = await place_order(database, network, {"lamp": 2, "cable": 1, "case": 1})
    [(chosen, lines)] = await allocations_of(database, network, order_id)
    assert chosen.warehouse_id == network.warehouses["FRA"]
    assert chosen.reason == "Frankfurt: all 3 lines in stock, 2 days to DE"
    assert (chosen.transit_days, chosen.status) == (2, AllocationStatus.RESERVED)
    assert sorted((line.sku_id, line.quantity) for line in lines) == sorted(
        [(network.skus["lamp"], 2), (network.skus["cable"], 1), (network.skus["case"], 1)]
    )
    status, backorders = await order_state(database, network, order_id)
    assert status is OrderStatus.ALLOCATED and backorders == [(2, 0), (1, 0), (1, 0)]
    assert await network.stock_levels(database) == {
        ("FRA", "lamp", None): (10, 2),
        ("FRA", "cable", None): (10, 1),
        ("FRA", "case", None): (10, 1),
        ("FXT", "lamp", None): (10, 0),
        ("FXT", "cable", None): (10, 0),
        ("FXT", "case", None): (10, 0),
    }
    assert await reservation_mismatches(database, network.tenant_id) == {}
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        trail = await orders.list_order_events(session, network.tenant_id, order_id)
    assert [(e.action, e.actor) for e in trail] == [("created", "test"), ("allocated", "test")]
    assert trail[1].details["warehouses"] == [chosen.reason]


async def test_a_gb_order_goes_to_felixstowe_the_faster_lane(database: Database) -> None:
    network = await stocked(database, FRA={"lamp": 10}, FXT={"lamp": 10})
    order_id = await place_order(database, network, {"lamp": 1}, country="GB")
    [(chosen, _)] = await allocations_of(database, network, order_id)
    assert chosen.reason == "Felixstowe: in stock, 1 day to GB"


async def test_batches_leave_first_expiry_first_out(database: Database) -> None:
    network = await stocked(database)
    late = await network.add_batch(database, "lamp", "L-LATE", expires_on=date(2027, 1, 1))
    soon = await network.add_batch(database, "lamp", "L-SOON", expires_on=date(2026, 1, 1))
    old = await network.add_batch(database, "lamp", "L-OLD", received_on=date(2024, 1, 1))
    await network.set_stock(database, "FRA", "lamp", 5, batch_id=late)
    await network.set_stock(database, "FRA", "lamp", 2, batch_id=soon)
    await network.set_stock(database, "FRA", "lamp", 9, batch_id=old)
    order_id = await place_order(database, network, {"lamp": 4})
    [(_, lines)] = await allocations_of(database, network, order_id)
    assert sorted((line.batch_id, line.quantity) for line in lines) == sorted([(soon, 2), (late, 2)])
    second = await place_order(database, network, {"lamp": 4})
    [(_, lines)] = await allocations_of(database, network, second)
    # The expiring batch is gone first; then the undated (received) batch comes after the dated ones.
    assert sorted((line.batch_id, line.quantity) for line in lines) == sorted([(late, 3), (old, 1)])
    levels = await network.stock_levels(database)
    assert (levels[("FRA", "lamp", soon)], levels[("FRA", "lamp", late)], levels[("FRA", "lamp", old)]) == (
        (2, 2),
        (5, 5),
        (9, 1),
    )
    assert await reservation_mismatches(database, network.tenant_id) == {}


async def test_bundle_components_are_reserved_from_one_warehouse(database: Database) -> None:
    network = await stocked(
        database,
        ("kit", "lamp", "cable"),
        FRA={"lamp": 5, "cable": 1},  # faster, but cannot make a kit
        FXT={"lamp": 2, "cable": 4},
    )
    await network.make_bundle(database, "kit", {"lamp": 1, "cable": 2})
    order_id = await place_order(database, network, {"kit": 2})
    [(chosen, lines)] = await allocations_of(database, network, order_id)
    assert chosen.warehouse_id == network.warehouses["FXT"]
    assert sorted((line.sku_id, line.quantity) for line in lines) == sorted(
        [(network.skus["lamp"], 2), (network.skus["cable"], 4)]
    )
    assert {line.order_line_id for line in lines} == {lines[0].order_line_id}  # both for the kit's line
    levels = await network.stock_levels(database)
    assert levels[("FXT", "lamp", None)] == (2, 2) and levels[("FXT", "cable", None)] == (4, 4)
    assert levels[("FRA", "lamp", None)] == (5, 0)
    status, _ = await order_state(database, network, order_id)
    assert status is OrderStatus.ALLOCATED
    # No warehouse can make another kit: the next one waits, nothing of it is reserved.
    waiting = await place_order(database, network, {"kit": 1})
    assert await order_state(database, network, waiting) == (OrderStatus.BACKORDERED, [(1, 1)])
    assert await allocations_of(database, network, waiting) == []
    assert await reservation_mismatches(database, network.tenant_id) == {}


async def test_no_single_warehouse_splits_the_order(database: Database) -> None:
    network = await stocked(database, FRA={"lamp": 5}, FXT={"cable": 5})
    order_id = await place_order(database, network, {"lamp": 1, "cable": 2})
    found = await allocations_of(database, network, order_id)
    assert [(a.warehouse_id, a.reason) for a, _ in found] == [
        (network.warehouses["FRA"], f"Frankfurt: 1 line of 2 ({network.codes['lamp']}), 2 days to DE"),
        (network.warehouses["FXT"], f"Felixstowe: 1 line of 2 ({network.codes['cable']}), 4 days to DE"),
    ]
    assert len({a.shipment_group_id for a, _ in found}) == 2  # one parcel per warehouse
    assert await order_state(database, network, order_id) == (OrderStatus.ALLOCATED, [(1, 0), (2, 0)])
    assert await reservation_mismatches(database, network.tenant_id) == {}


async def test_shortage_is_backordered_by_default(database: Database) -> None:
    network = await stocked(database, FRA={"lamp": 1, "cable": 3})
    order_id = await place_order(database, network, {"lamp": 3, "cable": 3})
    assert await order_state(database, network, order_id) == (OrderStatus.BACKORDERED, [(3, 2), (3, 0)])
    [(_, lines)] = await allocations_of(database, network, order_id)
    assert sum(line.quantity for line in lines) == 4
    assert await network.stock_levels(database) == {
        ("FRA", "lamp", None): (1, 1),
        ("FRA", "cable", None): (3, 3),
    }
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        trail = await orders.list_order_events(session, network.tenant_id, order_id)
    assert trail[-1].action == "backordered"
    assert trail[-1].details["summary"] == (
        f"Backordered {network.codes['lamp']} ×2: not in stock at any warehouse serving DE"
    )


async def test_shortage_under_the_reject_policy_refuses_and_reserves_nothing(database: Database) -> None:
    network = await stocked(database, FRA={"lamp": 1, "cable": 3})
    await set_order_policy(database, network.tenant_id, on_shortage="reject")
    with pytest.raises(StockExhausted) as refused:
        await place_order(database, network, {"cable": 2, "lamp": 3})
    assert refused.value.message == (
        f"Not enough stock in warehouses serving DE: {network.codes['lamp']} ×2 missing."
    )
    assert await network.stock_levels(database) == {
        ("FRA", "lamp", None): (1, 0),
        ("FRA", "cable", None): (3, 0),
    }
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        for model in (Order, OrderLine, Allocation, AllocationLine, OrderEvent):
            count = await session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == network.tenant_id)
            )
            assert count == 0, model.__tablename__
    # What is in stock is still sold under the same policy.
    order_id = await place_order(database, network, {"cable": 3})
    assert (await order_state(database, network, order_id))[0] is OrderStatus.ALLOCATED


async def test_unallocating_gives_every_unit_back(database: Database) -> None:
    network = await stocked(database, FRA={"lamp": 2}, FXT={"cable": 5})
    order_id = await place_order(database, network, {"lamp": 3, "cable": 2})
    assert await order_state(database, network, order_id) == (OrderStatus.BACKORDERED, [(3, 1), (2, 0)])
    async with database.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        after = await allocation.do_unallocate_order(session, order)
    assert sorted((level.reserved, level.available) for level in after) == [(0, 2), (0, 5)]
    assert await network.stock_levels(database) == {
        ("FRA", "lamp", None): (2, 0),
        ("FXT", "cable", None): (5, 0),
    }
    found = await allocations_of(database, network, order_id)
    assert {a.status for a, _ in found} == {AllocationStatus.CANCELLED}
    assert all(a.shipment_group_id is None for a, _ in found)
    assert (await order_state(database, network, order_id))[1] == [(3, 0), (2, 0)]
    assert await reservation_mismatches(database, network.tenant_id) == {}
    # Nothing left to give back: a second call is a no-op.
    async with database.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        assert await allocation.do_unallocate_order(session, order) == []
