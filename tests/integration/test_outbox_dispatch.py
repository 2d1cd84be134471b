"""The outbox end to end on a real database (SQLite and PostgreSQL): emit, dispatch after commit, retry
with backoff, dead letters, scheduled jobs, idempotent re-delivery and leases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.outbox import (
    Delivery,
    Registry,
    RetryPolicy,
    do_retry_dead,
    emit,
    list_dead,
    schedule_job,
)
from aftersail.kit.outbox_claims import LEASE_EXPIRED_ERROR
from aftersail.kit.outbox_models import HandledEvent, OutboxEvent, OutboxStatus
from tests.factories import make_tenant
from tests.integration.test_worker_support import isolated_database, wait_for

FAST_RETRY = RetryPolicy(base_seconds=0.4, max_seconds=2.0)


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(db_url, tmp_path) as database:
        yield database


class Recorder:
    """A handler that remembers what it was given and can be told to fail its first calls."""

    def __init__(self, fail_times: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_times = fail_times

    async def __call__(self, session, delivery: Delivery) -> None:  # type: ignore[no-untyped-def]
        self.deliveries.append(delivery)
        if len(self.deliveries) <= self.fail_times:
            raise RuntimeError(f"boom #{len(self.deliveries)}")


def dispatcher(db: Database, registry: Registry, **options: object) -> Dispatcher:
    return Dispatcher(db, registry, retry=FAST_RETRY, **options)  # type: ignore[arg-type]


async def load(db: Database, event_id: int) -> OutboxEvent:
    async with db.transaction(system=True) as session:
        event = await session.get(OutboxEvent, event_id)
        assert event is not None
        return event


async def sleep_until_due(db: Database, event_id: int) -> None:
    due_at = (await load(db, event_id)).due_at
    await asyncio.sleep(max(0.0, (due_at - utcnow()).total_seconds()) + 0.02)


async def test_emitted_event_is_dispatched_once_after_commit(db: Database) -> None:
    tenant = await make_tenant(db)
    recorder = Recorder()
    registry = Registry()
    registry.register("order.created", name="test.recorder")(recorder)
    worker = dispatcher(db, registry)

    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        event = await emit(session, "order.created", {"order_id": 7}, tenant_id=tenant.tenant_id)
        assert await worker.run_once() == 0, "an uncommitted event must not be dispatched"

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert [(d.event_id, d.topic, d.payload, d.tenant_id, d.attempt) for d in recorder.deliveries] == [
        (event.id, "order.created", {"order_id": 7}, tenant.tenant_id, 1)
    ]
    stored = await load(db, event.id)
    assert stored.status is OutboxStatus.DONE
    assert stored.finished_at is not None and stored.locked_by is None
    async with db.transaction(system=True) as session:
        handled = (await session.scalars(select(HandledEvent).where(HandledEvent.event_id == event.id))).all()
    assert [(h.handler, h.tenant_id) for h in handled] == [("test.recorder", tenant.tenant_id)]


async def test_rolled_back_transaction_emits_nothing(db: Database) -> None:
    recorder = Recorder()
    registry = Registry()
    registry.register("order.cancelled", name="test.recorder")(recorder)

    with pytest.raises(RuntimeError, match="abandon"):
        async with db.transaction(system=True) as session:
            await emit(session, "order.cancelled", {"order_id": 1}, tenant_id=None)
            raise RuntimeError("abandon the unit of work")

    assert await dispatcher(db, registry).run_once() == 0
    assert recorder.deliveries == []
    async with db.transaction(system=True) as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_failing_handler_is_retried_with_backoff_then_dead(db: Database) -> None:
    recorder = Recorder(fail_times=99)
    registry = Registry()
    registry.register("webhook.send", name="test.always_fails")(recorder)
    worker = dispatcher(db, registry)
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "webhook.send", {}, tenant_id=None, max_attempts=3)).id

    # Attempt n waits between half and all of base * 2**(n-1): 0.2–0.4 s, then 0.4–0.8 s.
    for attempt, (low, high) in enumerate([(0.2, 0.4), (0.4, 0.8)], start=1):
        before = utcnow()
        assert await worker.run_once() == 1
        failed = await load(db, event_id)
        assert failed.status is OutboxStatus.PENDING
        assert failed.attempts == attempt
        assert failed.last_error == f"test.always_fails: RuntimeError: boom #{attempt}"
        assert failed.locked_by is None
        wait = (failed.due_at - before).total_seconds()
        assert low - 0.01 <= wait <= high + 0.5, wait
        assert await worker.run_once() == 0, "not retried before its backoff ran out"
        await sleep_until_due(db, event_id)

    assert await worker.run_once() == 1
    dead = await load(db, event_id)
    assert dead.status is OutboxStatus.DEAD
    assert dead.attempts == 3 and dead.finished_at is not None
    assert dead.last_error == "test.always_fails: RuntimeError: boom #3"
    assert len(recorder.deliveries) == 3
    await asyncio.sleep(0.5)
    assert await worker.run_once() == 0, "a dead event stays dead"

    async with db.transaction(system=True) as session:
        assert [e.id for e in await list_dead(session)] == [event_id]
        assert await do_retry_dead(session, event_id)
    recorder.fail_times = 0
    assert await worker.run_once() == 1
    assert (await load(db, event_id)).status is OutboxStatus.DONE


async def test_handler_that_recovers_succeeds_on_retry(db: Database) -> None:
    recorder = Recorder(fail_times=1)
    registry = Registry()
    registry.register("mail.send", name="test.flaky")(recorder)
    worker = dispatcher(db, registry)
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "mail.send", {"to": "a@example.com"}, tenant_id=None)).id

    assert await worker.run_once() == 1
    await sleep_until_due(db, event_id)
    assert await worker.run_once() == 1
    done = await load(db, event_id)
    assert done.status is OutboxStatus.DONE and done.attempts == 2
    assert done.last_error is None
    assert [d.attempt for d in recorder.deliveries] == [1, 2]


async def test_scheduled_job_runs_at_its_due_time_and_is_scheduled_once(db: Database) -> None:
    recorder = Recorder()
    registry = Registry()
    registry.register("sla.check", name="test.sla")(recorder)
    worker = dispatcher(db, registry)
    due_at = utcnow() + timedelta(seconds=1)
    async with db.transaction(system=True) as session:
        job = await schedule_job(session, "sla.check", {"ticket": 1}, due_at, None, dedupe_key="sla:1:1")
    async with db.transaction(system=True) as session:
        again = await schedule_job(
            session, "sla.check", {"ticket": 1}, due_at + timedelta(hours=1), None, dedupe_key="sla:1:1"
        )
    assert again.id == job.id and again.due_at == job.due_at

    assert await worker.run_once() == 0
    assert recorder.deliveries == []
    await asyncio.sleep(max(0.0, (due_at - utcnow()).total_seconds()) + 0.05)
    assert await worker.run_once() == 1
    assert [d.payload for d in recorder.deliveries] == [{"ticket": 1}]
    async with db.transaction(system=True) as session:
        count = await session.scalar(select(func.count()).where(OutboxEvent.dedupe_key == "sla:1:1"))
    assert count == 1


async def test_redelivery_skips_handlers_that_already_applied_the_event(db: Database) -> None:
    steady, flaky = Recorder(), Recorder(fail_times=1)
    registry = Registry()
    registry.register("return.approved", name="test.steady")(steady)
    registry.register("return.*", name="test.flaky")(flaky)
    worker = dispatcher(db, registry)
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "return.approved", {"rma": "R1"}, tenant_id=None)).id

    assert await worker.run_once() == 1  # steady applies, flaky fails
    await sleep_until_due(db, event_id)
    assert await worker.run_once() == 1  # only flaky runs again
    assert len(steady.deliveries) == 1 and len(flaky.deliveries) == 2
    assert (await load(db, event_id)).status is OutboxStatus.DONE

    # A dispatcher that died after its handlers committed but before recording "done" leaves the event
    # to be delivered again: every handler is skipped.
    async with db.transaction(system=True) as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id)
            .values(status=OutboxStatus.PENDING, due_at=utcnow())
        )
    assert await worker.run_once() == 1
    assert len(steady.deliveries) == 1 and len(flaky.deliveries) == 2
    async with db.transaction(system=True) as session:
        names = (
            await session.scalars(
                select(HandledEvent.handler)
                .where(HandledEvent.event_id == event_id)
                .order_by(HandledEvent.handler)
            )
        ).all()
    assert names == ["test.flaky", "test.steady"]


async def test_event_without_handler_is_marked_done(db: Database) -> None:
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "nobody.listens", {}, tenant_id=None)).id
    assert await dispatcher(db, Registry()).run_once() == 1
    assert (await load(db, event_id)).status is OutboxStatus.DONE


async def test_handler_runs_in_a_transaction_of_the_event_tenant(db: Database) -> None:
    tenant = await make_tenant(db)
    seen: list[tuple[object, object]] = []

    async def scoped(session, delivery: Delivery) -> None:  # type: ignore[no-untyped-def]
        setting = None
        if db.is_postgres:
            setting = await session.scalar(text("SELECT current_setting('aftersail.tenant_id', true)"))
        seen.append((session.info["tenant_id"], setting))

    registry = Registry()
    registry.register("ticket.*", name="test.scoped")(scoped)
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        await emit(session, "ticket.created", {}, tenant_id=tenant.tenant_id)
    assert await dispatcher(db, registry).run_once() == 1
    assert seen == [(tenant.tenant_id, str(tenant.tenant_id) if db.is_postgres else None)]


async def test_expired_lease_is_reclaimed_and_the_late_worker_is_fenced(db: Database) -> None:
    recorder = Recorder()
    registry = Registry()
    registry.register("slow.job", name="test.recorder")(recorder)
    first = dispatcher(db, registry, worker_id="first", lease=timedelta(seconds=1))
    second = dispatcher(db, registry, worker_id="second", lease=timedelta(seconds=5))
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "slow.job", {}, tenant_id=None)).id

    [claimed] = await first.claim(1)  # ... and then "hangs"
    running = await load(db, event_id)
    assert (running.status, running.locked_by, running.attempts) == (OutboxStatus.RUNNING, "first", 1)
    assert await second.claim(1) == [], "a live lease is respected"
    await asyncio.sleep(max(0.0, (running.locked_until - utcnow()).total_seconds()) + 0.02)
    [reclaimed] = await second.claim(1)
    assert reclaimed.attempts == 2
    await second.deliver(reclaimed)
    await first.deliver(claimed)  # the hung worker wakes up: its handler is skipped, its outcome ignored

    assert len(recorder.deliveries) == 1
    done = await load(db, event_id)
    assert (done.status, done.attempts, done.locked_by) == (OutboxStatus.DONE, 2, None)


async def test_expired_lease_on_the_last_attempt_is_dead(db: Database) -> None:
    registry = Registry()
    first = dispatcher(db, registry, worker_id="first", lease=timedelta(seconds=0.1))
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "poison.pill", {}, tenant_id=None, max_attempts=1)).id
    assert len(await first.claim(1)) == 1
    await asyncio.sleep(0.2)
    assert await dispatcher(db, registry, worker_id="second").claim(1) == []
    dead = await load(db, event_id)
    assert (dead.status, dead.last_error, dead.locked_by) == (OutboxStatus.DEAD, LEASE_EXPIRED_ERROR, None)


async def test_running_dispatcher_delivers_right_after_commit(db: Database) -> None:
    recorder = Recorder()
    registry = Registry()
    registry.register("live.typing", name="test.recorder")(recorder)
    # A poll interval far longer than the test: only the commit wake-up can explain a prompt delivery.
    worker = Dispatcher(db, registry, poll_seconds=60, concurrency=2)
    worker.start()
    try:
        await asyncio.sleep(0.1)  # let it do its first (empty) claim and go to sleep
        async with db.transaction(system=True) as session:
            await emit(session, "live.typing", {"n": 1}, tenant_id=None)
            await emit(session, "live.typing", {"n": 2}, tenant_id=None)

        async def delivered() -> bool:
            return len(recorder.deliveries) == 2

        await wait_for(delivered, within=5, what="both events delivered")
    finally:
        await worker.stop()
    assert sorted(d.payload["n"] for d in recorder.deliveries) == [1, 2]


async def test_stopping_hands_unfinished_events_back(db: Database) -> None:
    started, never = asyncio.Event(), asyncio.Event()

    async def stuck(session, delivery: Delivery) -> None:  # type: ignore[no-untyped-def]
        started.set()
        await never.wait()

    registry = Registry()
    registry.register("stuck.job", name="test.stuck")(stuck)
    worker = Dispatcher(db, registry, poll_seconds=0.05, drain_seconds=0.2, lease=timedelta(seconds=60))
    async with db.transaction(system=True) as session:
        event_id = (await emit(session, "stuck.job", {}, tenant_id=None)).id
    worker.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await worker.stop()

    released = await load(db, event_id)
    assert (released.status, released.locked_by, released.locked_until) == (OutboxStatus.PENDING, None, None)
    async with db.transaction(system=True) as session:
        assert await session.scalar(select(func.count()).select_from(HandledEvent)) == 0, "rolled back"
