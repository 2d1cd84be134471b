"""The tenant-set cooling-off window, delivered by the real outbox dispatcher (SQLite and PostgreSQL): placing
an order schedules its `orders.release` job at placed_at + window; the job releases it when due, leaves a
cancelled order alone, and nothing is scheduled when the tenant has no window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.kit.realtime import InMemoryBus
from aftersail.kit.worker import application_registry, load_handler_modules
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.allocation import do_place_order
from aftersail.orders.models import OrderEvent, OrderStatus
from aftersail.orders.schemas import OrderCreate
from aftersail.orders.tasks import RELEASE_ACTOR, RELEASE_TOPIC, release_job_key
from tests.fulfilment import Network, order_body
from tests.integration.test_order_changes import network_with_stock, set_order_settings
from tests.integration.test_worker_support import isolated_database


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(db_url, tmp_path) as database:
        yield database


def dispatcher(db: Database) -> Dispatcher:
    load_handler_modules()
    return Dispatcher(db, application_registry(InMemoryBus()))


async def place(db: Database, network: Network, placed_ago: timedelta) -> int:
    body = order_body(network, {"lamp": 1}, placed_at=(utcnow() - placed_ago).isoformat())
    async with db.transaction(tenant_id=network.tenant_id) as session:
        order = await do_place_order(
            session, network.tenant_id, OrderCreate.model_validate(body), actor="user:1"
        )
        return order.id


async def status_of(db: Database, network: Network, order_id: int) -> OrderStatus:
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        return (await orders.access_order(session, network.tenant_id, order_id)).status


async def release_jobs(db: Database) -> list[OutboxEvent]:
    async with db.transaction(system=True, readonly=True) as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == RELEASE_TOPIC))
        return list(rows.all())


async def test_order_past_its_window_is_released_by_the_job(db: Database) -> None:
    network = await network_with_stock(db, FRA={"lamp": 5})
    await set_order_settings(db, network.tenant_id, release_after_minutes=30)
    order_id = await place(db, network, timedelta(hours=2))
    assert await status_of(db, network, order_id) is OrderStatus.ALLOCATED
    await dispatcher(db).run_once()  # live.order → schedules the job (already due) → the job releases
    assert await status_of(db, network, order_id) is OrderStatus.RELEASED
    (job,) = await release_jobs(db)
    assert job.dedupe_key == release_job_key(network.tenant_id, order_id)
    assert job.status is OutboxStatus.DONE
    async with db.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        events = await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id))
        assert ("released", RELEASE_ACTOR) in {(e.action, e.actor) for e in events.all()}


async def test_job_waits_for_the_window_and_spares_cancelled_orders(db: Database) -> None:
    network = await network_with_stock(db, FRA={"lamp": 5})
    await set_order_settings(db, network.tenant_id, release_after_minutes=60)
    almost = timedelta(minutes=60) - timedelta(seconds=3)  # the window ends three seconds from now
    kept, cancelled = await place(db, network, almost), await place(db, network, almost)
    worker = dispatcher(db)
    await worker.run_once()
    jobs = await release_jobs(db)
    assert {j.dedupe_key for j in jobs} == {release_job_key(network.tenant_id, o) for o in (kept, cancelled)}
    assert all(j.status is OutboxStatus.PENDING and as_utc(j.due_at) > utcnow() for j in jobs)
    assert await status_of(db, network, kept) is OrderStatus.ALLOCATED  # still in its window
    async with db.transaction(tenant_id=network.tenant_id) as session:
        order = await orders.access_order(session, network.tenant_id, cancelled)
        await changes.do_cancel_order(
            session, order, actor=changes.buyer_actor(cancelled), reason="changed my mind"
        )
    await asyncio.sleep(max(0.0, max((as_utc(j.due_at) - utcnow()).total_seconds() for j in jobs)) + 0.2)
    await worker.run_once()
    assert await status_of(db, network, kept) is OrderStatus.RELEASED
    assert await status_of(db, network, cancelled) is OrderStatus.CANCELLED
    assert {j.status for j in await release_jobs(db)} == {OutboxStatus.DONE}


async def test_without_a_window_the_warehouse_decides(db: Database) -> None:
    network = await network_with_stock(db, FRA={"lamp": 5})
    order_id = await place(db, network, timedelta(days=3))
    await dispatcher(db).run_once()
    assert await release_jobs(db) == []
    assert await status_of(db, network, order_id) is OrderStatus.ALLOCATED
