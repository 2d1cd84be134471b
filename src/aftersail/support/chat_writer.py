"""Buyer chat messages written in group commits: every message that arrives while a batch is being written
waits for the next one, so a thousand chatting buyers cost a few transactions per second, not a thousand.

The common case — the buyer writes again on their open case, and nothing about the case changes (no status
to wake, no clock to start) — is three statements for the whole batch: insert the messages, touch the
tickets, queue their translation. Anything else (a first message, a reopened or pending case, a clock to
start) goes through the full service (`intake.do_receive`) inside the same transaction. The tickets of the
batch are locked (`FOR UPDATE`, in id order) so an agent's reply cannot change a case between the check and
the write. A message is pushed to consoles and chats only after its batch committed (rule 2).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
    received_at: datetime = field(default_factory=utcnow)


class ChatWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, buyer: ChatBuyer, body: str, *, category: str = "other") -> dict[str, Any]:
        """Store the message; returns it as pushed to the consoles (with its id) once committed."""
        text = messages.check_body(body)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="chat-writer")
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(buyer, text, category, done))
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
            tickets = await _current_tickets(
                session, {(p.buyer.tenant_id, p.buyer.customer_id) for p in batch}
            )
            waiting = await _awaiting_next_response(session, [t.id for t in tickets.values()])
            fast: list[tuple[_Pending, Ticket]] = []
            results: dict[int, dict[str, Any]] = {}
            for index, pending in enumerate(batch):
                ticket = tickets.get((pending.buyer.tenant_id, pending.buyer.customer_id))
                if ticket is not None and _unchanged_by_a_message(ticket, waiting):
                    fast.append((pending, ticket))
                else:
                    results[index] = await _through_service(session, pending, ticket)
                    if ticket is None or ticket.status is not TicketStatus.OPEN:
                        # The case changed (opened, woken): later messages of this buyer in the batch see it.
                        refreshed = await _current_tickets(
                            session, {(pending.buyer.tenant_id, pending.buyer.customer_id)}
                        )
                        tickets.update(refreshed)
                        waiting |= await _awaiting_next_response(session, [t.id for t in refreshed.values()])
            written = await _write_fast(session, fast)
            positions = [i for i, p in enumerate(batch) if i not in results]
            for index, shown in zip(positions, written, strict=True):
                results[index] = shown
            return [results[i] for i in range(len(batch))]


def _resolve(pending: _Pending, result: dict[str, Any]) -> None:
    if not pending.done.done():
        pending.done.set_result(result)


def _fail(pending: _Pending, error: BaseException) -> None:
    if not isinstance(error, DomainError):
        log.exception("a chat message could not be stored", exc_info=error)
    if not pending.done.done():
        pending.done.set_exception(error)


async def _current_tickets(
    session: AsyncSession, buyers: set[tuple[int, int]]
) -> dict[tuple[int, int], Ticket]:
    """Each buyer's latest chat case that is not closed, locked against concurrent changes."""
    if not buyers:
        return {}
    query = (
        select(Ticket)
        .where(
            Ticket.customer_id.in_([customer for _, customer in buyers]),
            Ticket.channel == Channel.CHAT,
            Ticket.status != TicketStatus.CLOSED,
        )
        .order_by(Ticket.id)
    )
    if on_postgres(session):
        query = query.with_for_update()
    found: dict[tuple[int, int], Ticket] = {}
    for ticket in await session.scalars(query):
        key = (ticket.tenant_id, ticket.customer_id)
        if key in buyers:
            found[key] = ticket  # ordered by id: the latest wins
    return found


async def _awaiting_next_response(session: AsyncSession, ticket_ids: list[int]) -> set[int]:
    if not ticket_ids:
        return set()
    rows = await session.scalars(
        select(SlaClock.ticket_id).where(
            SlaClock.ticket_id.in_(ticket_ids),
            SlaClock.kind == ClockKind.NEXT_RESPONSE,
            SlaClock.state.in_(LIVE_STATES),
            SlaClock.stopped_at.is_(None),
        )
    )
    return set(rows)


