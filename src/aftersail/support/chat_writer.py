"""Buyer chat messages written in group commits: every message that arrives while a batch is being written
waits for the next one, so a thousand chatting buyers cost a few transactions per second, not a thousand.

The common case — the buyer writes again on their open case, and nothing about the case changes (no status
to wake, no clock to start) — takes two statements for the whole batch: find and lock the cases, then
insert the messages, touch the tickets and queue their translation. On PostgreSQL these run on a connection
the writer owns (`OwnedConnection`: no pool, no ORM session, whose fixed cost per batch would otherwise be
most of the writer's CPU on the event loop that serves the sockets). Anything else (a first message, a
reopened or pending case, a clock to start) sends the whole batch through the full service
(`intake.do_receive`) in one session. The cases of a batch are locked (`FOR UPDATE`, in id order) so that
an agent's reply cannot change a case between the check and the write. A stored message is pushed to
consoles and chats only after its batch committed (rule 2); the chat socket has already shown it to the
consoles as arriving (ADR 0014), under the key the stored push repeats (`arrival`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, exists, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database, on_postgres
from aftersail.kit.errors import DomainError
from aftersail.kit.outbox import emit_many, wake_dispatchers
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.kit.owned_connection import OwnedConnection
from aftersail.kit.realtime import RealtimeBus, publish_after_commit, tenant_channel
from aftersail.orders.models import Customer
from aftersail.support import intake, messages
from aftersail.support.chat_channel import chat_channel
from aftersail.support.models import (
    AuthorKind,
    Channel,
    ClockKind,
    SlaClock,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from aftersail.support.sla import LIVE_STATES

log = logging.getLogger("aftersail.support.chat")
MAX_BATCH = 500
BATCH_EVERY_SECONDS = 0.02
WAKE_AT_ONCE = 4
# With a listener answering the stored messages in this process (the assistant's lane), their job waits this
# long before it runs anyway: the listener marks it done, or brings it forward for what it did not answer.
LANE_GRACE = timedelta(seconds=10)
MESSAGES: Table = TicketMessage.__table__  # type: ignore[assignment]
TICKETS: Table = Ticket.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ChatBuyer:
    """What a chat socket knows of its buyer once the token is checked (no lookups per message)."""

    tenant_id: int
    customer_id: int
    name: str
    language: str


@dataclass(frozen=True, slots=True)
class StoredMessages:
    """One tenant's buyer messages of a committed batch, and the job queued for them."""

    tenant_id: int
    message_ids: tuple[int, ...]
    job_id: int | None
    job_deferred: bool  # queued `LANE_GRACE` ahead: the listener marks it done or brings it forward


class StoredListener(Protocol):
    def stored(self, batch: Sequence[StoredMessages]) -> None:
        """Called on the event loop after a batch committed; must not block."""


@dataclass
class _Pending:
    buyer: ChatBuyer
    body: str
    category: str
    done: asyncio.Future[dict[str, Any]]
    arrival: str | None = None
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class _Case:
    """The columns of a buyer's current chat case that decide how a message is written."""

    id: int
    tenant_id: int
    customer_id: int
    status: TicketStatus
    answered: bool
    language: str
    awaiting_next_response: bool  # its next-response clock runs
    assistant_active: bool  # the assistant answers it: a message starts no clock (ADR 0018)


