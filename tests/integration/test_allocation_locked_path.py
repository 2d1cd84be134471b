"""When optimistic rounds keep losing races (a hot SKU selling out), allocation locks the candidate stock rows
and plans on what they hold: the order still gets the units that exist."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.orders import allocation
from aftersail.orders.models import Order, OrderStatus
from tests.factories import make_tenant
from tests.fulfilment import make_network, place_order, reservation_mismatches


async def _status(db: Database, tenant_id: int, order_id: int) -> OrderStatus:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        status = await session.scalar(select(Order.status).where(Order.id == order_id))
        assert status is not None
        return status


async def test_locked_round_allocates_what_exists(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allocation, "MAX_ROUNDS", 0)  # go straight to the locked round
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 3)
    first = await place_order(database, network, {"lamp": 2})
    second = await place_order(database, network, {"lamp": 2})
    assert await _status(database, tenant.tenant_id, first) is OrderStatus.ALLOCATED
    assert await _status(database, tenant.tenant_id, second) is OrderStatus.BACKORDERED
    assert await reservation_mismatches(database, tenant.tenant_id) == {}


@pytest.mark.postgres
async def test_locked_rounds_under_a_race_never_oversell(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allocation, "MAX_ROUNDS", 0)
    db = Database(postgres_url, pool_size=20)
    try:
        tenant = await make_tenant(db)
        network = await make_network(db, tenant.tenant_id)
        await network.set_stock(db, "FRA", "lamp", 10)
        ids = await asyncio.gather(*(place_order(db, network, {"lamp": 1}) for _ in range(16)))
        statuses = [await _status(db, tenant.tenant_id, order_id) for order_id in ids]
        assert statuses.count(OrderStatus.ALLOCATED) == 10
        assert statuses.count(OrderStatus.BACKORDERED) == 6
        assert await reservation_mismatches(db, tenant.tenant_id) == {}
    finally:
        await db.dispose()
