"""Jobs of the support domain: translate buyer messages for the agents, check SLA clocks when their warning
or due instant comes, and ask for a CSAT rating after resolution. Handlers that need this process's settings
(a translation provider, the realtime bus) are built by `outbox_handlers` (see kit/worker.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.translation import (
    TranslationUnavailable,
    Translator,
    create_translator,
    parse_code_map,
    translate_for,
)
from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.errors import NotFound
from aftersail.kit.outbox import Delivery, Handler, Publisher, register
from aftersail.kit.realtime import RealtimeBus
from aftersail.support import csat, messages, routing, sla
from aftersail.support import service as tickets
from aftersail.support.chat_channel import chat_channel, csat_link
from aftersail.support.models import AuthorKind, Channel, MessageTranslation
from aftersail.tenants.links import BuyerLinkSigner
from aftersail.tenants.models import Role, User

log = logging.getLogger("aftersail.support")
# Worth another try later: the provider may be back. Anything else (unsupported pair, refused key, text
# too long) will not get better by retrying.
TRANSIENT = frozenset({"timeout", "unreachable", "rate_limited", "provider_error"})


@register(sla.CHECK_TOPIC, name="support.sla_check")
async def check_sla_clock(session: AsyncSession, delivery: Delivery) -> None:
    clock_id = delivery.payload.get("clock_id")
    if isinstance(clock_id, int):
        await sla.do_sweep_sla(session, clock_id=clock_id, now=utcnow())


@register(routing.PRESENCE_TOPIC, name="support.presence_check")
async def check_presence(session: AsyncSession, delivery: Delivery) -> None:
    user_id = delivery.payload.get("user_id")
    if isinstance(user_id, int):
        await routing.do_sweep_presence(session, user_id=user_id, now=utcnow())


def translator_from(settings: Settings) -> Translator:
    return create_translator(
        settings.translation_provider,
        settings.translation_url,
        settings.translation_api_key,
        settings.translation_model or None,
        timeout=settings.translation_timeout_seconds,
        code_map=parse_code_map(settings.translation_code_map),
    )


async def agent_languages(session: AsyncSession, tenant_id: int) -> set[str]:
    """The console languages of the tenant's active agents and admins."""
    rows = await session.scalars(
        select(User.locale).where(
            User.tenant_id == tenant_id, User.is_active.is_(True), User.role.in_((Role.AGENT, Role.ADMIN))
        )
    )
    return set(rows)


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    links = BuyerLinkSigner(settings.secret_key.get_secret_value(), settings.buyer_link_max_age_seconds)

    async def translate_for_agents(session: AsyncSession, delivery: Delivery) -> None:
        """A buyer message in every language the tenant's agents read; an agent may correct it later."""
        message_id = delivery.payload.get("message_id")
        if delivery.tenant_id is None or not isinstance(message_id, int):
            return
        try:
            message = await messages.access_message(session, delivery.tenant_id, message_id)
        except NotFound:
            return
        if message.author_kind is not AuthorKind.CUSTOMER:
            return
        done = set(
            await session.scalars(
                select(MessageTranslation.language).where(MessageTranslation.message_id == message.id)
            )
        )
        targets = sorted(await agent_languages(session, delivery.tenant_id) - done - {message.language})
        if not targets:
            return
        translator = translator_from(settings)
        try:
            for target in targets:
                try:
                    result = await translate_for(
                        translator, message.body, source=message.language, target=target
                    )
                except TranslationUnavailable as error:
                    if error.reason in TRANSIENT:
                        raise  # the outbox retries with backoff
                    log.info("message %s not translated to %s: %s", message.id, target, error.message)
                    continue
                if result is not None:
                    await messages.do_store_translation(
                        session, message, language=target, body=result.text, provider=translator.name
                    )
        finally:
            await translator.aclose()

    async def invite_to_rate(session: AsyncSession, delivery: Delivery) -> None:
        """Chat buyers see the rating in their open chat (and on their next visit); e-mail buyers get it in
        the resolution e-mail (support.email)."""
        ticket_id = delivery.payload.get("ticket_id")
        if delivery.tenant_id is None or not isinstance(ticket_id, int):
            return
        try:
            ticket = await tickets.access_ticket(session, delivery.tenant_id, ticket_id)
        except NotFound:
            return
        if ticket.channel is Channel.CHAT and ticket.status in csat.RATEABLE:
            await bus.publish(
                chat_channel(ticket.tenant_id, ticket.customer_id),
                {
                    "type": "csat",
                    "ticket_id": ticket.id,
                    "url": csat_link(links, settings.base_url, ticket),
                },
            )

    return [
        Handler(
            name="support.translate_for_agents", topics=(messages.TRANSLATE_TOPIC,), fn=translate_for_agents
        ),
        Handler(name="support.csat_invite", topics=(csat.INVITE_TOPIC,), fn=invite_to_rate),
    ]