class ChatWriter:
    def __init__(
        self,
        db: Database,
        *,
        bus: RealtimeBus | None = None,
        translate: bool = True,
        listener: StoredListener | None = None,
        defer_jobs: bool = False,
    ) -> None:
        """`bus`: where stored messages are pushed (without one, nowhere); `translate`: queue the messages
        for translation and the assistant (pointless without either: the job would find nothing to do);
        `listener`: told of each committed batch's messages on the writer's own connection (PostgreSQL);
        `defer_jobs`: their jobs wait `LANE_GRACE` for the listener (only the assistant needs them)."""
        self.db = db
        self.bus = bus
        self.translate = translate
        self.listener = listener if db.is_postgres else None
        self.defer_jobs = defer_jobs and self.listener is not None
        self.owned = (
            OwnedConnection(db.url, system=True, name="aftersail-chat-writer") if db.is_postgres else None
        )
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(
        self, buyer: ChatBuyer, body: str, *, category: str = "other", arrival: str | None = None
    ) -> dict[str, Any]:
        """Store the message; returns it as pushed to the consoles (with its id) once committed. `arrival`:
        the key it was shown under as arriving, repeated in the pushes."""
        text = messages.check_body(body)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="chat-writer")
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(buyer, text, category, done, arrival))
        return await done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.owned is not None:
            await self.owned.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = 0.0
        while True:
            batch = [await self._queue.get()]
            # At most one batch per BATCH_EVERY_SECONDS: under load each batch gathers more messages, and a
            # batch's fixed cost (a transaction, its round trips) is shared by more of them. The consoles saw
            # the messages arrive already; this delays only their "stored" and the buyer's tick.
            lull = started + BATCH_EVERY_SECONDS - loop.time()
            if lull > 0:
                await asyncio.sleep(lull)
            started = loop.time()
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._write(batch)
            except Exception as error:
                if len(batch) == 1:
                    _fail(batch[0], error)
                    continue
                # One bad message must not fail its neighbours: write them one by one.
                for pending in batch:
                    try:
                        [result] = await self._write([pending])
                    except Exception as single_error:
                        _fail(pending, single_error)
                    else:
                        _resolve(pending, result)
                continue
            for count, (pending, result) in enumerate(zip(batch, results, strict=True), 1):
                _resolve(pending, result)
                if count % WAKE_AT_ONCE == 0:
                    # Each woken socket sends its buyer's tick: a few per turn of the loop, so that messages
                    # arriving meanwhile are read (and shown to the consoles) between them, not after all.
                    await asyncio.sleep(0)

    async def _write(self, batch: list[_Pending]) -> list[dict[str, Any]]:
        if self.owned is not None:
            written = await self._write_owned(self.owned, batch)
            if written is not None:
                return written
        return await self._write_in_session(batch)

    async def _write_owned(
        self, owned: OwnedConnection, batch: list[_Pending]
    ) -> list[dict[str, Any]] | None:
        """The batch on the writer's own connection if every message is the common case; else None (and
        nothing written: the session path takes the whole batch)."""
        keys = {(p.buyer.tenant_id, p.buyer.customer_id) for p in batch}
        async with owned.transaction() as connection:
            rows = await connection.fetch(CASES_SQL, json.dumps([{"t": t, "c": c} for t, c in sorted(keys)]))
            cases = _cases(rows)
            fast = [(p, cases.get((p.buyer.tenant_id, p.buyer.customer_id))) for p in batch]
            if not all(case is not None and _unchanged_by_a_message(case) for _, case in fast):
                return None
            ready = cast(list[tuple[_Pending, _Case]], fast)
            messages_json, tickets_json = _store_parameters(ready)
            tenants = sorted({case.tenant_id for _, case in ready})
            jobs = [{"tenant_id": tenant} for tenant in tenants] if self.translate else []
            now = utcnow()
            due = now + LANE_GRACE if self.defer_jobs else now
            found = await connection.fetch(
                STORE_SQL, messages_json, tickets_json, json.dumps(jobs), now, _MAX_ATTEMPTS, due
            )
        if jobs and not self.defer_jobs:
            wake_dispatchers()
        # One sequence, rows inserted in the batch's order (`ORDER BY position`): sorted ids match `ready`.
        ids = sorted(row["id"] for row in found if not row["job"])
        if self.listener is not None and jobs:
            self.listener.stored(_stored(found, defer=self.defer_jobs))
        shown = [_written(pending, case, id_) for (pending, case), id_ in zip(ready, ids, strict=True)]
        if self.bus is not None:
            pushes = [push for (p, c), s in zip(ready, shown, strict=True) for push in _pushes(p, c, s)]
            try:
                await self.bus.publish_many(pushes)
            except Exception:  # stored; a live push is a courtesy (a client that missed it reloads)
                log.warning("realtime publish of %d chat messages failed", len(pushes), exc_info=True)
        return [{**s, "text": p.body} for (p, _), s in zip(ready, shown, strict=True)]

    async def _write_in_session(self, batch: list[_Pending]) -> list[dict[str, Any]]:
        written = await self._write_in_session_once(batch)
        if (
            self.listener is not None
        ):  # first messages too: the listener may answer them (its job runs anyway)
            stored: dict[int, list[int]] = defaultdict(list)
            for pending, shown in zip(batch, written, strict=True):
                stored[pending.buyer.tenant_id].append(int(shown["id"]))
            self.listener.stored(
                [StoredMessages(tenant, tuple(sorted(ids)), None, False) for tenant, ids in stored.items()]
            )
        return written

    async def _write_in_session_once(self, batch: list[_Pending]) -> list[dict[str, Any]]:
        async with self.db.transaction(system=True) as session:
            cases = await _current_cases(session, {(p.buyer.tenant_id, p.buyer.customer_id) for p in batch})
            fast: list[tuple[_Pending, _Case]] = []
            results: dict[int, dict[str, Any]] = {}
            for index, pending in enumerate(batch):
                key = (pending.buyer.tenant_id, pending.buyer.customer_id)
                case = cases.get(key)
                if case is not None and _unchanged_by_a_message(case):
                    fast.append((pending, case))
                    continue
                results[index] = await _through_service(session, pending, case)
                # The case may have changed (opened, woken): later messages of this buyer in the batch see it.
                cases.update(await _current_cases(session, {key}))
            if results:  # the service's changes go first: the fast path's Core UPDATE must not be overwritten
                await session.flush()
            written = await _write_fast(session, fast, translate=self.translate)
            positions = [i for i in range(len(batch)) if i not in results]
            for index, shown in zip(positions, written, strict=True):
                results[index] = shown
            return [results[i] for i in range(len(batch))]


