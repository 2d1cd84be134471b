"""Cooling-off changes on a migrated database (SQLite and PostgreSQL): each change gives the reservations
back and allocates again in one transaction, writes the audit trail, and a refused change leaves the order
exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from aftersail.catalog import service as catalog
from aftersail.catalog.models import StockLevel
from aftersail.catalog.schemas import ProductCreate, SkuCreate
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.allocation import active_allocations, do_place_order
from aftersail.orders.models import Allocation, AllocationStatus, Order, OrderEvent, OrderStatus
from aftersail.orders.rules import ChangeWindowClosed, NoWarehouseServes, StockExhausted
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants.models import Tenant
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, order_body

ACTOR = "user:1"
BERLIN = {"name": "Lena Vogel", "line1": "Hauptstraße 5", "city": "Berlin", "postal_code": "10115"}
LONDON = {"name": "Lena Vogel", "line1": "10 Downing St", "city": "London", "postal_code": "SW1A 2AA"}


async def network_with_stock(db: Database, **stock: dict[str, int]) -> Network:
    """`FRA={"lamp": 5}` etc.: a fresh tenant and network with that stock."""
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id)
    for warehouse, skus in stock.items():
        for sku, units in skus.items():
            await network.set_stock(db, warehouse, sku, units)
    return network


async def set_order_settings(db: Database, tenant_id: int, **settings: Any) -> None:
    async with db.transaction(tenant_id=tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.settings = {**(tenant.settings or {}), "orders": settings}


async def place(db: Database, network: Network, lines: dict[str, int], country: str = "DE") -> int:
    async with db.transaction(tenant_id=network.tenant_id) as session:
        body = OrderCreate.model_validate(order_body(network, lines, country=country))
        return (await do_place_order(session, network.tenant_id, body, actor=ACTOR)).id


async def reserved(db: Database, network: Network) -> dict[tuple[str, str], int]:
    """(warehouse code, SKU name) → reserved units, for rows that have any."""
    codes = {v: k for k, v in network.warehouses.items()}
    names = {v: k for k, v in network.skus.items()}
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        rows = await session.scalars(select(StockLevel).where(StockLevel.tenant_id == network.tenant_id))
        return {(codes[r.warehouse_id], names[r.sku_id]): r.reserved for r in rows.all() if r.reserved}


async def snapshot(db: Database, network: Network, order_id: int) -> dict[str, Any]:
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        allocations = await active_allocations(session, order)
        lines = await orders.order_lines(session, network.tenant_id, order_id)
        events = await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        )
        return {
            "status": order.status,
            "country": order.country,
            "address": order.shipping_address,
            "total": order.total_minor,
            "warehouses": sorted(a.warehouse_id for a in allocations),
            "lines": [(line.sku_id, line.quantity, line.backordered_quantity) for line, _ in lines],
            "events": [(e.actor, e.action, e.details) for e in events.all()],
        }


async def change(db: Database, network: Network, order_id: int, action: str, **kwargs: Any) -> None:
    async with db.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        if action == "cancel":
            await changes.do_cancel_order(session, order, actor=ACTOR, reason="buyer asked", **kwargs)
        elif action == "address":
            await changes.do_change_address(session, order, actor=ACTOR, **kwargs)
        elif action == "line":
            await changes.do_change_line(session, order, actor=ACTOR, **kwargs)
        else:
            await changes.do_release_for_picking(session, order, actor=ACTOR, **kwargs)


async def test_cancel_gives_the_stock_back_and_is_audited(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 5, "cable": 5})
    order_id = await place(database, network, {"lamp": 2, "cable": 1})
    assert await reserved(database, network) == {("FRA", "lamp"): 2, ("FRA", "cable"): 1}
    await change(database, network, order_id, "cancel", actor_name="Mia Chen")
    assert await reserved(database, network) == {}
    after = await snapshot(database, network, order_id)
    assert after["status"] is OrderStatus.CANCELLED and after["warehouses"] == []
    actor, action, details = after["events"][-1]
    assert (actor, action) == (ACTOR, "cancelled")
    assert details["reason"] == "buyer asked" and details["actor_name"] == "Mia Chen"
    assert details["before"]["status"] == "allocated" and details["after"]["status"] == "cancelled"
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        assert (await session.get(Order, order_id)).cancelled_at is not None  # type: ignore[union-attr]
    with pytest.raises(ChangeWindowClosed, match="cancelled"):
        await change(database, network, order_id, "cancel")


async def test_address_change_to_another_country_moves_the_reservation(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 3}, FXT={"lamp": 3})
    order_id = await place(database, network, {"lamp": 2})
    assert await reserved(database, network) == {("FRA", "lamp"): 2}  # Frankfurt: 2 days to DE
    await change(database, network, order_id, "address", new_address={**LONDON, "country": "GB"})
    assert await reserved(database, network) == {("FXT", "lamp"): 2}  # Felixstowe: 1 day to GB
    after = await snapshot(database, network, order_id)
    assert after["country"] == "GB" and after["warehouses"] == [network.warehouses["FXT"]]
    actions = [(a, act) for a, act, _ in after["events"]]
    assert actions[-2:] == [(ACTOR, "address_changed"), (ACTOR, "allocated")]
    details = next(d for _, act, d in after["events"] if act == "address_changed")
    assert details["before"]["address"]["country"] == "DE" and details["after"]["address"]["city"] == "London"


async def test_address_no_warehouse_serves_changes_nothing(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 3})
    order_id = await place(database, network, {"lamp": 2})
    before = await snapshot(database, network, order_id)
    with pytest.raises(NoWarehouseServes):
        await change(database, network, order_id, "address", new_address={**BERLIN, "country": "JP"})
    assert await snapshot(database, network, order_id) == before
    assert await reserved(database, network) == {("FRA", "lamp"): 2}


async def test_quantity_change_reallocates_and_recomputes_the_total(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 2}, FXT={"lamp": 5})
    order_id = await place(database, network, {"lamp": 2})
    assert await reserved(database, network) == {("FRA", "lamp"): 2}
    line_id = await first_line(database, network, order_id)
    await change(database, network, order_id, "line", line_id=line_id, quantity=4)
    # Frankfurt has only 2; Felixstowe ships all 4 to DE in one parcel.
    assert await reserved(database, network) == {("FXT", "lamp"): 4}
    after = await snapshot(database, network, order_id)
    assert after["total"] == 4 * 1999 and after["lines"] == [(network.skus["lamp"], 4, 0)]
    details = next(d for _, act, d in after["events"] if act == "line_changed")
    assert details["before"]["quantity"] == 2 and details["after"]["quantity"] == 4
    assert details["before"]["total_minor"] == 2 * 1999 and details["after"]["total_minor"] == 4 * 1999


async def first_line(db: Database, network: Network, order_id: int) -> int:
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        return (await orders.order_lines(session, network.tenant_id, order_id))[0][0].id


async def test_variant_change_moves_the_reservation_to_the_other_sku(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 5, "case": 5})
    order_id = await place(database, network, {"lamp": 1})
    line_id = await first_line(database, network, order_id)
    await change(database, network, order_id, "line", line_id=line_id, sku_id=network.skus["case"])
    assert await reserved(database, network) == {("FRA", "case"): 1}
    assert (await snapshot(database, network, order_id))["lines"] == [(network.skus["case"], 1, 0)]


async def test_variant_must_be_of_the_same_product(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 5})
    async with database.transaction(tenant_id=network.tenant_id) as session:
        _, (mug,) = await catalog.do_create_product(  # another product of the same tenant
            session,
            network.tenant_id,
            ProductCreate(
                handle=f"mug-{network.tenant_id}",
                title="Mug",
                category="kitchen",
                skus=[
                    SkuCreate(
                        code=f"MUG-{network.tenant_id}", title="Mug", declared_value_minor=900, currency="USD"
                    )
                ],
            ),
        )
    order_id = await place(database, network, {"lamp": 1})
    line_id = await first_line(database, network, order_id)
    before = await snapshot(database, network, order_id)
    with pytest.raises(InvalidInput, match="not a variant") as refused:
        await change(database, network, order_id, "line", line_id=line_id, sku_id=mug.id)
    assert refused.value.field == "sku_id"
    assert await snapshot(database, network, order_id) == before


async def test_reject_policy_refusal_keeps_the_old_allocation(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 3})
    await set_order_settings(database, network.tenant_id, on_shortage="reject")
    order_id = await place(database, network, {"lamp": 2})
    before = await snapshot(database, network, order_id)
    line_id = await first_line(database, network, order_id)
    with pytest.raises(StockExhausted):
        await change(database, network, order_id, "line", line_id=line_id, quantity=5)
    assert await snapshot(database, network, order_id) == before
    assert await reserved(database, network) == {("FRA", "lamp"): 2}


async def test_refused_change_rolls_back_even_when_the_caller_carries_on(database: Database) -> None:
    """The savepoint: a caller that catches the refusal and commits still commits nothing of it."""
    network = await network_with_stock(database, FRA={"lamp": 3})
    order_id = await place(database, network, {"lamp": 2})
    before = await snapshot(database, network, order_id)
    async with database.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, order_id)
        with pytest.raises(NoWarehouseServes):
            await changes.do_change_address(session, order, {**BERLIN, "country": "JP"}, actor=ACTOR)
    assert await snapshot(database, network, order_id) == before
    assert await reserved(database, network) == {("FRA", "lamp"): 2}


async def test_after_release_every_change_is_refused_and_nothing_changes(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 3})
    order_id = await place(database, network, {"lamp": 2})
    await change(database, network, order_id, "release", actor_name="Warehouse FRA")
    before = await snapshot(database, network, order_id)
    assert before["status"] is OrderStatus.RELEASED
    assert before["events"][-1][1:] == ("released", {"actor_name": "Warehouse FRA"})
    line_id = await first_line(database, network, order_id)
    for action, kwargs in [
        ("cancel", {}),
        ("address", {"new_address": {**LONDON, "country": "GB"}}),
        ("line", {"line_id": line_id, "quantity": 1}),
    ]:
        with pytest.raises(ChangeWindowClosed, match="return or an exchange"):
            await change(database, network, order_id, action, **kwargs)
    assert await snapshot(database, network, order_id) == before
    assert await reserved(database, network) == {("FRA", "lamp"): 2}  # still held for the picker
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        statuses = await session.scalars(select(Allocation.status).where(Allocation.order_id == order_id))
        assert set(statuses.all()) == {AllocationStatus.RELEASED}
    with pytest.raises(Conflict, match="only allocated or backordered"):
        await change(database, network, order_id, "release")


async def test_backordered_line_reduced_to_what_is_in_stock_becomes_allocated(database: Database) -> None:
    network = await network_with_stock(database, FRA={"lamp": 2})
    order_id = await place(database, network, {"lamp": 3})
    placed = await snapshot(database, network, order_id)
    assert placed["status"] is OrderStatus.BACKORDERED and placed["lines"][0][2] == 1
    line_id = await first_line(database, network, order_id)
    await change(database, network, order_id, "line", line_id=line_id, quantity=2)
    after = await snapshot(database, network, order_id)
    assert after["status"] is OrderStatus.ALLOCATED and after["lines"][0][1:] == (2, 0)
    assert await reserved(database, network) == {("FRA", "lamp"): 2}
