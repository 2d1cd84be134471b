"""The chat writer's group commits (SQLite and PostgreSQL): many buyers writing at once land in few
transactions with exactly the effects the one-message service path has — a first message opens a case,
messages on an open case only add to it, a message after an agent's reply wakes the case and starts the
next-response clock — and a refused message fails alone."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.kit.errors import InvalidInput
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders import service as orders
from aftersail.orders.schemas import CustomerCreate
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.chat_writer import ChatBuyer, ChatWriter
from aftersail.support.models import ClockKind, SlaClock, Ticket, TicketMessage, TicketStatus
from aftersail.tenants.models import User
from tests.support_desk import Desk, make_desk


async def buyers(db: Database, desk: Desk, count: int) -> list[ChatBuyer]:
    made = []
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        for n in range(count):
            customer = await orders.do_create_customer(
                session,
                desk.tenant_id,
                CustomerCreate(
                    name=f"Käufer {n}",
                    email=f"k{n}-{uuid.uuid4().hex[:6]}@example.de",
                    country="DE",
                    preferred_language="de",
                ),
            )
            made.append(ChatBuyer(desk.tenant_id, customer.id, customer.name, "de"))
    return made


async def chat_tickets(db: Database, desk: Desk, buyer: ChatBuyer) -> list[Ticket]:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        found = list(
            await session.scalars(
                select(Ticket).where(
                    Ticket.tenant_id == desk.tenant_id, Ticket.customer_id == buyer.customer_id
                )
            )
        )
        for ticket in found:
            session.expunge(ticket)
        return found


async def test_many_buyers_at_once_get_the_same_effects_as_one_by_one(database: Database) -> None:
    desk = await make_desk(database)
    people = await buyers(database, desk, 12)
    writer = ChatWriter(database)
    try:
        # Round 1: everyone's first message, all at once (cases open); round 2: follow-ups (fast path).
        first = await asyncio.gather(*(writer.submit(b, f"Hallo, Frage {i}") for i, b in enumerate(people)))
        second = await asyncio.gather(
            *(writer.submit(b, f"Noch etwas {i}") for i, b in enumerate(people) for _ in range(2))
        )
    finally:
        await writer.close()
    assert len({m["id"] for m in [*first, *second]}) == 36
    for index, buyer in enumerate(people):
        [ticket] = await chat_tickets(database, desk, buyer)
        assert ticket.status is TicketStatus.OPEN and ticket.customer_followups == 0
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            bodies = [m.body for m in await messages.ticket_messages(session, ticket)]
        assert bodies == [f"Hallo, Frage {index}", f"Noch etwas {index}", f"Noch etwas {index}"]
    async with database.transaction(system=True) as session:
        jobs = list(
            await session.scalars(
                select(OutboxEvent.payload).where(
                    OutboxEvent.tenant_id == desk.tenant_id, OutboxEvent.topic == "support.translate"
                )
            )
        )
    # Every message is to be translated: the first ones one by one (they opened cases), the rest by batch.
    translated = [i for job in jobs for i in job.get("message_ids", [job.get("message_id")])]
    assert sorted(translated) == sorted(m["id"] for m in [*first, *second])
    assert len(jobs) < 36


async def test_a_message_after_a_reply_wakes_the_case_and_starts_the_next_response_clock(
    database: Database,
) -> None:
    desk = await make_desk(database)
    [buyer] = await buyers(database, desk, 1)
    writer = ChatWriter(database)
    try:
        opened = await writer.submit(buyer, "Mein Paket ist nicht angekommen.", category="where_is_my_order")
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            ticket = await tickets.access_ticket(session, desk.tenant_id, opened["ticket_id"])
            wang = await session.get(User, desk.wang_id)
            await messages.do_reply(
                session, ticket, author=wang, body="我们查一下。", language="zh", sent_body="Wir prüfen das."
            )
        woke, again = await asyncio.gather(
            writer.submit(buyer, "Danke! Und wann kommt es?"), writer.submit(buyer, "Ich warte schon lange.")
        )
        with pytest.raises(InvalidInput):
            await writer.submit(buyer, "   ")
    finally:
        await writer.close()
    assert woke["ticket_id"] == again["ticket_id"] == opened["ticket_id"]
    [ticket] = await chat_tickets(database, desk, buyer)
    assert ticket.status is TicketStatus.OPEN
    assert ticket.customer_followups == 2
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        clocks = list(await session.scalars(select(SlaClock.kind).where(SlaClock.ticket_id == ticket.id)))
        stored = await session.scalar(select(func.count()).where(TicketMessage.ticket_id == ticket.id))
    assert clocks.count(ClockKind.NEXT_RESPONSE) == 1  # started once, not once per message
    assert stored == 4
