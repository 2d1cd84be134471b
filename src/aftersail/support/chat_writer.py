"""Buyer chat messages written in group commits: every message that arrives while a batch is being written
waits for the next one, so a thousand chatting buyers cost a few transactions per second, not a thousand.

The common case — the buyer writes again on their open case, and nothing about the case changes (no status
to wake, no clock to start) — is three statements for the whole batch: insert the messages, touch the
tickets, queue their translation. Anything else (a first message, a reopened or pending case, a clock to
start) goes through the full service (`intake.do_receive`) inside the same transaction. The tickets of the
batch are locked (`FOR UPDATE`, in id order) so an agent's reply cannot change a case between the check and
the write. A stored message is pushed to consoles and chats only after its batch committed (rule 2); the
chat socket has already shown it to the consoles as arriving (ADR 0014), under the key the stored push
repeats (`arrival`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, exists, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database, on_postgres
from aftersail.kit.errors import DomainError
from aftersail.kit.outbox import emit_many
from aftersail.kit.realtime import publish_after_commit, tenant_channel
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
MESSAGES: Table = TicketMessage.__table__  # type: ignore[assignment]
TICKETS: Table = Ticket.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ChatBuyer:
    """What a chat socket knows of its buyer once the token is checked (no lookups per message)."""

    tenant_id: int
    customer_id: int
    name: str
    language: str


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


class ChatWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
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

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
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
            for pending, result in zip(batch, results, strict=True):
                _resolve(pending, result)

    async def _write(self, batch: list[_Pending]) -> list[dict[str, Any]]:
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
            written = await _write_fast(session, fast)
            positions = [i for i in range(len(batch)) if i not in results]
            for index, shown in zip(positions, written, strict=True):
                results[index] = shown
            return [results[i] for i in range(len(batch))]


async def _insert_messages(connection: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    """The new messages' ids, in the order of `rows`. On PostgreSQL one statement whatever the batch's size
    (arrays through `unnest`: a statement per size would be prepared again and again); ids come from one
    sequence in the order the rows are inserted (`ORDER BY` the rows' position), so sorted ids match rows."""
    if connection.dialect.name != "postgresql":
        found = await connection.scalars(
            insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True), rows
        )
        return list(found)
    found = await connection.scalars(
        INSERT_MESSAGES,
        {
            "tenants": [row["tenant_id"] for row in rows],
            "tickets": [row["ticket_id"] for row in rows],
            "names": [row["author_name"] for row in rows],
            "bodies": [row["body"] for row in rows],
            "languages": [row["language"] for row in rows],
            "times": [row["created_at"] for row in rows],
        },
    )
    return sorted(found)


INSERT_MESSAGES = text(
    "INSERT INTO ticket_messages"
    " (tenant_id, ticket_id, author_kind, author_name, channel, internal, body, language, mentions,"
    " created_at, delivery)"
    " SELECT m.tenant_id, m.ticket_id, 'customer', m.name, 'chat', false, m.body, m.language, '[]',"
    " m.at, '{}'"
    " FROM unnest(CAST(:tenants AS bigint[]), CAST(:tickets AS bigint[]), CAST(:names AS text[]),"
    " CAST(:bodies AS text[]), CAST(:languages AS text[]), CAST(:times AS timestamptz[]))"
    " WITH ORDINALITY AS m(tenant_id, ticket_id, name, body, language, at, position)"
    " ORDER BY m.position RETURNING id"
)


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
    query = (
        select(
            Ticket.id,
            Ticket.tenant_id,
            Ticket.customer_id,
            Ticket.status,
            Ticket.first_response_at.is_not(None),
            Ticket.language,
            exists().where(
                SlaClock.ticket_id == Ticket.id,
                SlaClock.kind == ClockKind.NEXT_RESPONSE,
                SlaClock.state.in_(LIVE_STATES),
                SlaClock.stopped_at.is_(None),
            ),
        )
        .where(
            Ticket.customer_id.in_([customer for _, customer in buyers]),
            Ticket.channel == Channel.CHAT,
            Ticket.status != TicketStatus.CLOSED,
        )
        .order_by(Ticket.id)
    )
    if on_postgres(session):
        query = query.with_for_update(of=TICKETS)
    found: dict[tuple[int, int], _Case] = {}
    for row in await session.execute(query):
        case = _Case(row[0], row[1], row[2], row[3], bool(row[4]), row[5], bool(row[6]))
        key = (case.tenant_id, case.customer_id)
        if key in buyers:
            found[key] = case  # ordered by id: the latest wins
    return found


def _unchanged_by_a_message(case: _Case) -> bool:
    """Open, and either never answered or already waiting for the next response: the message changes
    nothing about the case but its timestamps (see `messages.do_add_customer_message`)."""
    return case.status is TicketStatus.OPEN and (not case.answered or case.awaiting_next_response)


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


async def _write_fast(session: AsyncSession, fast: list[tuple[_Pending, _Case]]) -> list[dict[str, Any]]:
    """Three Core statements for the batch, on the session's connection (the ORM's per-statement work
    is most of a batch's CPU otherwise)."""
    if not fast:
        return []
    connection = await session.connection()
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": case.tenant_id,
            "ticket_id": case.id,
            "author_kind": AuthorKind.CUSTOMER,
            "author_name": pending.buyer.name[:200],
            "channel": Channel.CHAT,
            "internal": False,
            "body": pending.body,
            # The conversation's language; the translation job detects each message's own and corrects it
            # (detection costs ~0.3 ms of CPU: too much to spend here, on the event loop, under the lock).
            "language": case.language,
            "mentions": [],
            "created_at": pending.received_at,
            "delivery": {},
        }
        for pending, case in fast
    ]
    ids = list(
        await connection.scalars(
            insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True), rows
        )
    )
    touched: dict[int, datetime] = {}
    followups: dict[int, int] = defaultdict(int)
    for pending, case in fast:
        touched[case.id] = max(touched.get(case.id, pending.received_at), pending.received_at)
        if case.answered:
            followups[case.id] += 1
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
    by_tenant: dict[int, list[int]] = defaultdict(list)
    shown_all = []
    for (pending, case), row, message_id in zip(fast, rows, ids, strict=True):
        by_tenant[case.tenant_id].append(message_id)
        shown = {
            "ticket_id": case.id,
            "id": message_id,
            "author_kind": AuthorKind.CUSTOMER.value,
            "author_name": row["author_name"],
            "internal": False,
            "body": row["body"],
            "language": row["language"],
            "channel": Channel.CHAT.value,
            "created_at": row["created_at"].isoformat(),
        }
        if pending.arrival is not None:
            shown["arrival"] = pending.arrival
        publish_after_commit(
            session, tenant_channel(case.tenant_id), {"topic": "realtime.message.created", "payload": shown}
        )
        publish_after_commit(
            session,
            chat_channel(case.tenant_id, case.customer_id),
            {"type": "message", **shown, "text": row["body"]},
        )
        shown_all.append({**shown, "text": row["body"]})
    for tenant_id, message_ids in by_tenant.items():  # one translation job per tenant and batch
        await emit_many(
            session, [(messages.TRANSLATE_TOPIC, {"message_ids": message_ids})], tenant_id=tenant_id
        )
    return shown_all
