"""Group commit (orders.intake): many orders placed in one transaction behave as if placed one by one.

Each order of a batch is planned on the stock the orders before it left, fails on its own without taking
anything, and is answered exactly as GET /orders/{id} shows it afterwards; keys, merging and the outbox
work across the batch. The queue in front (`OrderIntake`) answers concurrent callers from shared commits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from aftersail.catalog.models import StockLevel
from aftersail.catalog.reservations import StockAfter
from aftersail.catalog.stock_events import level_payload, stock_alerts
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders import intake_pg
from aftersail.orders import service as orders
from aftersail.orders.allocation import order_policy
from aftersail.orders.api import _order_detail
from aftersail.orders.intake import (
    Deferred,
    IdempotencyKeyReused,
    Outcome,
    Placed,
    PlaceRequest,
    Replayed,
    do_place_orders,
)
from aftersail.orders.intake_queue import OrderIntake
from aftersail.orders.models import Customer, Order, OrderStatus
from aftersail.orders.rules import StockExhausted
from aftersail.orders.schemas import OrderCreate
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, order_body, reservation_mismatches, set_order_policy


def request(
    network: Network,
    lines: dict[str, int],
    *,
    key: str | None = None,
    line_currency: str | None = None,
    **extra: Any,
) -> PlaceRequest:
    body = order_body(network, lines, **extra)
    if line_currency is not None:
        for line in body["lines"]:  # type: ignore[attr-defined]
            line["currency"] = line_currency
    return PlaceRequest(
        data=OrderCreate.model_validate(body),
        actor="test",
        key=key,
        digest=f"hash-of-{sorted(lines.items())}",
    )


async def place(db: Database, network: Network, requests: list[PlaceRequest]) -> list[Outcome]:
    async with db.transaction(tenant_id=network.tenant_id) as session:
        policy = await order_policy(session, network.tenant_id)
        return await do_place_orders(session, network.tenant_id, requests, policy=policy)


async def stocked(db: Database, lamps: int = 3) -> Network:
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id)
    await network.set_stock(db, "FRA", "lamp", lamps)
    await network.set_stock(db, "FRA", "cable", 50)
    return network


async def test_a_batch_shares_stock_in_order_and_each_order_fails_alone(database: Database) -> None:
    db = database
    network = await stocked(db, lamps=3)
    outcomes = await place(
        db,
        network,
        [
            request(network, {"lamp": 2}),
            request(network, {"lamp": 2, "cable": 1}),  # 1 lamp left: backordered
            request(network, {"cable": 1}, currency="USD", line_currency="EUR"),  # refused
            request(network, {"cable": 1}, country="BR"),  # nobody ships to Brazil: refused
            request(network, {"cable": 2}, number="LIVE-0001"),
            request(network, {"cable": 2}, number="LIVE-0001"),  # the same number twice: the second loses
        ],
    )
    first, second, usd, brazil, numbered, duplicate = outcomes
    assert isinstance(first, Placed) and first.detail.status is OrderStatus.ALLOCATED
    assert isinstance(second, Placed) and second.detail.status is OrderStatus.BACKORDERED
    lamp_line = next(line for line in second.detail.lines if line.sku_id == network.skus["lamp"])
    assert lamp_line.backordered_quantity == 1
    assert isinstance(usd, InvalidInput) and usd.field == "lines.0.currency"
    assert isinstance(brazil, InvalidInput) and "BR" in str(brazil)
    assert isinstance(numbered, Placed) and numbered.detail.number == "LIVE-0001"
    assert isinstance(duplicate, Conflict) and duplicate.details["field"] == "number"
    levels = await network.stock_levels(db)
    assert levels[("FRA", "lamp", None)] == (3, 3)
    assert levels[("FRA", "cable", None)] == (50, 1 + 2)
    assert await reservation_mismatches(db, network.tenant_id) == {}
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        stored = await session.scalar(
            select(func.count()).select_from(Order).where(Order.tenant_id == network.tenant_id)
        )
        assert stored == 3
        for placed in (first, second, numbered):  # the answer is what a later read shows
            order = await orders.access_order(session, network.tenant_id, placed.order_id)
            stored = await _order_detail(session, network.tenant_id, order)
            assert stored.model_dump() == placed.detail.model_dump()
            assert placed.answer_json() == stored.model_dump_json().encode(), "byte for byte"


async def test_a_buyer_twice_in_a_batch_is_one_customer_with_one_parcel(database: Database) -> None:
    db = database
    network = await stocked(db)
    email = "mia@example.com"
    outcomes = await place(
        db,
        network,
        [request(network, {"cable": 1}, email=email), request(network, {"lamp": 1}, email="MIA@example.com")],
    )
    assert all(isinstance(o, Placed) for o in outcomes)
    one, two = (o.detail for o in outcomes if isinstance(o, Placed))
    assert one.customer.id == two.customer.id
    assert one.allocations[0].shipment_group_id == two.allocations[0].shipment_group_id
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        buyers = await session.scalar(
            select(func.count()).select_from(Customer).where(Customer.tenant_id == network.tenant_id)
        )
        assert buyers == 1
        events = list(
            (
                await session.execute(
                    select(OutboxEvent.topic, OutboxEvent.payload)
                    .where(OutboxEvent.tenant_id == network.tenant_id)
                    .order_by(OutboxEvent.id)
                )
            ).all()
        )
    topics = [topic for topic, _ in events]
    assert topics.count("live.orders") == 1  # one event for the whole batch
    assert "live.stock" in topics
    (announced,) = [payload for topic, payload in events if topic == "live.orders"]
    assert [(o["order_id"], o["number"]) for o in announced["orders"]] == [
        (one.id, one.number),
        (two.id, two.number),
    ], "the Live board hears of the orders as written"


async def test_keys_across_a_batch_replay_defer_and_refuse(database: Database) -> None:
    db = database
    network = await stocked(db)
    first = await place(db, network, [request(network, {"cable": 1}, key="k-1")])
    assert isinstance(first[0], Placed)
    outcomes = await place(
        db,
        network,
        [
            request(network, {"cable": 1}, key="k-1"),  # seen before, same body: the first order
            request(network, {"lamp": 1}, key="k-1"),  # seen before, another body: 409
            request(network, {"cable": 1}, key="k-2"),
            request(network, {"cable": 1}, key="k-2"),  # twice in this batch: waits for the first
        ],
    )
    replay, reused, fresh, twin = outcomes
    assert isinstance(replay, Replayed) and replay.order_id == first[0].order_id
    assert isinstance(reused, IdempotencyKeyReused)
    assert isinstance(fresh, Placed)
    assert isinstance(twin, Deferred)
    again = await place(db, network, [request(network, {"cable": 1}, key="k-2")])
    assert isinstance(again[0], Replayed) and again[0].order_id == fresh.order_id


async def test_a_refused_order_leaves_no_key_behind(database: Database) -> None:
    db = database
    network = await stocked(db, lamps=1)
    await set_order_policy(db, network.tenant_id, on_shortage="reject")
    outcomes = await place(
        db, network, [request(network, {"lamp": 1}), request(network, {"lamp": 1}, key="retry-me")]
    )
    assert isinstance(outcomes[0], Placed)
    assert isinstance(outcomes[1], StockExhausted)
    await network.set_stock(db, "FRA", "lamp", 2)  # restocked: the same key now places the order
    retried = await place(db, network, [request(network, {"lamp": 1}, key="retry-me")])
    assert isinstance(retried[0], Placed)


async def test_the_queue_answers_concurrent_callers_from_shared_commits(database: Database) -> None:
    db = database
    network = await stocked(db, lamps=10)
    intake = OrderIntake(db)
    try:
        outcomes = await asyncio.gather(
            *(intake.place(network.tenant_id, request(network, {"lamp": 1})) for _ in range(14))
        )
    finally:
        await intake.close()
    placed = [o for o in outcomes if isinstance(o, Placed)]
    assert len(placed) == 14
    assert sorted(o.detail.status for o in placed).count(OrderStatus.ALLOCATED) == 10
    assert intake.batches < 14  # requests that arrived together were committed together
    assert (await network.stock_levels(db))[("FRA", "lamp", None)] == (10, 10)
    assert await reservation_mismatches(db, network.tenant_id) == {}


@pytest.mark.postgres
@pytest.mark.parametrize("through", ["queue", "transaction"])
async def test_a_round_that_lost_its_stock_is_placed_again_on_locked_rows(
    postgres_url: str, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a round's read and its reservation another buyer takes the stock it planned on: the
    reservation takes nothing, the round is rolled back, and the next one plans on rows it locked."""
    db = Database(postgres_url)
    network = await stocked(db, lamps=3)
    read_batch = intake_pg.read_batch
    rounds: list[bool] = []

    async def read_then_lose_the_race(*args: Any, lock: bool) -> Any:
        read = await read_batch(*args, lock=lock)
        rounds.append(lock)
        if len(rounds) == 1:  # a rival order commits two of the three lamps meanwhile
            rival = await place(db, network, [request(network, {"lamp": 2})])
            assert isinstance(rival[0], Placed)
        return read

    monkeypatch.setattr(intake_pg, "read_batch", read_then_lose_the_race)
    intake = OrderIntake(db)
    try:
        mine = request(network, {"lamp": 2, "cable": 1})
        if through == "queue":
            outcome = await intake.place(network.tenant_id, mine)
        else:
            [outcome] = await place(db, network, [mine])
    finally:
        await intake.close()
    assert rounds == [False, False, True], "mine lost its first round, the rival's read is the second"
    assert isinstance(outcome, Placed) and outcome.detail.status is OrderStatus.BACKORDERED
    lamp = next(line for line in outcome.detail.lines if line.sku_id == network.skus["lamp"])
    assert lamp.backordered_quantity == 1, "the one lamp left is mine, the other is backordered"
    levels = await network.stock_levels(db)
    assert levels[("FRA", "lamp", None)] == (3, 3)
    assert await reservation_mismatches(db, network.tenant_id) == {}
    await db.dispose()


