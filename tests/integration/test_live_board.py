"""The Live board's read models on a migrated database (SQLite and PostgreSQL): orders per minute, totals,
top SKUs, stock per SKU per warehouse summed over batches, and sell-out detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftersail.catalog import stock
from aftersail.catalog.schemas import BatchCreate
from aftersail.kit.db import Database
from aftersail.kit.errors import NotFound
from aftersail.orders import live
from aftersail.orders import service as orders
from aftersail.orders.allocation import do_place_order
from aftersail.orders.models import Order, OrderStatus
from aftersail.orders.schemas import LiveSessionCreate, OrderCreate
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, order_body

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


async def new_session(db: Database, tenant_id: int, *, ends_at: datetime | None = None) -> int:
    async with db.transaction(tenant_id=tenant_id) as session:
        created = await orders.do_create_live_session(
            session,
            tenant_id,
            LiveSessionCreate(
                title="Summer desk drop", host="Lina", market="DE", starts_at=START, ends_at=ends_at
            ),
        )
        return created.id


async def place(
    db: Database, network: Network, lines: dict[str, int], *, at: datetime, live_session_id: int | None
) -> Order:
    body = order_body(network, lines, placed_at=at.isoformat(), live_session_id=live_session_id)
    async with db.transaction(tenant_id=network.tenant_id) as session:
        return await do_place_order(
            session, network.tenant_id, OrderCreate.model_validate(body), actor="test"
        )


async def board(db: Database, tenant_id: int, live_session_id: int, now: datetime) -> live.Board:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        return await live.live_board(session, tenant_id, live_session_id, now=now)


async def test_orders_per_minute_totals_and_top_skus(database: Database) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for sku in ("lamp", "cable", "case"):
        await network.set_stock(database, "FRA", sku, 100)
    ended = START + timedelta(minutes=30)
    session_id = await new_session(database, tenant.tenant_id, ends_at=ended)
    # Minute 0: two orders; minute 2: one; minute 29 (the last): one; one after the end still counts in
    # the totals but not in the chart; one order of no session at all.
    for minute, second, lines in [
        (0, 5, {"lamp": 2}),
        (0, 59, {"lamp": 1, "cable": 3}),
        (2, 30, {"case": 1}),
        (29, 0, {"lamp": 1}),
        (31, 0, {"cable": 1}),
    ]:
        await place(
            database,
            network,
            lines,
            at=START + timedelta(minutes=minute, seconds=second),
            live_session_id=session_id,
        )
    await place(database, network, {"lamp": 9}, at=START + timedelta(minutes=1), live_session_id=None)

    seen = await board(database, tenant.tenant_id, session_id, now=START + timedelta(hours=5))
    assert not seen.on_air
    assert (seen.window_start, seen.window_end) == (START, ended)
    assert len(seen.per_minute) == 30
    assert seen.per_minute[0] == 2 and seen.per_minute[2] == 1 and seen.per_minute[29] == 1
    assert sum(seen.per_minute) == 4
    assert seen.order_count == 5 and seen.units == 2 + 4 + 1 + 1 + 1
    assert seen.gmv == {"EUR": 1999 * 9}
    assert [(t.sku.code, t.units, t.orders) for t in seen.top_skus] == [
        (network.codes["lamp"], 4, 3),
        (network.codes["cable"], 4, 2),
        (network.codes["case"], 1, 1),
    ]
    assert [o.placed_at for o in seen.recent][:2] == [
        START + timedelta(minutes=31),
        START + timedelta(minutes=29),
    ]
    assert all(o.host == "Lina" for o in seen.recent)
    assert seen.state()["last_order_id"] == max(o.id for o in seen.recent)

    # On air (no end yet): the last hour up to now, the minute in progress included.
    open_id = await new_session(database, tenant.tenant_id)
    now = START + timedelta(minutes=90, seconds=20)
    await place(database, network, {"lamp": 1}, at=now - timedelta(seconds=10), live_session_id=open_id)
    await place(database, network, {"lamp": 1}, at=now - timedelta(minutes=59), live_session_id=open_id)
    await place(database, network, {"lamp": 1}, at=now - timedelta(minutes=61), live_session_id=open_id)
    watching = await board(database, tenant.tenant_id, open_id, now=now)
    assert watching.on_air
    assert watching.window_end == START + timedelta(minutes=91)
    assert len(watching.per_minute) == live.LIVE_WINDOW_MINUTES
    assert watching.per_minute[-1] == 1 and sum(watching.per_minute) == 2 and watching.order_count == 3


async def test_cancelled_orders_leave_the_gmv(database: Database) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 10)
    session_id = await new_session(database, tenant.tenant_id)
    kept = await place(database, network, {"lamp": 1}, at=START, live_session_id=session_id)
    dropped = await place(database, network, {"lamp": 2}, at=START, live_session_id=session_id)
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        order = await orders.access_order(session, tenant.tenant_id, dropped.id)
        order.status = OrderStatus.CANCELLED
    seen = await board(database, tenant.tenant_id, session_id, now=START + timedelta(minutes=5))
    assert seen.order_count == 2 and seen.cancelled_count == 1
    assert seen.gmv == {"EUR": kept.total_minor} and seen.units == 1
    summaries = {s.live.id: s for s in await _summaries(database, tenant.tenant_id)}
    assert summaries[session_id].order_count == 2 and summaries[session_id].gmv == {"EUR": 1999}


async def _summaries(db: Database, tenant_id: int) -> list[live.SessionSummary]:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        return await live.list_session_summaries(session, tenant_id)


async def test_stock_per_sku_per_warehouse_sums_batches_and_flags_sell_outs(database: Database) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        early = await stock.do_create_batch(
            session, tenant.tenant_id, network.skus["lamp"], BatchCreate(code="B1", expires_on="2030-01-01")
        )
        late = await stock.do_create_batch(
            session, tenant.tenant_id, network.skus["lamp"], BatchCreate(code="B2", expires_on="2031-01-01")
        )
        early_id, late_id = early.id, late.id
    await network.set_stock(database, "FRA", "lamp", 2, batch_id=early_id)
    await network.set_stock(database, "FRA", "lamp", 3, batch_id=late_id)
    await network.set_stock(database, "FXT", "lamp", 4)
    await network.set_stock(database, "FRA", "cable", 1)
    session_id = await new_session(database, tenant.tenant_id)

    first = await place(database, network, {"lamp": 3}, at=START, live_session_id=session_id)
    cells = await _cells(database, network, session_id)
    assert cells[("lamp", "FRA")] == (5, 3, 2) and cells[("lamp", "FXT")] == (4, 0, 4)
    assert ("cable", "FRA") not in cells, "only what the session sells"

    # The last cable in Frankfurt goes, and so do the last two lamps there.
    await place(database, network, {"cable": 1}, at=START + timedelta(minutes=3), live_session_id=session_id)
    last = await place(
        database, network, {"lamp": 2}, at=START + timedelta(minutes=4), live_session_id=session_id
    )
    seen = await board(database, tenant.tenant_id, session_id, now=START + timedelta(minutes=10))
    cells = await _cells(database, network, session_id)
    assert cells[("lamp", "FRA")] == (5, 5, 0) and cells[("cable", "FRA")] == (1, 1, 0)
    assert [w.code for w in seen.warehouses] == ["FRA", "FXT"]
    sold_out = {(s.sku.code, s.warehouse.code): s.at for s in seen.sell_outs}
    assert set(sold_out) == {(network.codes["lamp"], "FRA"), (network.codes["cable"], "FRA")}
    assert all(at is not None for at in sold_out.values())
    lamp_at = sold_out[(network.codes["lamp"], "FRA")]
    assert lamp_at is not None and lamp_at >= (await _created(database, first)), "when the last units went"
    assert seen.sell_outs[0].sku.code == network.codes["lamp"], "latest first"
    assert last.status == OrderStatus.ALLOCATED
    levels = seen.state()["levels"]
    assert sorted(v[2] - v[3] for v in levels.values() if v[1] == network.warehouses["FRA"]) == [0, 0, 0]

    # Restocked: no longer a sell-out.
    await network.set_stock(database, "FRA", "cable", 6)
    seen = await board(database, tenant.tenant_id, session_id, now=START + timedelta(minutes=11))
    assert {(s.sku.code, s.warehouse.code) for s in seen.sell_outs} == {(network.codes["lamp"], "FRA")}


async def _cells(
    db: Database, network: Network, session_id: int
) -> dict[tuple[str, str], tuple[int, int, int]]:
    seen = await board(db, network.tenant_id, session_id, now=START + timedelta(minutes=10))
    names = {sku_id: name for name, sku_id in network.skus.items()}
    codes = {warehouse_id: code for code, warehouse_id in network.warehouses.items()}
    return {
        (names[row.sku.id], codes[warehouse_id]): (cell.on_hand, cell.reserved, cell.available)
        for row in seen.stock
        for warehouse_id, cell in row.cells.items()
    }


async def _created(db: Database, order: Order) -> datetime:
    async with db.transaction(tenant_id=order.tenant_id, readonly=True) as session:
        return (await orders.access_order(session, order.tenant_id, order.id)).created_at


async def test_another_tenants_session_is_not_found(database: Database) -> None:
    ours, theirs = await make_tenant(database), await make_tenant(database)
    session_id = await new_session(database, theirs.tenant_id)
    with pytest.raises(NotFound):
        await board(database, ours.tenant_id, session_id, now=START)
    assert session_id not in {s.live.id for s in await _summaries(database, ours.tenant_id)}