async def _store(session: AsyncSession, fast: list[tuple[_Pending, _Case]]) -> list[int]:
    """Insert the messages and touch their tickets (portable Core); the new ids in the order of `fast`."""
    touched, followups = _touched(fast)
    connection = await session.connection()
    rows = [
        {
            "tenant_id": case.tenant_id,
            "ticket_id": case.id,
            "author_kind": AuthorKind.CUSTOMER,
            "author_name": pending.buyer.name[:200],
            "channel": Channel.CHAT,
            "internal": False,
            "body": pending.body,
            "language": case.language,
            "mentions": [],
            "created_at": pending.received_at,
            "delivery": {},
        }
        for pending, case in fast
    ]
    found = await connection.scalars(
        insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True), rows
    )
    ids = list(found)
    await connection.execute(
        update(TICKETS)
        .where(TICKETS.c.id == bindparam("ticket_id"))
        .values(
            last_customer_message_at=bindparam("at"),
            updated_at=bindparam("at"),
            customer_followups=TICKETS.c.customer_followups + bindparam("followups"),
        ),
        [{"ticket_id": tid, "at": at, "followups": followups[tid]} for tid, at in sorted(touched.items())],
    )
    return ids


def _touched(fast: list[tuple[_Pending, _Case]]) -> tuple[dict[int, datetime], dict[int, int]]:
    """Each ticket's latest message time, and how many follow-ups (messages after a first answer) it got."""
    touched: dict[int, datetime] = {}
    followups: dict[int, int] = defaultdict(int)
    for pending, case in fast:
        touched[case.id] = max(touched.get(case.id, pending.received_at), pending.received_at)
        if case.answered:
            followups[case.id] += 1
    return touched, followups


def _store_parameters(fast: list[tuple[_Pending, _Case]]) -> tuple[str, str]:
    """STORE_SQL's messages and tickets, each one JSON document (the driver checks every element of an
    array parameter it encodes: for a batch, that costs more than the statement)."""
    touched, followups = _touched(fast)
    new = [
        {
            "tenant_id": case.tenant_id,
            "ticket_id": case.id,
            "name": pending.buyer.name[:200],
            "body": pending.body,
            "language": case.language,
            "at": pending.received_at.isoformat(),
        }
        for pending, case in fast
    ]
    tickets = [{"id": tid, "at": at.isoformat(), "n": followups[tid]} for tid, at in sorted(touched.items())]
    return json.dumps(new, ensure_ascii=False), json.dumps(tickets)


