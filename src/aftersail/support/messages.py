"""Use cases of messages (消息): a buyer writes, an agent replies or leaves an internal note, translations are
stored beside the original (rule 8), the buyer's side marks replies read.

A public reply is delivered after commit by the `support.deliver` job of its channel (`tasks`); every
buyer message is translated for the agents by the `support.translate` job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.language import detect_language
from aftersail.kit.clock import utcnow
from aftersail.kit.db import on_postgres
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.outbox import emit
from aftersail.kit.realtime import publish_after_commit, tenant_channel
from aftersail.support import rules, sla
from aftersail.support import service as tickets
from aftersail.support.audit import record
from aftersail.support.chat_channel import chat_channel
from aftersail.support.models import (
    Attachment,
    AuthorKind,
    Channel,
    MessageTranslation,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from aftersail.tenants.models import User

MAX_BODY_CHARS = 20_000
TRANSLATE_TOPIC = "support.translate"
DELIVER_TOPIC = "support.deliver"
MENTION = re.compile(r"@([\w.\-]+@[\w.\-]+|[\w\-]+)")


def check_body(body: str, *, has_attachments: bool = False) -> str:
    text = body.strip()
    if not text and not has_attachments:
        raise InvalidInput("The message is empty.", field="body")
    if len(text) > MAX_BODY_CHARS:
        raise InvalidInput(f"A message is at most {MAX_BODY_CHARS:,} characters.", field="body")
    return text


async def access_message(session: AsyncSession, tenant_id: int, message_id: int) -> TicketMessage:
    message = await session.scalar(
        select(TicketMessage).where(TicketMessage.tenant_id == tenant_id, TicketMessage.id == message_id)
    )
    if message is None:
        raise NotFound(f"Message {message_id} does not exist.", message_id=message_id)
    return message


async def do_add_customer_message(
    session: AsyncSession,
    ticket: Ticket,
    *,
    body: str,
    channel: Channel,
    author_name: str,
    language: str | None = None,
    email_message_id: str | None = None,
    external_id: str | None = None,
    attachment_ids: Sequence[int] = (),
    now: datetime | None = None,
    arrival: str | None = None,
) -> TicketMessage:
    """The buyer wrote: the ticket wakes (a resolved one reopens), the next-response clock starts once the
    buyer has had a first answer, and agents get the message translated into their language. `arrival`:
    the key under which the message was shown as arriving (a chat socket's), repeated in the pushes."""
    now = now or utcnow()
    text = check_body(body, has_attachments=bool(attachment_ids))
    if ticket.status is TicketStatus.CLOSED:
        raise InvalidInput("This ticket is closed; a new message opens a new ticket.", field="ticket_id")
    if language is None:
        language = detect_language(text, hint=ticket.language).language or ticket.language
    message = TicketMessage(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        author_kind=AuthorKind.CUSTOMER,
        author_name=author_name[:200],
        channel=channel,
        internal=False,
        body=text,
        language=language,
        mentions=[],
        created_at=now,
        email_message_id=email_message_id,
        external_id=external_id,
        delivery={},
    )
    session.add(message)
    await session.flush()
    await _attach(session, ticket, message, attachment_ids)
    if ticket.first_response_at is not None:
        ticket.customer_followups += 1
    ticket.last_customer_message_at = now
    ticket.updated_at = now
    before = ticket.status
    after = rules.status_after_customer_message(before)
    if after is not before:
        if before is TicketStatus.RESOLVED:
            ticket.reopen_count += 1
            ticket.resolved_at = None
        ticket.status = after
        ticket.snoozed_until = None
        await record(session, ticket, "status", "customer", now, before=before.value, after=after.value)
    await sla.on_customer_message(session, ticket, before, now=now)
    await _announce(session, ticket, message, arrival=arrival)
    await emit(session, TRANSLATE_TOPIC, {"message_id": message.id}, tenant_id=ticket.tenant_id)
    return message


async def do_reply(
    session: AsyncSession,
    ticket: Ticket,
    *,
    author: User | None,
    body: str,
    language: str,
    sent_body: str | None = None,
    sent_provider: str = "",
    internal: bool = False,
    status_after: TicketStatus | None = TicketStatus.PENDING_CUSTOMER,
    author_kind: AuthorKind = AuthorKind.AGENT,
    attachment_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> TicketMessage:
    """An agent (or the assistant) answers. `body` is what the author wrote, in `language`; `sent_body` is
    what the buyer receives in the ticket's language (the translation the agent checked), stored beside
    it. An internal note is never sent, stops no clock and notifies the people it @mentions."""
    now = now or utcnow()
    text = check_body(body, has_attachments=bool(attachment_ids))
    if ticket.status is TicketStatus.CLOSED:
        raise InvalidInput("This ticket is closed.", field="ticket_id")
    actor = f"user:{author.id}" if author else author_kind.value
    mentions = await _mentioned_users(session, ticket.tenant_id, text) if internal else []
    message = TicketMessage(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        author_kind=author_kind,
        author_user_id=author.id if author else None,
        author_name=(author.name if author else "")[:200],
        channel=await reply_channel(session, ticket),
        internal=internal,
        body=text,
        language=language,
        mentions=mentions,
        created_at=now,
        delivery={},
    )
    session.add(message)
    await session.flush()
    await _attach(session, ticket, message, attachment_ids)
    if not internal and sent_body is not None and language != ticket.language:
        session.add(
            MessageTranslation(
                tenant_id=ticket.tenant_id,
                message_id=message.id,
                language=ticket.language,
                body=check_body(sent_body),
                provider=sent_provider or "agent",
                edited_by_id=author.id if author and sent_provider == "" else None,
                created_at=now,
            )
        )
    ticket.updated_at = now
    if internal:
        for user_id in mentions:
            await emit(
                session,
                "realtime.mention",
                {"ticket_id": ticket.id, "message_id": message.id, "user_id": user_id},
                tenant_id=ticket.tenant_id,
            )
    elif author_kind is AuthorKind.SYSTEM:
        # A notice (a return approved, a refund sent) reaches the buyer but answers nothing: no clock stops.
        await session.flush()
        if message.channel is Channel.EMAIL:
            await emit(session, DELIVER_TOPIC, {"message_id": message.id}, tenant_id=ticket.tenant_id)
    else:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.last_public_reply_at = now
        if author_kind is not AuthorKind.ASSISTANT:
            ticket.assistant_active = False  # a person answered: the case is theirs (ADR 0018)
        await session.flush()
        await sla.on_public_reply(session, ticket, now=now)
        if message.channel is Channel.EMAIL:  # chat replies are pushed on commit; API clients fetch them
            await emit(session, DELIVER_TOPIC, {"message_id": message.id}, tenant_id=ticket.tenant_id)
        if status_after is not None and status_after is not ticket.status:
            await tickets.do_change_status(session, ticket, status_after, actor=actor, now=now)
    await _announce(session, ticket, message)
    return message


async def reply_channel(session: AsyncSession, ticket: Ticket) -> Channel:
    """A reply goes out where the buyer last wrote (one case may span chat, e-mail and a marketplace)."""
    last = await session.scalar(
        select(TicketMessage.channel)
        .where(
            TicketMessage.tenant_id == ticket.tenant_id,
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.author_kind == AuthorKind.CUSTOMER,
        )
        .order_by(TicketMessage.id.desc())
        .limit(1)
    )
    return last or ticket.channel


async def do_store_translation(
    session: AsyncSession,
    message: TicketMessage,
    *,
    language: str,
    body: str,
    provider: str,
    edited_by: User | None = None,
) -> MessageTranslation:
    """Insert or replace the message's translation into `language` (an agent's correction replaces the
    machine's); the original is never touched."""
    values = {
        "tenant_id": message.tenant_id,
        "message_id": message.id,
        "language": language,
        "body": check_body(body),
        "provider": provider,
        "edited_by_id": edited_by.id if edited_by else None,
        "created_at": utcnow(),
    }
    insert = pg_insert if on_postgres(session) else sqlite_insert
    statement = insert(MessageTranslation).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["message_id", "language"],
        set_={k: statement.excluded[k] for k in ("body", "provider", "edited_by_id", "created_at")},
    )
    await session.execute(statement)
    translation = await session.get(MessageTranslation, (message.id, language), populate_existing=True)
    assert translation is not None
    await emit(
        session,
        "realtime.message.translated",
        {"ticket_id": message.ticket_id, "message_id": message.id, "language": language},
        tenant_id=message.tenant_id,
    )
    return translation


async def message_translations(
    session: AsyncSession, tenant_id: int, message_ids: Sequence[int]
) -> dict[int, dict[str, MessageTranslation]]:
    if not message_ids:
        return {}
    rows = await session.scalars(
        select(MessageTranslation).where(
            MessageTranslation.tenant_id == tenant_id, MessageTranslation.message_id.in_(message_ids)
        )
    )
    found: dict[int, dict[str, MessageTranslation]] = {}
    for row in rows:
        found.setdefault(row.message_id, {})[row.language] = row
    return found


async def ticket_messages(
    session: AsyncSession, ticket: Ticket, *, include_internal: bool = True, after_id: int = 0
) -> list[TicketMessage]:
    query = select(TicketMessage).where(
        TicketMessage.tenant_id == ticket.tenant_id,
        TicketMessage.ticket_id == ticket.id,
        TicketMessage.id > after_id,
    )
    if not include_internal:
        query = query.where(TicketMessage.internal.is_(False))
    return list(await session.scalars(query.order_by(TicketMessage.id)))


async def do_mark_read(
    session: AsyncSession, ticket: Ticket, *, reader: AuthorKind, now: datetime | None = None
) -> int:
    """The buyer (reader=CUSTOMER) read the agents' public messages, or the agents read the buyer's."""
    now = now or utcnow()
    authors = (
        [AuthorKind.AGENT, AuthorKind.ASSISTANT] if reader is AuthorKind.CUSTOMER else [AuthorKind.CUSTOMER]
    )
    result = await session.execute(
        update(TicketMessage)
        .where(
            TicketMessage.tenant_id == ticket.tenant_id,
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.author_kind.in_(authors),
            TicketMessage.internal.is_(False),
            TicketMessage.read_at.is_(None),
        )
        .values(read_at=now)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count and reader is AuthorKind.AGENT:  # the buyer's open chat shows "Read" under their messages
        publish_after_commit(
            session,
            chat_channel(ticket.tenant_id, ticket.customer_id),
            {"type": "read", "reader": "agent", "read_at": now.isoformat()},
        )
    if count:
        await emit(
            session,
            "realtime.message.read",
            {"ticket_id": ticket.id, "reader": reader.value, "read_at": now.isoformat()},
            tenant_id=ticket.tenant_id,
        )
    return count


async def _attach(
    session: AsyncSession, ticket: Ticket, message: TicketMessage, attachment_ids: Sequence[int]
) -> None:
    """Files uploaded before the message was sent join it; only unclaimed files of this ticket qualify."""
    if not attachment_ids:
        return
    result = await session.execute(
        update(Attachment)
        .where(
            Attachment.tenant_id == ticket.tenant_id,
            Attachment.id.in_(attachment_ids),
            Attachment.ticket_id == ticket.id,
            Attachment.message_id.is_(None),
        )
        .values(message_id=message.id)
    )
    if int(getattr(result, "rowcount", 0) or 0) != len(set(attachment_ids)):
        raise InvalidInput("An attachment is unknown or already sent.", field="attachment_ids")


async def _mentioned_users(session: AsyncSession, tenant_id: int, text: str) -> list[int]:
    """`@name` or `@email` of an active user of this tenant; anything else stays plain text."""
    handles = {m.lower() for m in MENTION.findall(text)}
    if not handles:
        return []
    users = await session.scalars(select(User).where(User.tenant_id == tenant_id, User.is_active.is_(True)))
    found = []
    for user in users:
        names = {user.email.lower(), user.email.split("@")[0].lower(), user.name.lower().replace(" ", "")}
        if handles & names:
            found.append(user.id)
    return sorted(found)


async def _announce(
    session: AsyncSession, ticket: Ticket, message: TicketMessage, *, arrival: str | None = None
) -> None:
    """Straight to open consoles and, for public messages, to the buyer's open chat, once committed (the
    outbox's dispatch delay would be felt in a conversation); a client that missed it reloads the thread."""
    shown = message_event(message)
    if arrival is not None:
        shown["arrival"] = arrival
    publish_after_commit(
        session, tenant_channel(ticket.tenant_id), {"topic": "realtime.message.created", "payload": shown}
    )
    if not message.internal:
        # A buyer's own message is shown as written; an agent's, in the buyer's language when translated.
        translation = (
            None
            if message.author_kind is AuthorKind.CUSTOMER
            else await session.get(MessageTranslation, (message.id, ticket.language))
        )
        buyer_view = {**shown, "text": translation.body if translation else message.body}
        publish_after_commit(
            session, chat_channel(ticket.tenant_id, ticket.customer_id), {"type": "message", **buyer_view}
        )


def message_event(message: TicketMessage) -> dict[str, object]:
    return {
        "ticket_id": message.ticket_id,
        "id": message.id,
        "author_kind": message.author_kind.value,
        "author_name": message.author_name,
        "internal": message.internal,
        "body": message.body,
        "language": message.language,
        "channel": message.channel.value,
        "created_at": message.created_at.isoformat(),
    }
