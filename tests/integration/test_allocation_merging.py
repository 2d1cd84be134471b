"""Merging (合并发货) on a migrated database: unpicked orders of one buyer to one address within the tenant's
window share one parcel (ShipmentGroup) per warehouse; another address, another buyer, a released parcel,
a closed window or a tenant that does not merge each start a new one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders import allocation
from aftersail.orders import service as orders
from aftersail.orders.models import Allocation, AllocationStatus, ShipmentGroup
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, place_order, reservation_mismatches, set_order_policy

BERLIN = {"name": "Lena Vogel", "line1": "Hauptstraße 5", "city": "Berlin", "postal_code": "10115"}


async def stocked(db: Database) -> Network:
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id)
    for sku in ("lamp", "cable", "case"):
        await network.set_stock(db, "FRA", sku, 50)
    await network.set_stock(db, "FXT", "case", 50)
    return network


async def parcels(db: Database, network: Network, order_id: int) -> dict[str, int | None]:
    """Warehouse code → shipment group of the order's live allocations."""
    codes = {wid: code for code, wid in network.warehouses.items()}
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        rows = await session.scalars(
            select(Allocation).where(
                Allocation.tenant_id == network.tenant_id,
                Allocation.order_id == order_id,
                Allocation.status != AllocationStatus.CANCELLED,
            )
        )
        return {codes[a.warehouse_id]: a.shipment_group_id for a in rows.all()}


def to(address: dict[str, str], **change: str) -> dict[str, str]:
    return {**address, "country": "DE", **change}


async def test_one_buyer_one_address_within_the_window_shares_a_parcel(database: Database) -> None:
    network = await stocked(database)
    email = "lena@example.de"
    first = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    # Same stop written differently (case, spacing, commas), from a co-hosted stream minutes later.
    again = to(BERLIN, name="LENA  VOGEL", line1="Hauptstraße, 5")
    second = await place_order(database, network, {"cable": 2}, email=email, shipping_address=again)
    assert (await parcels(database, network, first))["FRA"] is not None
    assert await parcels(database, network, first) == await parcels(database, network, second)
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        group = await session.get(ShipmentGroup, (await parcels(database, network, first))["FRA"])
        assert group is not None and group.is_open
        assert group.warehouse_id == network.warehouses["FRA"]


async def test_split_orders_merge_per_warehouse(database: Database) -> None:
    network = await stocked(database)
    await network.set_stock(database, "FRA", "case", 0)  # cases only in Felixstowe: every order splits
    email = "split@example.de"
    first = await place_order(
        database, network, {"lamp": 1, "case": 1}, email=email, shipping_address=to(BERLIN)
    )
    second = await place_order(
        database, network, {"cable": 1, "case": 1}, email=email, shipping_address=to(BERLIN)
    )
    one, two = await parcels(database, network, first), await parcels(database, network, second)
    assert set(one) == set(two) == {"FRA", "FXT"}
    assert one == two and one["FRA"] != one["FXT"]


async def test_another_address_or_another_buyer_is_another_parcel(database: Database) -> None:
    network = await stocked(database)
    email = "lena2@example.de"
    home = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    office = await place_order(
        database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN, line1="Friedrichstraße 100")
    )
    neighbour = await place_order(
        database, network, {"lamp": 1}, email="jonas@example.de", shipping_address=to(BERLIN)
    )
    groups = {(await parcels(database, network, order))["FRA"] for order in (home, office, neighbour)}
    assert len(groups) == 3


async def test_a_released_parcel_takes_no_more_orders(database: Database) -> None:
    network = await stocked(database)
    email = "released@example.de"
    first = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    async with database.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, first)
        await allocation.do_release_order(session, order, actor="warehouse")
    second = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    released, fresh = await parcels(database, network, first), await parcels(database, network, second)
    assert released["FRA"] != fresh["FRA"]
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        closed = await session.get(ShipmentGroup, released["FRA"])
        assert closed is not None and not closed.is_open
        order = await orders.access_order(session, network.tenant_id, first)
        assert order.released_at is not None and order.status.value == "released"
    # Released units stay reserved until they ship.
    assert await reservation_mismatches(database, network.tenant_id) == {}
    third = await place_order(database, network, {"case": 1}, email=email, shipping_address=to(BERLIN))
    assert (await parcels(database, network, third))["FRA"] == fresh["FRA"]


async def test_after_the_window_closes_a_new_parcel_starts(database: Database) -> None:
    network = await stocked(database)
    await set_order_policy(database, network.tenant_id, merge_window_minutes=30)
    email = "late@example.de"
    first = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    group_id = (await parcels(database, network, first))["FRA"]
    async with database.transaction(tenant_id=network.tenant_id) as session:
        group = await session.get(ShipmentGroup, group_id)
        assert group is not None
        assert timedelta(minutes=29) < group.closes_at - utcnow() <= timedelta(minutes=30)
        group.closes_at = utcnow() - timedelta(seconds=1)  # half an hour has passed
    second = await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
    assert (await parcels(database, network, second))["FRA"] != group_id


async def test_a_tenant_that_does_not_merge_ships_every_order_alone(database: Database) -> None:
    network = await stocked(database)
    await set_order_policy(database, network.tenant_id, merge_window_minutes=0)
    email = "alone@example.de"
    orders_placed = [
        await place_order(database, network, {"lamp": 1}, email=email, shipping_address=to(BERLIN))
        for _ in range(2)
    ]
    groups = [(await parcels(database, network, order))["FRA"] for order in orders_placed]
    assert groups[0] != groups[1]
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        for group_id in groups:
            group = await session.get(ShipmentGroup, group_id)
            assert group is not None and not group.is_open