# The messages (their language: the conversation's, until the translation job detects each one's own),
# their tickets' timestamps and one translation job per tenant ($3: [{"tenant_id"}], the job's message ids
# those of the tenant's new messages), in one round trip whatever the batch's size.
STORE_SQL = f"""
WITH new AS (
    INSERT INTO ticket_messages (tenant_id, ticket_id, author_kind, author_name, channel, internal, body,
                                 language, mentions, created_at, delivery)
    SELECT m.tenant_id, m.ticket_id, '{AuthorKind.CUSTOMER}', m.name, '{Channel.CHAT}', false, m.body,
           m.language, '[]', m.at, '{{}}'
    FROM ROWS FROM (json_to_recordset($1::json) AS (tenant_id bigint, ticket_id bigint, name text, body text,
                                                     language text, at timestamptz))
         WITH ORDINALITY AS m(tenant_id, ticket_id, name, body, language, at, position)
    ORDER BY m.position
    RETURNING id, tenant_id
), touched AS (
    UPDATE tickets t
    SET last_customer_message_at = u.at, updated_at = u.at, customer_followups = t.customer_followups + u.n
    FROM json_to_recordset($2::json) AS u(id bigint, at timestamptz, n int)
    WHERE t.id = u.id
), jobs AS (
    INSERT INTO outbox_events (tenant_id, topic, payload, status, due_at, attempts, max_attempts, created_at)
    SELECT j.tenant_id, '{messages.TRANSLATE_TOPIC}',
           json_build_object('message_ids', (SELECT json_agg(n.id ORDER BY n.id) FROM new n
                                             WHERE n.tenant_id = j.tenant_id)),
           '{OutboxStatus.PENDING}', $6, 0, $5, $4
    FROM json_to_recordset($3::json) AS j(tenant_id bigint)
    RETURNING id, tenant_id
)
SELECT id, tenant_id, false AS job FROM new
UNION ALL
SELECT id, tenant_id, true FROM jobs
"""
_MAX_ATTEMPTS = OutboxEvent.__table__.c.max_attempts.default.arg


def _stored(rows: Sequence[Any], *, defer: bool) -> list[StoredMessages]:
    """STORE_SQL's rows as one `StoredMessages` per tenant."""
    messages_of: dict[int, list[int]] = defaultdict(list)
    job_of: dict[int, int] = {}
    for row in rows:
        if row["job"]:
            job_of[row["tenant_id"]] = row["id"]
        else:
            messages_of[row["tenant_id"]].append(row["id"])
    return [
        StoredMessages(tenant, tuple(sorted(ids)), job_of.get(tenant), defer and tenant in job_of)
        for tenant, ids in messages_of.items()
    ]


def _resolve(pending: _Pending, result: dict[str, Any]) -> None:
    if not pending.done.done():
        pending.done.set_result(result)


def _fail(pending: _Pending, error: BaseException) -> None:
    if not isinstance(error, DomainError):
        log.exception("a chat message could not be stored", exc_info=error)
    if not pending.done.done():
        pending.done.set_exception(error)


async def _current_cases(session: AsyncSession, buyers: set[tuple[int, int]]) -> dict[tuple[int, int], _Case]:
    """Each buyer's latest chat case that is not closed, locked against concurrent changes (a few columns,
    not ORM objects: this runs on the event loop for every batch)."""
    if not buyers:
        return {}
    query = _cases_query(buyers)
    if on_postgres(session):  # SQLite has one writer at a time: nothing to lock
        query = query.with_for_update(of=TICKETS)
    return _cases((await session.execute(query)).all())


def _cases(rows: Sequence[Sequence[Any]]) -> dict[tuple[int, int], _Case]:
    found: dict[tuple[int, int], _Case] = {}
    for row in rows:  # ordered by id: the latest wins
        case = _Case(
            row[0], row[1], row[2], TicketStatus(row[3]), bool(row[4]), row[5], bool(row[6]), bool(row[7])
        )
        found[(case.tenant_id, case.customer_id)] = case
    return found


# The owned connection's `_current_cases`; the buyers as one JSON document ([{"t": tenant, "c": customer}]).
CASES_SQL = f"""
SELECT t.id, t.tenant_id, t.customer_id, t.status, t.first_response_at IS NOT NULL, t.language,
       EXISTS (SELECT 1 FROM sla_clocks c
               WHERE c.tenant_id = t.tenant_id AND c.ticket_id = t.id AND c.kind = '{ClockKind.NEXT_RESPONSE}'
               AND c.state IN ({", ".join(f"'{state}'" for state in LIVE_STATES)}) AND c.stopped_at IS NULL),
       t.assistant_active
FROM tickets t
WHERE (t.tenant_id, t.customer_id) IN
      (SELECT k.t, k.c FROM json_to_recordset($1::json) AS k(t bigint, c bigint))
  AND t.channel = '{Channel.CHAT}' AND t.status <> '{TicketStatus.CLOSED}'
ORDER BY t.id
FOR UPDATE OF t
"""


