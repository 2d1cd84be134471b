"""Transactional outbox: `emit()` writes an event in the caller's transaction; a dispatcher delivers it
after commit, at least once, to the handlers registered for its topic. Also the pure rules the
dispatcher follows (retry backoff, what a failure or an expired lease leads to). See
docs/subsystems/outbox.md."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus

OUTBOX_EVENTS: Table = OutboxEvent.__table__  # type: ignore[assignment]

# --- writing events ------------------------------------------------------------------------------------

_WAKE_FLAG = "aftersail.outbox.wake"
_wakeups: set[asyncio.Event] = set()


def add_wakeup(signal: asyncio.Event) -> None:
    """`signal` is set whenever a transaction of this process that emitted an event commits, so an
    in-process dispatcher starts at once instead of at its next poll."""
    _wakeups.add(signal)


def remove_wakeup(signal: asyncio.Event) -> None:
    _wakeups.discard(signal)


def wake_dispatchers() -> None:
    """Start this process's dispatchers now: events were just committed (outside an ORM session)."""
    for signal in list(_wakeups):
        signal.set()


def _wake_dispatchers(_session: Any) -> None:
    wake_dispatchers()


async def emit(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    tenant_id: int | None,
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> OutboxEvent:
    """Queue `topic` for delivery after the surrounding transaction commits (or at `due_at`).

    Nothing is delivered if the transaction rolls back. `dedupe_key` is globally unique: emitting a
    second event with the same key fails the transaction (use `schedule_job` to get the existing one).
    """
    event = OutboxEvent(
        tenant_id=tenant_id, topic=topic, payload=payload, due_at=due_at or utcnow(), dedupe_key=dedupe_key
    )
    if max_attempts is not None:
        event.max_attempts = max_attempts
    session.add(event)
    await session.flush()
    wake_after_commit(session)
    return event


def wake_after_commit(session: AsyncSession) -> None:
    """Wake this process's dispatchers once the session commits (events were written)."""
    if not session.info.get(_WAKE_FLAG):
        session.info[_WAKE_FLAG] = True
        sa_event.listen(session.sync_session, "after_commit", _wake_dispatchers, once=True)


async def emit_many(
    session: AsyncSession, events: Iterable[tuple[str, dict[str, Any]]], *, tenant_id: int | None
) -> None:
    """`emit` for several (topic, payload) events at once, due now: one INSERT, nothing returned (a Core
    statement on the session's connection: no ORM bookkeeping for rows nobody reads back)."""
    now = utcnow()
    rows = [
        {"tenant_id": tenant_id, "topic": topic, "payload": payload, "due_at": now, "created_at": now}
        for topic, payload in events
    ]
    if rows:
        connection = await session.connection()
        await connection.execute(insert(OUTBOX_EVENTS), rows)
        wake_after_commit(session)


async def schedule_new_jobs(
    session: AsyncSession, jobs: Iterable[tuple[str, dict[str, Any], datetime, str]], *, tenant_id: int | None
) -> None:
    """`schedule_job` for many (topic, payload, due_at, dedupe_key) jobs whose keys cannot exist yet (they
    name rows this transaction created): one INSERT."""
    now = utcnow()
    rows = [
        {
            "tenant_id": tenant_id,
            "topic": topic,
            "payload": payload,
            "due_at": due_at,
            "dedupe_key": key,
            "created_at": now,
        }
        for topic, payload, due_at, key in jobs
    ]
    if rows:
        await session.execute(insert(OutboxEvent), rows)


async def schedule_job(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    due_at: datetime,
    tenant_id: int | None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> OutboxEvent:
    """A durable job: an outbox event that is not delivered before `due_at`.

    With `dedupe_key` the job is scheduled once: if an event with that key exists (whatever its state)
    it is returned unchanged. Put the tenant in the key (`f"sla:{tenant_id}:{ticket_id}"`) since keys
    are unique across tenants.
    """
    if dedupe_key is None:
        return await emit(
            session, topic, payload, tenant_id=tenant_id, due_at=due_at, max_attempts=max_attempts
        )
    existing = await _find_by_dedupe_key(session, dedupe_key)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():  # a concurrent scheduler may insert the same key first
            return await emit(
                session,
                topic,
                payload,
                tenant_id=tenant_id,
                due_at=due_at,
                dedupe_key=dedupe_key,
                max_attempts=max_attempts,
            )
    except IntegrityError:
        existing = await _find_by_dedupe_key(session, dedupe_key)
        if existing is None:
            raise
        return existing


async def _find_by_dedupe_key(session: AsyncSession, dedupe_key: str) -> OutboxEvent | None:
    return await session.scalar(select(OutboxEvent).where(OutboxEvent.dedupe_key == dedupe_key))


# --- dead letters -----------------------------------------------------------------------------------------


async def list_dead(session: AsyncSession, *, limit: int = 100) -> list[OutboxEvent]:
    """Events that exhausted their attempts, newest first (run as a system transaction to see all tenants)."""
    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.status == OutboxStatus.DEAD)
        .order_by(OutboxEvent.finished_at.desc(), OutboxEvent.id.desc())
        .limit(limit)
    )
    return list(rows)


