"""Two `aftersail worker` processes on one PostgreSQL database share the events between them: each event
runs exactly once, and never on both workers at the same time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from aftersail.kit.db import Database
from aftersail.kit.outbox import emit
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
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

EVENTS = 40


@pytest.fixture
async def db(postgres_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(postgres_url, tmp_path) as database:
        await create_effect_tables(database)
        yield database


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_workers_never_run_the_same_event(db: Database, tmp_path: Path) -> None:
    effect_log = tmp_path / "effects.log"
    env = subprocess_env(
        db.url,
        tmp_path,
        AFTERSAIL_WORKER_IMPORTS="tests.integration.test_worker_support",
        # Handlers (0.25 s) outlast a third of the lease, so leases must be renewed while they run.
        AFTERSAIL_OUTBOX_LEASE_SECONDS="0.6",
        AFTERSAIL_OUTBOX_POLL_SECONDS="0.05",
        **{EFFECT_SLEEP_ENV: "0.25", EFFECT_LOG_ENV: str(effect_log)},
    )
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_cli(["worker", "--concurrency", "4"], env, log) for log in logs]
    try:

        async def both_ready() -> bool:
            return all(log.exists() and " ready with " in log.read_text(encoding="utf-8") for log in logs)

        await wait_for(both_ready, within=15, what="both workers to start", logs=logs, processes=workers)
        async with db.transaction(system=True) as session:
            for n in range(EVENTS):
                await emit(session, EFFECT_TOPIC, {"n": n}, tenant_id=None)

        async def all_done() -> bool:
            async with db.transaction(system=True, readonly=True) as session:
                pending = await session.scalar(
                    select(func.count()).where(OutboxEvent.status != OutboxStatus.DONE)
                )
            return pending == 0

        await wait_for(
            all_done, within=20, interval=0.1, what="every event to be done", logs=logs, processes=workers
        )
    finally:
        for worker in workers:
            stop(worker)

    async with db.transaction(system=True) as session:
        rows = (
            await session.execute(
                text("SELECT event_id, worker, started_at, ended_at FROM outbox_test_effects")
            )
        ).all()
        applied = await session.scalar(text("SELECT applied FROM outbox_test_counter"))
    assert applied == EVENTS
    assert len(rows) == EVENTS
    assert len({row.event_id for row in rows}) == EVENTS, "each event applied exactly once"
    starts = read_starts(effect_log)
    assert len(starts) == EVENTS, "no handler ran twice, not even one whose work was rolled back"

    by_worker: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        by_worker.setdefault(row.worker, []).append((row.started_at, row.ended_at))
    assert len(by_worker) == 2, "both workers took a share"
    (a_runs, b_runs) = by_worker.values()
    overlapping = any(a0 < b1 and b0 < a1 for a0, a1 in a_runs for b0, b1 in b_runs)
    assert overlapping, "the two workers ran handlers at the same time (of different events)"
