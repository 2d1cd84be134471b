"""Claiming outbox events: take due events (or events whose lease ran out) and mark them RUNNING under a
lease held by one dispatcher; bury those whose expired lease was their last attempt. See
docs/subsystems/outbox.md."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.kit.owned_connection import OwnedConnection

log = logging.getLogger("aftersail.outbox")
LEASE_EXPIRED_ERROR = "lease expired on the last attempt: its worker stopped or hung"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    topic: str
    payload: dict[str, Any]
    tenant_id: int | None
    attempts: int
    max_attempts: int


_RETURNING = (
    OutboxEvent.id,
    OutboxEvent.topic,
    OutboxEvent.payload,
    OutboxEvent.tenant_id,
    OutboxEvent.attempts,
    OutboxEvent.max_attempts,
)


async def claim(
    db: Database,
    worker_id: str,
    lease: timedelta,
    limit: int,
    busy: Collection[int],
    *,
    connection: OwnedConnection | None = None,
) -> list[Claimed]:
    """Take up to `limit` claimable events for `worker_id`, leaving out `busy` (the events it is
    delivering right now: a lease renewal held up by a busy database must not make it take its own event
    twice). On PostgreSQL the claim is one statement on `connection` (the dispatcher's own)."""
    now = utcnow()
    if connection is not None:
        return await _claim_postgres(connection, worker_id, now, now + lease, limit, busy)
    claimable = _claimable(now, busy)
    values = {
        "status": OutboxStatus.RUNNING,
        "locked_by": worker_id,
        "locked_until": now + lease,
        "attempts": OutboxEvent.attempts + 1,
    }
    return await _claim_sqlite(db, limit, claimable, values, now)


# Due events (or events whose lease ran out), skipping rows another dispatcher holds: those whose expired
# lease was their last attempt are buried (outbox.expired_lease_is_dead), the others taken under a new
# lease. One autocommitted statement: the rows stay locked only while it runs. Each kind is found by an
# ordered index scan of its own: a bitmap scan of both at once would visit every dead index entry the
# delivered events left behind, on every claim, until the next vacuum (a plain index scan marks them).
_CLAIM = """
WITH pending AS (
    SELECT id, due_at FROM outbox_events
    WHERE status = 'pending' AND due_at <= $1 AND NOT (id = ANY($2::bigint[]))
    ORDER BY due_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, due_at FROM outbox_events
    WHERE status = 'running' AND locked_until < $1 AND NOT (id = ANY($2::bigint[]))
    ORDER BY due_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) AS found
    ORDER BY due_at, id
    LIMIT $3
), buried AS (
    UPDATE outbox_events AS e
    SET status = 'dead', finished_at = $1, locked_by = NULL, locked_until = NULL, last_error = $6
    FROM due WHERE e.id = due.id AND e.status = 'running' AND e.attempts >= e.max_attempts
    RETURNING e.id
), taken AS (
    UPDATE outbox_events AS e
    SET status = 'running', locked_by = $4, locked_until = $5, attempts = e.attempts + 1
    FROM due WHERE e.id = due.id AND NOT (e.status = 'running' AND e.attempts >= e.max_attempts)
    RETURNING e.id, e.topic, e.payload, e.tenant_id, e.attempts, e.max_attempts, e.due_at
)
SELECT id, topic, payload, tenant_id, attempts, max_attempts, due_at, false AS buried FROM taken
UNION ALL
SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, true FROM buried
"""


async def _claim_postgres(
    connection: OwnedConnection,
    worker_id: str,
    now: datetime,
    locked_until: datetime,
    limit: int,
    busy: Collection[int],
) -> list[Claimed]:
    async with connection.run() as driver:
        rows = await driver.fetch(
            _CLAIM, now, list(busy), limit, worker_id, locked_until, LEASE_EXPIRED_ERROR
        )
    if dead := sorted(row["id"] for row in rows if row["buried"]):
        log.error("outbox events %s are dead: %s", dead, LEASE_EXPIRED_ERROR)
    taken = sorted((row for row in rows if not row["buried"]), key=lambda row: (row["due_at"], row["id"]))
    return [Claimed(*tuple(row)[:6]) for row in taken]


# Events done on their attempt `attempts` under this worker's lease (fenced: if the lease ran out and
# another dispatcher took the event, its outcome wins).
_DONE = """
UPDATE outbox_events AS e
SET status = 'done', finished_at = $1, last_error = NULL, locked_by = NULL, locked_until = NULL
FROM unnest($2::bigint[], $3::integer[]) AS d (id, attempts)
WHERE e.id = d.id AND e.attempts = d.attempts AND e.locked_by = $4 AND e.status = 'running'
"""


async def record_done(
    connection: OwnedConnection, worker_id: str, done: list[Claimed], now: datetime
) -> None:
    """Mark `done` events done, in one autocommitted statement (PostgreSQL)."""
    async with connection.run() as driver:
        await driver.execute(
            _DONE, now, [event.id for event in done], [event.attempts for event in done], worker_id
        )


def _claimable(now: datetime, busy: Collection[int]) -> Any:
    """The SQL form of outbox.is_claimable, minus `busy`."""
    claimable = or_(
        and_(OutboxEvent.status == OutboxStatus.PENDING, OutboxEvent.due_at <= now),
        and_(OutboxEvent.status == OutboxStatus.RUNNING, OutboxEvent.locked_until < now),
    )
    if busy:
        return and_(claimable, OutboxEvent.id.not_in(list(busy)))
    return claimable


async def _claim_sqlite(
    db: Database, limit: int, claimable: Any, values: dict[str, Any], now: datetime
) -> list[Claimed]:
    # A read first: an idle poll must not take SQLite's single write lock.
    async with db.transaction(system=True, readonly=True) as session:
        if await session.scalar(select(OutboxEvent.id).where(claimable).limit(1)) is None:
            return []
    async with db.transaction(system=True) as session:
        # One conditional UPDATE per step: SQLite runs each statement atomically under its write lock.
        await _bury(
            session,
            and_(
                OutboxEvent.status == OutboxStatus.RUNNING,
                OutboxEvent.locked_until < now,
                OutboxEvent.attempts >= OutboxEvent.max_attempts,
            ),
            now,
        )
        due = (
            select(OutboxEvent.id)
            .where(claimable)
            .order_by(OutboxEvent.due_at, OutboxEvent.id)
            .limit(limit)
            .scalar_subquery()
        )
        result = await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(due), claimable)
            .values(**values)
            .returning(*_RETURNING)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(*row) for row in result.all()]


async def _bury(session: AsyncSession, which: Any, now: datetime) -> None:
    """Expired leases on their last attempt: dead (see outbox.expired_lease_is_dead)."""
    result = await session.execute(
        update(OutboxEvent)
        .where(which)
        .values(
            status=OutboxStatus.DEAD,
            finished_at=now,
            locked_by=None,
            locked_until=None,
            last_error=LEASE_EXPIRED_ERROR,
        )
        .returning(OutboxEvent.id)
        .execution_options(synchronize_session=False)
    )
    if ids := [row.id for row in result]:
        log.error("outbox events %s are dead: %s", ids, LEASE_EXPIRED_ERROR)
