"""Group commit for order intake: concurrent POST /orders requests of a process share transactions.

Each request waits on a future while one writer task per process takes every request queued so far (up to
`MAX_BATCH`), places them in one transaction per tenant — on PostgreSQL on the writer's own connection
(`intake_pg.place_on`), on SQLite with `intake.do_place_orders` — and answers each with its own
outcome. While a batch is being written the next one gathers, so under load a commit carries many orders
and at rest a lone order is written at once (no timer, no added wait).

A batch that fails as a whole (a database error, races lost round after round) is placed again one
request at a time, so one request can never fail the others.
A request deferred because its `Idempotency-Key` was in flight goes back into the queue and is answered
as a replay once the first request has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass

from aftersail.kit.db import Database
from aftersail.kit.outbox import wake_dispatchers
from aftersail.kit.owned_connection import OwnedConnection
from aftersail.orders import intake_pg
from aftersail.orders.allocation import cached_order_policy, order_policy
from aftersail.orders.intake import Deferred, Outcome, PlaceRequest, do_place_orders
from aftersail.orders.rules import OrderPolicy

log = logging.getLogger(__name__)

MAX_BATCH = 64
# Batches in flight per process. Two overlapped a batch's round trips with the next one's checks, but
# made batches smaller and cost more CPU per order than they saved (docs/performance.md).
WRITERS = 1
MAX_DEFERRALS = 50  # a key in flight for this many batches: answer "still being processed" (409)
# The intake writers' sessions. Their statements have one text for any batch (intake_pg), so one generic
# plan serves them all: left to choose, PostgreSQL planned the batch read afresh every time, which cost
# more than running it. The rows they read and check (catalog, stock, the foreign keys' parents) are
# in memory: priced as such, the foreign-key checks on a small catalog probe its index instead of
# scanning it (docs/performance.md).
INTAKE_SESSION = {"plan_cache_mode": "force_generic_plan", "random_page_cost": "1.1"}
# Under load, a batch waits up to this long for as many requests as the previous one carried: the
# callers it answered send their next orders a moment later, and one batch of them costs far less than
# several small ones (docs/performance.md). At rest (a batch of one) nothing waits.
GATHER_SECONDS = 0.005


@dataclass(slots=True)
class _Waiting:
    tenant_id: int
    request: PlaceRequest
    answer: asyncio.Future[Outcome]
    deferrals: int = 0


class OrderIntake:
    """One per process and database; `place` is safe to call from any request handler."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH, writers: int = WRITERS) -> None:
        self.db = db
        self.max_batch = max_batch
        self.writers = writers if db.is_postgres else 1  # SQLite has one writer at a time anyway
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # committed transactions, for tests and benchmarks
        self.gather_seconds = GATHER_SECONDS
        self._last_size = 1
        self._arrived = asyncio.Event()
        # PostgreSQL: each writer's own connection (no pool, no ORM session per batch).
        self._connections = [
            OwnedConnection(
                db.url,
                name=f"aftersail-order-intake-{n}",
                server_settings=INTAKE_SESSION,
            )
            for n in range(self.writers if db.is_postgres else 0)
        ]

    async def place(self, tenant_id: int, request: PlaceRequest) -> Outcome:
        """The request's outcome once its batch has committed (a `DomainError` is returned, not raised)."""
        loop = asyncio.get_running_loop()
        if not self._tasks or any(t.done() for t in self._tasks) or self._loop is not loop:
            for task in self._tasks:
                task.cancel()
            self._loop, self._queue = loop, asyncio.Queue()  # a queue belongs to one event loop
            self._arrived = asyncio.Event()
            self._tasks = [
                loop.create_task(self._run(n), name=f"aftersail-order-intake-{n}")
                for n in range(self.writers)
            ]
        answer: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put_nowait(_Waiting(tenant_id, request, answer))
        self._arrived.set()
        return await answer

    async def close(self) -> None:
        if self._tasks and self._loop is asyncio.get_running_loop():
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
        for connection in self._connections:
            await connection.close()

    async def _policy(self, tenant_id: int) -> OrderPolicy:
        policy = cached_order_policy(self.db, tenant_id)
        if policy is None:
            async with self.db.transaction(tenant_id=tenant_id, readonly=True) as session:
                policy = await order_policy(session, tenant_id)
        return policy

    async def _gather(self) -> None:
        """Wait until as many requests wait as the last batch carried, for at most `gather_seconds`."""
        wanted = min(self._last_size, self.max_batch) - 1  # the first one is taken already
        if wanted < 1 or self.gather_seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gather_seconds
        while self._queue.qsize() < wanted:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def _run(self, writer: int) -> None:
        connection = self._connections[writer] if self._connections else None
        while True:
            batch = [await self._queue.get()]
            await self._gather()
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._last_size = len(batch)
            by_tenant: dict[int, list[_Waiting]] = defaultdict(list)
            for waiting in batch:
                by_tenant[waiting.tenant_id].append(waiting)
            for tenant_id, group in by_tenant.items():
                try:
                    await self._write(tenant_id, group, connection)
                except Exception as error:
                    log.exception("order intake: batch failed")
                    for waiting in group:
                        if not waiting.answer.done():
                            waiting.answer.set_exception(error)

    async def _write(self, tenant_id: int, group: list[_Waiting], connection: OwnedConnection | None) -> None:
        requests = [w.request for w in group]
        try:
            if connection is not None:
                policy = await self._policy(tenant_id)
                outcomes, wrote = await intake_pg.place_on(connection, tenant_id, requests, policy)
                if wrote:
                    wake_dispatchers()
            else:
                async with self.db.transaction(tenant_id=tenant_id) as session:
                    policy = await order_policy(session, tenant_id)
                    outcomes = await do_place_orders(session, tenant_id, requests, policy=policy)
        except Exception:
            if len(group) == 1:
                raise
            for waiting in group:  # alone, each request succeeds or fails on its own
                try:
                    await self._write(tenant_id, [waiting], connection)
                except Exception as error:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
            return
        self.batches += 1
        for waiting, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Deferred) and waiting.deferrals < MAX_DEFERRALS:
                waiting.deferrals += 1
                self._queue.put_nowait(waiting)
            elif not waiting.answer.done():
                waiting.answer.set_result(outcome)