def _cases_query(
    buyers: set[tuple[int, int]],
) -> Select[int, int, int, TicketStatus, bool, str, bool, bool]:
    return (
        select(
            Ticket.id,
            Ticket.tenant_id,
            Ticket.customer_id,
            Ticket.status,
            Ticket.first_response_at.is_not(None),
            Ticket.language,
            exists().where(
                SlaClock.tenant_id == Ticket.tenant_id,
                SlaClock.ticket_id == Ticket.id,
                SlaClock.kind == ClockKind.NEXT_RESPONSE,
                SlaClock.state.in_(LIVE_STATES),
                SlaClock.stopped_at.is_(None),
            ),
            Ticket.assistant_active,
        )
        .where(
            tuple_(Ticket.tenant_id, Ticket.customer_id).in_(sorted(buyers)),
            Ticket.channel == Channel.CHAT,
            Ticket.status != TicketStatus.CLOSED,
        )
        .order_by(Ticket.id)
    )


def _unchanged_by_a_message(case: _Case) -> bool:
    """Open, and either never answered, already waiting for the next response or held by the assistant: the
    message changes nothing about the case but its timestamps (see `messages.do_add_customer_message`)."""
    return case.status is TicketStatus.OPEN and (
        not case.answered or case.awaiting_next_response or case.assistant_active
    )


async def _through_service(session: AsyncSession, pending: _Pending, case: _Case | None) -> dict[str, Any]:
    customer = await session.get(Customer, pending.buyer.customer_id)
    assert customer is not None
    ticket = await session.get(Ticket, case.id) if case is not None else None
    async with session.begin_nested():  # a refused message leaves the rest of the batch alone
        message = await intake.do_receive(
            session,
            pending.buyer.tenant_id,
            customer=customer,
            channel=Channel.CHAT,
            body=pending.body,
            ticket=ticket,
            category=pending.category,
            now=pending.received_at,
            arrival=pending.arrival,
        )
    return {**messages.message_event(message), "text": message.body}


async def _write_fast(
    session: AsyncSession, fast: list[tuple[_Pending, _Case]], *, translate: bool
) -> list[dict[str, Any]]:
    """The common-case messages of a batch that also went through the service: stored with their tickets
    touched, pushed once committed, and queued for translation."""
    if not fast:
        return []
    ids = await _store(session, fast)
    by_tenant: dict[int, list[int]] = defaultdict(list)
    written = []
    for (pending, case), message_id in zip(fast, ids, strict=True):
        by_tenant[case.tenant_id].append(message_id)
        shown = _written(pending, case, message_id)
        for channel, event in _pushes(pending, case, shown):
            publish_after_commit(session, channel, event)
        written.append({**shown, "text": pending.body})
    for tenant_id, message_ids in by_tenant.items() if translate else ():  # one job per tenant and batch
        await emit_many(
            session, [(messages.TRANSLATE_TOPIC, {"message_ids": message_ids})], tenant_id=tenant_id
        )
    return written


def _written(pending: _Pending, case: _Case, message_id: int) -> dict[str, Any]:
    """The stored message as the consoles see it."""
    shown: dict[str, Any] = {
        "ticket_id": case.id,
        "id": message_id,
        "author_kind": AuthorKind.CUSTOMER.value,
        "author_name": pending.buyer.name[:200],
        "internal": False,
        "body": pending.body,
        "language": case.language,
        "channel": Channel.CHAT.value,
        "created_at": pending.received_at.isoformat(),
    }
    if pending.arrival is not None:
        shown["arrival"] = pending.arrival
    return shown


def _pushes(pending: _Pending, case: _Case, shown: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (tenant_channel(case.tenant_id), {"topic": "realtime.message.created", "payload": shown}),
        (chat_channel(case.tenant_id, case.customer_id), {"type": "message", **shown, "text": pending.body}),
    ]
