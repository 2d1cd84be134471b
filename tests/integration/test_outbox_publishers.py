"""Outbox publishers (handlers that touch no database, like the realtime forwarder) on a real database:
they get every claimed event of their topics in one call, keep no `handled_events` row, and a failure
retries the events without running the transactional handlers of the same events twice."""

from __future__ import annotations

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
from tests.integration.test_worker_support import isolated_database


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
