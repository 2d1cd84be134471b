"""Agents' intent corrections and the tenant's own model (SQLite and PostgreSQL): a correction is kept per
message, only resolved cases feed training, and the tenant's model learns what its buyers mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from aftersail.assistant import corrections
from aftersail.assistant.classify import classify
from aftersail.assistant.nlu import IntentModel
from aftersail.kit.db import Database
from aftersail.kit.errors import InvalidInput
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import AuthorKind, TicketStatus
from aftersail.tenants.models import User
from tests.support_desk import make_desk, open_buyer_ticket

# Shop slang the shipped data has never seen: at this seller "the blue sticker" means the return label.
SLANG = "wo bleibt mein blauer aufkleber für das ding"


async def test_corrections_on_resolved_tickets_train_the_tenants_model(
    database: Database, intent_model: IntentModel, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    resolved = await open_buyer_ticket(database, desk, name="Jonas", body=SLANG, subject="?")
    still_open = await open_buyer_ticket(database, desk, name="Mia", body="blauer aufkleber??", subject="?")
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        agent = await session.get(User, desk.wang_id)
        for ticket_id in (resolved, still_open):
            ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
            (message,) = await messages.ticket_messages(session, ticket)
            await corrections.do_correct_intent(session, message, "order_status", by=agent)  # first thought
            again = await corrections.do_correct_intent(session, message, "return_request", by=agent)
            assert again.corrected == "return_request" and again.corrected_by_id == desk.wang_id
        ticket = await tickets.access_ticket(session, desk.tenant_id, resolved)
        await tickets.do_change_status(session, ticket, TicketStatus.RESOLVED, actor="user:1")

        with pytest.raises(InvalidInput, match="not an intent"):
            await corrections.do_correct_intent(session, message, "refund_now", by=agent)
        reply = await messages.do_reply(
            session, ticket, author=agent, body="Gern!", language="de", status_after=None
        )
        assert reply.author_kind is AuthorKind.AGENT
        with pytest.raises(InvalidInput, match="buyer"):
            await corrections.do_correct_intent(session, reply, "thanks", by=agent)

        examples = await corrections.tenant_examples(session, desk.tenant_id)
    assert [(e.text, e.intent) for e in examples] == [(SLANG, "return_request")]  # the open case waits

    before = classify(intent_model, SLANG).intent
    model = corrections.train_tenant_model(tmp_path, desk.tenant_id, examples)
    assert classify(model, SLANG).intent == "return_request" != before
    assert corrections.model_for(tmp_path, desk.tenant_id) is model
    assert corrections.model_for(tmp_path, desk.tenant_id + 10_000) is not model  # others: the shipped one
