"""The connection pool on PostgreSQL checks a connection only after it sat idle: one the server dropped
while it waited in the pool is replaced without the next unit of work noticing, and one back from work a
moment ago is used as it is (no ping round trips per transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from aftersail.kit import db as kit_db
from aftersail.kit.db import Database

pytestmark = pytest.mark.postgres


async def _backend_pid(db: Database) -> int:
    async with db.transaction(system=True) as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(admin: Database, pid: int) -> None:
    async with admin.transaction(system=True) as session:
        assert await session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_a_connection_dropped_while_idle_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, admin = Database(postgres_url, pool_size=1), Database(postgres_url, pool_size=1)
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first  # the pool hands the same connection back
        await _terminate(admin, first)
        monkeypatch.setattr(kit_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had waited long
        second = await _backend_pid(db)
        assert second != first
        async with db.transaction(system=True) as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()
        await admin.dispose()


async def test_a_busy_connection_is_not_pinged(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1)
    sent: list[str] = []
    try:
        async with db.transaction(system=True) as session:
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            driver.add_query_logger(lambda record: sent.append(record.query.strip()))
        for _ in range(5):
            await _backend_pid(db)
        # The driver logs the statements it sends without parameters: each unit of work's BEGIN and
        # COMMIT. The pool's pre-ping would add a BEGIN and a ROLLBACK around its ping before each.
        assert sent.count("BEGIN;") == 5, sent
        assert sent.count("COMMIT;") == 6, sent
        assert not any(query.startswith("ROLLBACK") for query in sent), sent
    finally:
        await db.dispose()
