"""At-least-once delivery with effects applied once, across a crash: an `aftersail worker` is killed with
SIGKILL in the middle of its handlers, a new one is started, and every event ends up applied exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from aftersail.kit.db import Database
from aftersail.kit.outbox import emit
from aftersail.kit.outbox_models import HandledEvent, OutboxEvent, OutboxStatus
from tests.integration.test_worker_support import (
    EFFECT_LOG_ENV,
    EFFECT_SLEEP_ENV,
    EFFECT_TOPIC,
    create_effect_tables,
    isolated_database,
    read_starts,
    start_cli,
    stop,
    subprocess_env,
    wait_for,
)

EVENTS = 12


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(db_url, tmp_path) as database:
        await create_effect_tables(database)
        yield database


async def scalar(db: Database, sql: str) -> int:
    async with db.transaction(system=True, readonly=True) as session:
        return int(await session.scalar(text(sql)) or 0)


async def effect_ids(db: Database) -> list[int]:
    async with db.transaction(system=True, readonly=True) as session:
        return list((await session.scalars(text("SELECT event_id FROM outbox_test_effects"))).all())


async def statuses(db: Database) -> dict[int, OutboxStatus]:
    async with db.transaction(system=True, readonly=True) as session:
        rows = await session.execute(select(OutboxEvent.id, OutboxEvent.status))
        return {row.id: row.status for row in rows}


@pytest.mark.slow
async def test_killed_worker_leaves_no_event_lost_and_none_applied_twice(
    db: Database, tmp_path: Path
) -> None:
    async with db.transaction(system=True) as session:
        ids = [(await emit(session, EFFECT_TOPIC, {"n": n}, tenant_id=None)).id for n in range(EVENTS)]
    effect_log = tmp_path / "effects.log"
    env = subprocess_env(
        db.url,
        tmp_path,
        AFTERSAIL_WORKER_IMPORTS="tests.integration.test_worker_support",
        AFTERSAIL_OUTBOX_LEASE_SECONDS="1.5",
        AFTERSAIL_OUTBOX_POLL_SECONDS="0.1",
        **{EFFECT_SLEEP_ENV: "0.3", EFFECT_LOG_ENV: str(effect_log)},
    )

    first = start_cli(["worker", "--concurrency", "3"], env, tmp_path / "worker-1.log")
    try:

        async def mid_handler() -> bool:
            # Some effects committed, and a handler started less than a third of its sleep ago whose
            # effect is not: the kill lands inside it.
            applied = await scalar(db, "SELECT applied FROM outbox_test_counter")
            done = set(await effect_ids(db))
            now = time.time()
            fresh = [e for e, _pid, at in read_starts(effect_log) if e not in done and now - at < 0.1]
            return applied >= 3 and bool(fresh)

        await wait_for(
            mid_handler,
            within=20,
            interval=0.01,
            what="the worker to be inside a handler",
            logs=[tmp_path / "worker-1.log"],
            processes=[first],
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    assert first.returncode == -signal.SIGKILL

    at_kill = await statuses(db)
    interrupted = {i for i, s in at_kill.items() if s is OutboxStatus.RUNNING}
    applied_at_kill = set(await effect_ids(db))
    assert len(applied_at_kill) < EVENTS
    cut_off = (interrupted & {e for e, _pid, _at in read_starts(effect_log)}) - applied_at_kill
    assert cut_off, "the kill landed inside a handler, leaving its event claimed and its effect unwritten"

    second = start_cli(["worker", "--concurrency", "3"], env, tmp_path / "worker-2.log")
    try:

        async def all_done() -> bool:
            return all(s is OutboxStatus.DONE for s in (await statuses(db)).values())

        await wait_for(
            all_done,
            within=30,
            interval=0.1,
            what="every event to be done",
            logs=[tmp_path / "worker-1.log", tmp_path / "worker-2.log"],
            processes=[second],
        )
    finally:
        stop(second)
    assert second.returncode == 0, "SIGTERM is a clean stop"

    assert await scalar(db, "SELECT applied FROM outbox_test_counter") == EVENTS
    assert await scalar(db, "SELECT COUNT(*) FROM outbox_test_effects") == EVENTS
    assert await scalar(db, "SELECT COUNT(DISTINCT event_id) FROM outbox_test_effects") == EVENTS
    async with db.transaction(system=True) as session:
        handled = await session.scalar(select(func.count()).select_from(HandledEvent))
        attempts = {
            row.id: row.attempts
            for row in await session.execute(select(OutboxEvent.id, OutboxEvent.attempts))
        }
    assert handled == EVENTS
    starts = read_starts(effect_log)
    for event_id in interrupted:
        assert attempts[event_id] == 2, "the interrupted events were delivered again"
    for event_id in cut_off:
        assert sum(1 for e, _pid, _at in starts if e == event_id) == 2, "the cut-off handlers ran again"
    assert sorted(attempts) == sorted(ids)
