"""The translation job against a LibreTranslate-compatible server on 127.0.0.1 (SQLite and PostgreSQL): a
German buyer message is stored beside its Chinese and English translations (the console languages of the
tenant's agents), never replacing the original; a provider that is down is retried, not skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aftersail.assistant.translation import TranslationUnavailable
from aftersail.kit.db import Database
from aftersail.kit.outbox import Delivery, Handler
from aftersail.kit.realtime import InMemoryBus
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import MessageTranslation, TicketMessage
from aftersail.support.tasks import outbox_handlers
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.conftest import make_settings
from tests.factories import PASSWORD
from tests.support_desk import make_desk, open_ticket
from tests.translation_server import serve_in_thread

GERMAN = "Mein Paket ist beschädigt angekommen."


def translate_handler(db_url: str, tmp_path: Path, url: str) -> Handler:
    settings = make_settings(db_url, tmp_path, translation_provider="libretranslate", translation_url=url)
    [handler] = [
        h for h in outbox_handlers(settings, InMemoryBus()) if h.name == "support.translate_for_agents"
    ]
    assert isinstance(handler, Handler)
    return handler


async def test_buyer_messages_are_translated_for_every_console_language(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        await tenants.do_create_user(
            session,
            tenant_id=desk.tenant_id,
            email=f"emma-{desk.tenant.slug}@seller.test",
            name="Emma",
            password=PASSWORD,
            role=Role.AGENT,
            locale="en",
        )
    ticket_id = await open_ticket(database, desk, category="damaged", at=datetime.now(UTC), body=GERMAN)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        message = await session.scalar(select(TicketMessage).where(TicketMessage.ticket_id == ticket_id))
        assert message is not None
    with serve_in_thread() as server:
        handler = translate_handler(db_url, tmp_path, server.url)
        delivery = Delivery(1, messages.TRANSLATE_TOPIC, {"message_ids": [message.id]}, desk.tenant_id, 1)
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            await handler.fn(session, delivery)
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            await handler.fn(session, delivery)  # again: nothing translated twice

        server.behaviour.fail_status = 503
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            other = await messages.do_add_customer_message(
                session,
                await tickets.access_ticket(session, desk.tenant_id, ticket_id),
                body="Das Glas ist zerbrochen.",
                channel=message.channel,
                author_name="Lena",
                language="de",
            )
        with pytest.raises(TranslationUnavailable):
            async with database.transaction(tenant_id=desk.tenant_id) as session:
                await handler.fn(
                    session,
                    Delivery(2, messages.TRANSLATE_TOPIC, {"message_id": other.id}, desk.tenant_id, 1),
                )
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        rows = list(
            await session.scalars(
                select(MessageTranslation).where(MessageTranslation.message_id == message.id)
            )
        )
        original = await session.get(TicketMessage, message.id)
    assert {row.language: row.body for row in rows} == {
        "zh": "我的包裹到达时已损坏。",
        "en": "My parcel arrived damaged.",
    }
    assert {row.provider for row in rows} == {"libretranslate"}
    assert original is not None and original.body == GERMAN and original.language == "de"
