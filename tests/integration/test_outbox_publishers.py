"""Outbox publishers (handlers that touch no database, like the realtime forwarder) on a real database:
they get every claimed event of their topics in one call, keep no `handled_events` row, and a failure
retries the events without running the transactional handlers of the same events twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.outbox import Delivery, Publisher, Registry, emit_many
from aftersail.kit.outbox_models import HandledEvent, OutboxEvent, OutboxStatus
from tests.factories import make_tenant
from tests.integration.test_outbox_dispatch import FAST_RETRY, Recorder, sleep_until_due
from tests.integration.test_worker_support import isolated_database, wait_for


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(db_url, tmp_path) as database:
        yield database


class Calls:
    """A publisher that remembers each call's deliveries and can be told to fail its first calls."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[list[Delivery]] = []
        self.fail_times = fail_times

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append(list(deliveries))
        if len(self.calls) <= self.fail_times:
            raise ConnectionError("bus unreachable")


async def test_a_publisher_gets_the_claimed_events_at_once_in_order(db: Database) -> None:
    tenant = await make_tenant(db)
    calls = Calls()
    registry = Registry().with_handlers([Publisher(name="test.bus", topics=("live.*",), fn=calls)])
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        await emit_many(
            session,
            [("live.orders", {"n": 1}), ("mail.send", {"n": 2}), ("live.stock", {"n": 3})],
            tenant_id=tenant.tenant_id,
        )

    assert await Dispatcher(db, registry, concurrency=8).run_once() == 3
    assert [(d.topic, d.payload) for call in calls.calls for d in call] == [
        ("live.orders", {"n": 1}),
        ("live.stock", {"n": 3}),
    ], "the events of its topics, in the order they were emitted"
    # SQLite claims one event at a time (one writer); PostgreSQL claimed all three together
    assert len(calls.calls) == (1 if db.is_postgres else 2)
    async with db.transaction(system=True) as session:
        statuses = (await session.scalars(select(OutboxEvent.status))).all()
        handled = await session.scalar(select(func.count()).select_from(HandledEvent))
    assert statuses == [OutboxStatus.DONE] * 3
    assert handled == 0, "a publisher keeps no handled_events row"


async def test_a_failed_publish_is_retried_and_the_handler_beside_it_runs_once(db: Database) -> None:
    tenant = await make_tenant(db)
    calls, recorder = Calls(fail_times=1), Recorder()
    registry = Registry().with_handlers([Publisher(name="test.bus", topics=("live.*",), fn=calls)])
    registry.register("live.orders", name="test.recorder")(recorder)
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        await emit_many(session, [("live.orders", {"n": 1})], tenant_id=tenant.tenant_id)
    worker = Dispatcher(db, registry, retry=FAST_RETRY)

    assert await worker.run_once() == 1
    async with db.transaction(system=True) as session:
        event = (await session.scalars(select(OutboxEvent))).one()
    assert event.status is OutboxStatus.PENDING and event.attempts == 1
    assert event.last_error == "test.bus: ConnectionError: bus unreachable"
    await sleep_until_due(db, event.id)
    assert await worker.run_once() == 1

    async with db.transaction(system=True) as session:
        event = (await session.scalars(select(OutboxEvent))).one()
    assert event.status is OutboxStatus.DONE and event.attempts == 2 and event.last_error is None
    assert [len(call) for call in calls.calls] == [1, 1], "published again on the retry"
    assert [d.attempt for d in recorder.deliveries] == [1], "the handler had applied it: not run again"


async def test_under_load_a_dispatcher_claims_a_few_times_a_second_not_once_per_commit(db: Database) -> None:
    """Commits every few milliseconds each wake the dispatcher; on PostgreSQL it claims at most once per
    busy interval, so each claim carries the events of many commits; every event is delivered."""
    tenant = await make_tenant(db)
    calls = Calls()
    registry = Registry().with_handlers([Publisher(name="test.bus", topics=("live.*",), fn=calls)])
    worker = Dispatcher(db, registry, poll_seconds=0.2, linger_seconds=0.0, busy_interval_seconds=0.1)
    worker.start()
    commits = 0
    try:
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 1.0:
            async with db.transaction(tenant_id=tenant.tenant_id) as session:
                await emit_many(session, [("live.orders", {"n": commits})], tenant_id=tenant.tenant_id)
            commits += 1
            await asyncio.sleep(0.005)

        async def everything_published() -> bool:
            return sum(len(call) for call in calls.calls) == commits

        await wait_for(everything_published, within=5, what="every event published")
    finally:
        await worker.stop()
    assert commits >= 40, "the load was there"
    assert sorted(d.payload["n"] for call in calls.calls for d in call) == list(range(commits))
    if db.is_postgres:
        assert len(calls.calls) <= 1.0 / 0.1 + 3, f"{len(calls.calls)} claims for {commits} commits"
    else:  # SQLite has one writer: one event per claim, by design, claimed one right after another
        assert all(len(call) == 1 for call in calls.calls)