async def test_stock_events_tell_the_rows_as_moved(database: Database) -> None:
    """`live.stock` carries every stock row the batch moved, as it stands after the batch; a row at or
    below its threshold raises `stock.low`, one at zero `stock.sold_out` (on PostgreSQL the write
    statement builds these payloads itself: they must match the shared definitions)."""
    db = database
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id)
    lamp = await network.set_stock(db, "FRA", "lamp", 2, low_stock_threshold=1)
    cable = await network.set_stock(db, "FRA", "cable", 10, low_stock_threshold=3)
    async with db.transaction(system=True, readonly=True) as session:
        before = await session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0)))
    outcomes = await place(
        db, network, [request(network, {"lamp": 1, "cable": 4}), request(network, {"lamp": 1, "cable": 4})]
    )
    assert all(isinstance(o, Placed) for o in outcomes)
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        rows = (
            await session.execute(
                select(StockLevel).where(StockLevel.id.in_([lamp, cable])).order_by(StockLevel.id)
            )
        ).scalars()
        after = [
            StockAfter(r.id, r.warehouse_id, r.sku_id, r.on_hand, r.reserved, r.low_stock_threshold)
            for r in rows
        ]
        events = (
            await session.execute(
                select(OutboxEvent.topic, OutboxEvent.payload)
                .where(
                    OutboxEvent.tenant_id == network.tenant_id,
                    OutboxEvent.id > before,
                    OutboxEvent.topic.like("%stock%"),
                )
                .order_by(OutboxEvent.id)
            )
        ).all()
    topics = [topic for topic, _ in events]
    assert topics == ["live.stock", *(topic for topic, _ in stock_alerts(after))]
    assert [topic for topic, _ in stock_alerts(after)] == ["stock.sold_out", "stock.low"]
    live = events[0][1]
    assert live["levels"] == [level_payload(level) for level in after]
    assert live["order_ids"] == sorted(o.order_id for o in outcomes if isinstance(o, Placed))
    assert [payload for _, payload in events[1:]] == [payload for _, payload in stock_alerts(after)]
