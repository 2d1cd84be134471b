"""The outbox dispatcher: claims due events under a lease, hands each claimed batch to the publishers of
its topics at once (realtime fan-out: no transaction), runs each transactional handler in its own
transaction (once per event, thanks to `handled_events`) and records the outcomes, many per
transaction: done, retry later, or dead.

It runs inside the server (web/background.py) and as `aftersail worker` processes (kit/worker.py); any
number of them may share one database. See docs/subsystems/outbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit import outbox_claims
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.outbox import (
    Delivery,
    Handler,
    Publisher,
    Registry,
    RetryPolicy,
    add_wakeup,
    after_failure,
    remove_wakeup,
)
from aftersail.kit.outbox_claims import Claimed
from aftersail.kit.outbox_models import HandledEvent, OutboxEvent, OutboxStatus
from aftersail.kit.owned_connection import OwnedConnection

log = logging.getLogger("aftersail.outbox")
CLAIM_FACTOR = 8


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    """Delivers outbox events to `registry`'s handlers: up to `concurrency` transactional deliveries at a
    time, out of up to `CLAIM_FACTOR × concurrency` claimed events (publisher-only events need no slot).
    Woken from idle by a commit, it lingers `linger_seconds` first so that the events of commits close
    together are claimed, published and recorded together; under load it claims at most once per
    `busy_interval_seconds`; a backlog (a full claim) is worked through without waiting.

    Claiming happens in a system transaction (RLS: sees every tenant); each handler then runs in a
    transaction scoped to the event's tenant, which first inserts `(event_id, handler)` into
    `handled_events`: a re-delivered event finds that row and skips the handler, and on PostgreSQL a
    second worker that reclaimed the event waits on that row instead of running the handler alongside.
    """

    def __init__(
        self,
        db: Database,
        registry: Registry,
        *,
        worker_id: str | None = None,
        concurrency: int = 4,
        lease: timedelta = timedelta(seconds=60),
        poll_seconds: float = 0.5,
        retry: RetryPolicy | None = None,
        drain_seconds: float = 10.0,
        linger_seconds: float = 0.0,
        busy_interval_seconds: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not db.is_postgres:
            # SQLite has one writer at a time and each handler transaction writes first: events claimed
            # beyond the one being handled would only queue for the lock while their leases run down.
            concurrency = 1
        self.db = db
        self.registry = registry
        self.worker_id = (worker_id or new_worker_id())[:100]
        self.concurrency = concurrency
        self.claim_size = concurrency * CLAIM_FACTOR if db.is_postgres else 1
        self.linger_seconds = linger_seconds
        self.busy_interval_seconds = max(busy_interval_seconds, linger_seconds)
        self._slots = asyncio.Semaphore(concurrency)
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.drain_seconds = drain_seconds
        self._rng = rng
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._finishing: list[tuple[Claimed, list[str], asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._last_claim = float("-inf")
        # PostgreSQL: claims and outcomes on a connection of the dispatcher's own, scoped to all tenants.
        self._connection = (
            OwnedConnection(db.url, system=True, name=f"aftersail-outbox {self.worker_id}")
            if db.is_postgres
            else None
        )

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._main is not None:
            raise RuntimeError("dispatcher already started")
        self._main = asyncio.create_task(self.run(), name=f"outbox-dispatcher-{self.worker_id}")

    async def stop(self) -> None:
        """Stop claiming, let events in flight finish (up to `drain_seconds`), then return."""
        self._stopping.set()
        self._wake.set()
        if self._main is not None:
            await self._main
            self._main = None
        await self.close()

    async def close(self) -> None:
        """Let go of the dispatcher's own connection (it opens again if the dispatcher is used again)."""
        if self._connection is not None:
            await self._connection.close()

    async def run(self) -> None:
        """Claim and deliver until `stop()`; survives database outages by waiting and trying again."""
        add_wakeup(self._wake)
        heartbeat = asyncio.create_task(self._renew_leases())
        log.info("outbox dispatcher %s started (concurrency %d)", self.worker_id, self.concurrency)
        try:
            backlog = False  # the last claim was full: more may be waiting
            while not self._stopping.is_set():
                self._wake.clear()
                free = self.claim_size - len(self._inflight)
                claimed: list[Claimed] = []
                if free > 0:
                    try:
                        claimed = await self.claim(free)
                    except Exception:
                        log.exception("outbox claim failed; retrying in %.1fs", self.poll_seconds)
                    await self._start(claimed)
                    backlog = bool(claimed) and len(claimed) == free
                if backlog and free > 0:
                    continue  # a full batch: claim again at once
                # Waiting for a free slot while a backlog lasts needs no more than the wake-up.
                await self._sleep(idle=free > 0 and not claimed, backlog=backlog)
        finally:
            remove_wakeup(self._wake)
            await self._drain()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            log.info("outbox dispatcher %s stopped", self.worker_id)

    async def run_once(self) -> int:
        """Deliver everything due now, a claim at a time, and return how many deliveries were made (for
        tests and one-shot runs)."""
        delivered = 0
        try:
            while claimed := await self.claim(self.claim_size):
                published = await self._publish(claimed)
                await asyncio.gather(*(self.deliver(e, published.get(e.id, [])) for e in claimed))
                delivered += len(claimed)
        finally:
            await self.close()
        return delivered

    async def _start(self, claimed: list[Claimed]) -> None:
        """Publish the batch, then deliver each event in a task of its own (its handlers' transactions)."""
        published = await self._publish(claimed)
        for event in claimed:
            self._spawn(event, published.get(event.id, []))

    def _spawn(self, event: Claimed, errors: list[str]) -> None:
        task = asyncio.create_task(self.deliver(event, errors), name=f"outbox-event-{event.id}")
        self._inflight[event.id] = task

        def _done(_task: asyncio.Task[None], event_id: int = event.id) -> None:
            self._inflight.pop(event_id, None)
            self._wake.set()

        task.add_done_callback(_done)

    async def _sleep(self, *, idle: bool, backlog: bool = False) -> None:
        """Until a wake-up or the next poll; then, so that events of commits close together are claimed,
        published and recorded together, until `linger_seconds` after the wake-up when idle, or until
        `busy_interval_seconds` after the last claim under load (a busy server claims a few times a
        second, not once per commit)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
        if self._stopping.is_set() or backlog:
            return
        now = asyncio.get_running_loop().time()
        until = now + self.linger_seconds if idle else self._last_claim + self.busy_interval_seconds
        if until > now:
            await asyncio.sleep(until - now)

    async def _drain(self) -> None:
        tasks = list(self._inflight.values())
        if not tasks:
            return
        unfinished = list(self._inflight)
        _done, pending = await asyncio.wait(tasks, timeout=self.drain_seconds)
        if not pending:
            return
        for task in pending:  # their handler transactions roll back
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:  # hand the events back now rather than when their leases run out
            async with self.db.transaction(system=True) as session:
                await session.execute(
                    update(OutboxEvent)
                    .where(
                        OutboxEvent.id.in_(unfinished),
                        OutboxEvent.locked_by == self.worker_id,
                        OutboxEvent.status == OutboxStatus.RUNNING,
                    )
                    .values(status=OutboxStatus.PENDING, due_at=utcnow(), locked_by=None, locked_until=None)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.warning(
                "could not release unfinished outbox events; their leases will run out", exc_info=True
            )

    async def _renew_leases(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            ids = list(self._inflight)
            if not ids:
                continue
            try:
                async with self.db.transaction(system=True) as session:
                    await session.execute(
                        update(OutboxEvent)
                        .where(
                            OutboxEvent.id.in_(ids),
                            OutboxEvent.locked_by == self.worker_id,
                            OutboxEvent.status == OutboxStatus.RUNNING,
                        )
                        .values(locked_until=utcnow() + self.lease)
                        .execution_options(synchronize_session=False)
                    )
            except Exception:
                log.warning("could not renew outbox leases", exc_info=True)

    # --- claiming ------------------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Take up to `limit` due events (or events whose lease ran out) under this dispatcher's lease."""
        self._last_claim = asyncio.get_running_loop().time()
        return await outbox_claims.claim(
            self.db,
            self.worker_id,
            self.lease,
            limit,
            self._inflight.keys(),
            connection=self._connection,
        )

    # --- delivering ----------------------------------------------------------------------------------

    async def _publish(self, claimed: list[Claimed]) -> dict[int, list[str]]:
        """Hand each publisher the claimed events of its topics in one call; event id → errors."""
        errors: dict[int, list[str]] = {}
        by_publisher: dict[str, tuple[Publisher, list[Claimed]]] = {}
        for event in claimed:
            for publisher in self.registry.publishers_for(event.topic):
                by_publisher.setdefault(publisher.name, (publisher, []))[1].append(event)
        for publisher, events in by_publisher.values():
            try:
                await publisher.fn([_delivery(event) for event in events])
            except Exception as exc:
                log.warning("outbox publisher %s failed", publisher.name, exc_info=True)
                error = f"{publisher.name}: {type(exc).__name__}: {exc}"
                for event in events:
                    errors.setdefault(event.id, []).append(error)
        return errors

    async def deliver(self, event: Claimed, errors: list[str] | None = None) -> None:
        """Run every transactional handler of the event's topic, then record done / retry / dead with the
        `errors` its publishers met. An event with no handler is simply done."""
        errors = list(errors or ())
        handlers = self.registry.handlers_for(event.topic)
        if handlers:
            async with self._slots:
                await self._run_handlers(event, handlers, errors)
        try:
            await self._finish(event, errors)
        except Exception:
            # The lease runs out and the event is delivered again; handlers that applied it skip.
            log.exception("could not record the outcome of outbox event %d", event.id)

    async def _run_handlers(self, event: Claimed, handlers: list[Handler], errors: list[str]) -> None:
        for handler in handlers:
            try:
                await self._apply(handler, event)
            except Exception as exc:
                log.warning(
                    "outbox handler %s failed on event %d (attempt %d/%d)",
                    handler.name,
                    event.id,
                    event.attempts,
                    event.max_attempts,
                    exc_info=True,
                )
                errors.append(f"{handler.name}: {type(exc).__name__}: {exc}")

    async def _apply(self, handler: Handler, event: Claimed) -> None:
        scope: dict[str, Any] = (
            {"tenant_id": event.tenant_id} if event.tenant_id is not None else {"system": True}
        )
        async with self.db.transaction(**scope) as session:
            if not await self._mark_handled(session, event, handler.name):
                return
            await handler.fn(session, _delivery(event))

    async def _mark_handled(self, session: AsyncSession, event: Claimed, handler_name: str) -> bool:
        """Insert (event, handler) first, so the row lock covers the handler's work; False if it exists."""
        insert = postgresql.insert if self.db.is_postgres else sqlite.insert
        result = await session.execute(
            insert(HandledEvent)
            .values(event_id=event.id, handler=handler_name, tenant_id=event.tenant_id, handled_at=utcnow())
            .on_conflict_do_nothing(index_elements=["event_id", "handler"])
            .returning(HandledEvent.event_id)
        )
        return result.first() is not None

    async def _finish(self, event: Claimed, errors: list[str]) -> None:
        """Record the event's outcome, together with every other outcome ready at the same moment (one
        transaction for all of them)."""
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append((event, errors, recorded))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_outcomes())
        await recorded

    async def _record_outcomes(self) -> None:
        while self._finishing:
            await asyncio.sleep(0)  # the outcomes of events finishing in this same moment join
            batch, self._finishing = self._finishing, []
            try:
                await self._record([(event, errors) for event, errors, _ in batch])
            except Exception as exc:
                for *_, recorded in batch:
                    if not recorded.done():
                        recorded.set_exception(exc)
            else:
                for *_, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)

    async def _record(self, outcomes: list[tuple[Claimed, list[str]]]) -> None:
        now = utcnow()
        done: dict[int, list[int]] = {}  # attempt → ids of events done on that attempt
        failed: list[tuple[Claimed, dict[str, Any]]] = []
        for event, errors in outcomes:
            if not errors:
                done.setdefault(event.attempts, []).append(event.id)
                continue
            values: dict[str, Any] = {"locked_by": None, "locked_until": None}
            outcome = after_failure(event.attempts, event.max_attempts, now, self.retry, self._rng)
            values |= {"status": outcome.status, "last_error": "; ".join(errors)[:4000]}
            if outcome.status is OutboxStatus.DEAD:
                values["finished_at"] = now
                log.error(
                    "outbox event %d (%s) is dead after %d attempts: %s",
                    event.id,
                    event.topic,
                    event.attempts,
                    values["last_error"],
                )
            else:
                values["due_at"] = outcome.due_at
            failed.append((event, values))
        if self._connection is not None and done:
            # PostgreSQL: every done event in one autocommitted statement on the dispatcher's connection.
            succeeded = [event for event, errors in outcomes if not errors]
            await outbox_claims.record_done(self._connection, self.worker_id, succeeded, now)
            done = {}
        if not done and not failed:
            return
        async with self.db.transaction(system=True) as session:
            # Fenced by (worker, attempt): if our lease ran out and another dispatcher took the event, its
            # outcome wins.
            for attempts, ids in done.items():
                await session.execute(
                    self._fenced(OutboxEvent.id.in_(ids), attempts).values(
                        status=OutboxStatus.DONE,
                        finished_at=now,
                        last_error=None,
                        locked_by=None,
                        locked_until=None,
                    )
                )
            for event, values in failed:
                fenced = self._fenced(OutboxEvent.id == event.id, event.attempts)
                await session.execute(fenced.values(**values))

    def _fenced(self, which: Any, attempts: int) -> Any:
        return (
            update(OutboxEvent)
            .where(
                which,
                OutboxEvent.locked_by == self.worker_id,
                OutboxEvent.attempts == attempts,
                OutboxEvent.status == OutboxStatus.RUNNING,
            )
            .execution_options(synchronize_session=False)
        )


def _delivery(event: Claimed) -> Delivery:
    return Delivery(
        event_id=event.id,
        topic=event.topic,
        payload=event.payload,
        tenant_id=event.tenant_id,
        attempt=event.attempts,
    )
