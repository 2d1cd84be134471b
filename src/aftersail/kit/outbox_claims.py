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
from aftersail.kit.outbox import expired_lease_is_dead
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus

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
    db: Database, worker_id: str, lease: timedelta, limit: int, busy: Collection[int]
) -> list[Claimed]:
    """Take up to `limit` claimable events for `worker_id`, leaving out `busy` (the events it is
    delivering right now: a lease renewal held up by a busy database must not make it take its own event
    twice)."""
    now = utcnow()
    claimable = _claimable(now, busy)
    values = {
        "status": OutboxStatus.RUNNING,
        "locked_by": worker_id,
        "locked_until": now + lease,
        "attempts": OutboxEvent.attempts + 1,
    }
    if db.is_postgres:
        return await _claim_postgres(db, limit, claimable, values, now)
    return await _claim_sqlite(db, limit, claimable, values, now)


def _claimable(now: datetime, busy: Collection[int]) -> Any:
    """The SQL form of outbox.is_claimable, minus `busy`."""
    claimable = or_(
        and_(OutboxEvent.status == OutboxStatus.PENDING, OutboxEvent.due_at <= now),
        and_(OutboxEvent.status == OutboxStatus.RUNNING, OutboxEvent.locked_until < now),
    )
    if busy:
        return and_(claimable, OutboxEvent.id.not_in(list(busy)))
    return claimable


async def _claim_postgres(
    db: Database, limit: int, claimable: Any, values: dict[str, Any], now: datetime
) -> list[Claimed]:
    async with db.transaction(system=True) as session:
        rows = (
            await session.execute(
                select(OutboxEvent.id, OutboxEvent.status, OutboxEvent.attempts, OutboxEvent.max_attempts)
                .where(claimable)
                .order_by(OutboxEvent.due_at, OutboxEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        dead = [
            row.id
            for row in rows
            if row.status == OutboxStatus.RUNNING and expired_lease_is_dead(row.attempts, row.max_attempts)
        ]
        take = [row.id for row in rows if row.id not in dead]
        if dead:
            await _bury(session, OutboxEvent.id.in_(dead), now)
        if not take:
            return []
        result = await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(take))
            .values(**values)
            .returning(*_RETURNING)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(*row) for row in result.all()]


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