def _unchanged_by_a_message(ticket: Ticket, waiting: set[int]) -> bool:
    """Open, and either never answered or already waiting for the next response: the message changes
    nothing about the case but its timestamps (see `messages.do_add_customer_message`)."""
    return ticket.status is TicketStatus.OPEN and (ticket.first_response_at is None or ticket.id in waiting)


async def _through_service(session: AsyncSession, pending: _Pending, ticket: Ticket | None) -> dict[str, Any]:
    customer = await session.get(Customer, pending.buyer.customer_id)
    assert customer is not None
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
        )
    return {**messages.message_event(message), "text": message.body}


async def _write_fast(session: AsyncSession, fast: list[tuple[_Pending, Ticket]]) -> list[dict[str, Any]]:
    if not fast:
        return []
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": ticket.tenant_id,
            "ticket_id": ticket.id,
            "author_kind": AuthorKind.CUSTOMER,
            "author_name": pending.buyer.name[:200],
            "channel": Channel.CHAT,
            "internal": False,
            "body": pending.body,
            # The conversation's language; the translation job detects each message's own and corrects it
            # (detection costs ~0.3 ms of CPU: too much to spend here, on the event loop, under the lock).
            "language": ticket.language,
            "mentions": [],
            "created_at": pending.received_at,
            "delivery": {},
        }
        for pending, ticket in fast
    ]
    ids = list(
        await session.scalars(
            insert(TicketMessage).returning(TicketMessage.id, sort_by_parameter_order=True), rows
        )
    )
    touched: dict[int, list[datetime]] = defaultdict(list)
    followups: dict[int, int] = defaultdict(int)
    for (pending, ticket), _ in zip(fast, ids, strict=True):
        touched[ticket.id].append(pending.received_at)
        if ticket.first_response_at is not None:
            followups[ticket.id] += 1
    table: Table = Ticket.__table__  # type: ignore[assignment]  # Core: an executemany UPDATE, not the ORM's bulk update by primary key
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("ticket_id"))
        .values(
            last_customer_message_at=bindparam("at"),
            updated_at=bindparam("at"),
            customer_followups=table.c.customer_followups + bindparam("followups"),
        ),
        [
            {"ticket_id": tid, "at": max(times), "followups": followups[tid]}
            for tid, times in sorted(touched.items())
        ],
    )
    for _, ticket in fast:  # the loaded rows follow (a later batch in this session must not see stale ones)
        session.expire(ticket, ["last_customer_message_at", "updated_at", "customer_followups"])
    customers = {ticket.id: ticket.customer_id for _, ticket in fast}
    by_tenant: dict[int, list[int]] = defaultdict(list)
    shown_all = []
    for row, message_id in zip(rows, ids, strict=True):
        by_tenant[row["tenant_id"]].append(message_id)
        shown = {
            "ticket_id": row["ticket_id"],
            "id": message_id,
            "author_kind": AuthorKind.CUSTOMER.value,
            "author_name": row["author_name"],
            "internal": False,
            "body": row["body"],
            "language": row["language"],
            "channel": Channel.CHAT.value,
            "created_at": row["created_at"].isoformat(),
        }
        customer_id = customers[row["ticket_id"]]
        publish_after_commit(
            session, tenant_channel(row["tenant_id"]), {"topic": "realtime.message.created", "payload": shown}
        )
        publish_after_commit(
            session,
            chat_channel(row["tenant_id"], customer_id),
            {"type": "message", **shown, "text": row["body"]},
        )
        shown_all.append({**shown, "text": row["body"]})
    for tenant_id, message_ids in by_tenant.items():  # one translation job per tenant and batch
        await emit_many(
            session, [(messages.TRANSLATE_TOPIC, {"message_ids": message_ids})], tenant_id=tenant_id
        )
    return shown_all