async def do_retry_dead(session: AsyncSession, event_id: int) -> bool:
    """Give a dead event a fresh set of attempts; handlers that already applied it stay skipped."""
    result = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.status == OutboxStatus.DEAD)
        .values(
            status=OutboxStatus.PENDING,
            attempts=0,
            due_at=utcnow(),
            finished_at=None,
            locked_by=None,
            locked_until=None,
        )
        .returning(OutboxEvent.id)
    )
    return result.first() is not None


# --- handlers ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a handler receives: one delivery attempt of one event."""

    event_id: int
    topic: str
    payload: dict[str, Any]
    tenant_id: int | None
    attempt: int


HandlerFn = Callable[[AsyncSession, Delivery], Awaitable[None]]
PublishFn = Callable[[Sequence[Delivery]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Subscriber:
    name: str
    topics: tuple[str, ...]

    def accepts(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self.topics)


@dataclass(frozen=True, slots=True)
class Handler(_Subscriber):
    """`name` is stable across releases: it is what `handled_events` remembers. `topics` are exact topics,
    prefixes ending in `.*` (`live.*`), or `*` for every topic."""

    fn: HandlerFn


@dataclass(frozen=True, slots=True)
class Publisher(_Subscriber):
    """A handler that touches no database (it pushes events to a message bus): the dispatcher hands it
    every claimed event of its topics at once, outside any transaction, and keeps no `handled_events` row.
    At least once: an event whose outcome could not be recorded is published again."""

    fn: PublishFn


def topic_matches(pattern: str, topic: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


@dataclass
class Registry:
    """Handlers by topic. The module-level `handlers` is the application's; tests build their own."""

    _handlers: dict[str, Handler | Publisher] = field(default_factory=dict)

    def add(self, handler: Handler | Publisher) -> Handler | Publisher:
        if handler.name in self._handlers and self._handlers[handler.name] is not handler:
            raise ValueError(f"an outbox handler named {handler.name!r} is already registered")
        if len(handler.name) > 100:
            raise ValueError("outbox handler names are at most 100 characters")
        self._handlers[handler.name] = handler
        return handler

    def register(self, *topics: str, name: str | None = None) -> Callable[[HandlerFn], HandlerFn]:
        """Decorator: `@register("order.created", name="notify.order_confirmation")`."""
        if not topics:
            raise ValueError("register() needs at least one topic")

        def decorate(fn: HandlerFn) -> HandlerFn:
            self.add(Handler(name=name or f"{fn.__module__}.{fn.__qualname__}", topics=topics, fn=fn))
            return fn

        return decorate

    def handlers_for(self, topic: str) -> list[Handler]:
        """The transactional handlers of `topic`."""
        return [h for h in self._handlers.values() if isinstance(h, Handler) and h.accepts(topic)]

    def publishers_for(self, topic: str) -> list[Publisher]:
        return [h for h in self._handlers.values() if isinstance(h, Publisher) and h.accepts(topic)]

    def with_handlers(self, extra: Iterable[Handler | Publisher]) -> Registry:
        """A copy with `extra` added (the dispatcher adds its realtime forwarder this way)."""
        copy = Registry(dict(self._handlers))
        for handler in extra:
            copy.add(handler)
        return copy

    def __len__(self) -> int:
        return len(self._handlers)


handlers = Registry()
register = handlers.register


# --- retry and lease rules (pure) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter": attempt n waits between half and all of
    `min(max, base * 2**(n-1))`, so retries spread out yet always back off."""

    base_seconds: float = 2.0
    max_seconds: float = 600.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        jitter = (rng or random).uniform(0, ceiling / 2)
        return timedelta(seconds=ceiling / 2 + jitter)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an event goes after a delivery: DONE, back to PENDING at `due_at`, or DEAD."""

    status: OutboxStatus
    due_at: datetime | None = None


def after_failure(
    attempts: int, max_attempts: int, now: datetime, policy: RetryPolicy, rng: random.Random | None = None
) -> Outcome:
    """`attempts` counts the delivery that just failed (claiming increments it)."""
    if attempts >= max_attempts:
        return Outcome(OutboxStatus.DEAD)
    return Outcome(OutboxStatus.PENDING, now + policy.delay(attempts, rng))


def is_claimable(
    status: OutboxStatus, due_at: datetime, locked_until: datetime | None, now: datetime
) -> bool:
    """A pending event that is due, or a running one whose lease ran out (its worker died or hung).
    The claim queries in kit/dispatcher.py express this same rule in SQL."""
    if status is OutboxStatus.PENDING:
        return due_at <= now
    if status is OutboxStatus.RUNNING:
        return locked_until is None or locked_until < now
    return False


def expired_lease_is_dead(attempts: int, max_attempts: int) -> bool:
    """A lease that ran out counts as a failed attempt: with none left the event is dead, not reclaimed,
    so an event that kills its worker cannot kill workers forever."""
    return attempts >= max_attempts
