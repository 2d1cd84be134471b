"""Jobs of the support domain: translate buyer messages for the agents, check SLA clocks when their warning
or due instant comes, and ask for a CSAT rating after resolution. Handlers that need this process's settings
(a translation provider, the realtime bus) are built by `outbox_handlers` (see kit/worker.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.language import detect_language
from aftersail.assistant.model_turn import provider_for
from aftersail.assistant.translation import (
    ModelTranslator,
    TranslationUnavailable,
    Translator,
    create_translator,
    parse_code_map,
    translate_for,
)
from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.errors import NotFound
from aftersail.kit.i18n import N_, translations
from aftersail.kit.outbox import Delivery, Handler, Publisher, register
from aftersail.kit.realtime import RealtimeBus
from aftersail.kit.sealing import Sealer
from aftersail.orders.models import Customer
from aftersail.support import csat, email_channel, messages, routing, sla
from aftersail.support import service as tickets
from aftersail.support.chat_channel import chat_channel, csat_link
from aftersail.support.email_transport import EmailRejected, SmtpSender
from aftersail.support.models import AuthorKind, Channel, MessageTranslation, Ticket, TicketMessage
from aftersail.tenants.links import BuyerLinkSigner
from aftersail.tenants.models import Role, Tenant, User

log = logging.getLogger("aftersail.support")
# Worth another try later: the provider may be back. Anything else (unsupported pair, refused key, text
# too long) will not get better by retrying.
TRANSIENT = frozenset({"timeout", "unreachable", "rate_limited", "provider_error"})


async def ticket_of(session: AsyncSession, delivery: Delivery) -> Ticket | None:
    """The job's ticket (`ticket_id` in its payload), or None when it names none or it is gone."""
    ticket_id = delivery.payload.get("ticket_id")
    if delivery.tenant_id is None or not isinstance(ticket_id, int):
        return None
    try:
        return await tickets.access_ticket(session, delivery.tenant_id, ticket_id)
    except NotFound:
        return None


async def message_of(
    session: AsyncSession, tenant_id: int | None, message_id: object
) -> TicketMessage | None:
    if tenant_id is None or not isinstance(message_id, int):
        return None
    try:
        return await messages.access_message(session, tenant_id, message_id)
    except NotFound:
        return None


@register(sla.CHECK_TOPIC, name="support.sla_check")
async def check_sla_clock(session: AsyncSession, delivery: Delivery) -> None:
    clock_id = delivery.payload.get("clock_id")
    if isinstance(clock_id, int):
        await sla.do_sweep_sla(session, clock_id=clock_id, now=utcnow())


@register(tickets.WAKE_TOPIC, name="support.wake_snoozed")
async def wake_snoozed(session: AsyncSession, delivery: Delivery) -> None:
    ticket = await ticket_of(session, delivery)
    if ticket is not None:
        await tickets.do_wake_snoozed(session, ticket, now=utcnow())


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


async def tenant_translator(session: AsyncSession, tenant_id: int, sealer: Sealer) -> Translator | None:
    """The tenant's own language model as a translator, when it set one up for its assistant (used where
    no translation service is configured); the caller closes it."""
    tenant = await session.get(Tenant, tenant_id)
    provider = provider_for(tenant, sealer) if tenant is not None else None
    return ModelTranslator(provider) if provider is not None else None


async def agent_languages(session: AsyncSession, tenant_id: int) -> set[str]:
    """The console languages of the tenant's active agents and admins."""
    rows = await session.scalars(
        select(User.locale).where(
            User.tenant_id == tenant_id, User.is_active.is_(True), User.role.in_((Role.AGENT, Role.ADMIN))
        )
    )
    return set(rows)


def csat_email_text(ticket: Ticket, link: str) -> str:
    gettext = translations(ticket.language).gettext
    lines = [
        gettext(
            N_("Your case “%(subject)s” is resolved. How happy are you with our help? One click is enough:")
        )
        % {"subject": ticket.subject},
        "",
    ]
    for rating in range(5, 0, -1):
        label = {5: gettext(N_("Very happy")), 1: gettext(N_("Very unhappy"))}.get(rating, "")
        lines.append(f"{'★' * rating}{'☆' * (5 - rating)} {label}".rstrip() + f"\n{link}?rating={rating}")
    lines += ["", gettext(N_("If anything is still open, just reply to this e-mail."))]
    return "\n".join(lines)


async def _translate_one(
    session: AsyncSession, translator: Translator, tenant_id: int, message_id: int, languages: set[str]
) -> None:
    message = await message_of(session, tenant_id, message_id)
    if message is None or message.author_kind is not AuthorKind.CUSTOMER:
        return
    detected = detect_language(message.body, hint=message.language)
    if detected.language and detected.language != message.language and detected.method != "hint":
        message.language = detected.language  # chat stores the conversation's language; this is the message's
    done = set(
        await session.scalars(
            select(MessageTranslation.language).where(MessageTranslation.message_id == message.id)
        )
    )
    for target in sorted(languages - done - {message.language}):
        try:
            result = await translate_for(translator, message.body, source=message.language, target=target)
        except TranslationUnavailable as error:
            if error.reason in TRANSIENT:
                raise  # the outbox retries with backoff (what is stored already stays: `done` skips it)
            log.info("message %s not translated to %s: %s", message.id, target, error.message)
            continue
        if result is not None:
            await messages.do_store_translation(
                session, message, language=target, body=result.text, provider=translator.name
            )


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    links = BuyerLinkSigner(settings.secret_key.get_secret_value(), settings.buyer_link_max_age_seconds)
    sealer = Sealer(settings.secret_key.get_secret_value())  # opens a tenant's model API key

    async def translate_for_agents(session: AsyncSession, delivery: Delivery) -> None:
        """Buyer messages (`message_id`, or a chat batch's `message_ids`) in every language the tenant's
        agents read; an agent may correct a translation later. Without a provider there is nothing to do:
        the console shows the original with a hint."""
        ids = delivery.payload.get("message_ids") or [delivery.payload.get("message_id")]
        if delivery.tenant_id is None:
            return
        if settings.translation_provider:
            translator: Translator | None = translator_from(settings)
        else:
            translator = await tenant_translator(session, delivery.tenant_id, sealer)
        if translator is None:
            return
        languages = await agent_languages(session, delivery.tenant_id)
        try:
            for message_id in ids:
                if isinstance(message_id, int):
                    await _translate_one(session, translator, delivery.tenant_id, message_id, languages)
        finally:
            await translator.aclose()

    def sender() -> SmtpSender | None:
        if not settings.smtp_host:
            return None
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            starttls=settings.smtp_starttls,
            ssl=settings.smtp_ssl,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )

    async def send(session: AsyncSession, message: TicketMessage, email: EmailMessage) -> None:
        """At least once: a send that succeeded but whose record did not commit is sent again."""
        smtp = sender()
        if smtp is None:
            message.delivery = {
                **(message.delivery or {}),
                "status": "not_sent",
                "reason": "no SMTP server is set",
            }
            return
        try:
            await smtp.send(email)
        except EmailRejected as error:
            message.delivery = {**(message.delivery or {}), "status": "rejected", "reason": str(error)[:300]}
            return  # EmailDeferred propagates: the outbox tries again later
        message.delivery = {**(message.delivery or {}), "status": "sent", "sent_at": utcnow().isoformat()}

    async def deliver_email(session: AsyncSession, delivery: Delivery) -> None:
        """An agent's public reply on an e-mail case, in the buyer's language, threaded under their e-mail."""
        message = await message_of(session, delivery.tenant_id, delivery.payload.get("message_id"))
        if (
            message is None
            or message.channel is not Channel.EMAIL
            or message.internal
            or (message.delivery or {}).get("status") == "sent"
        ):
            return
        ticket = await tickets.access_ticket(session, message.tenant_id, message.ticket_id)
        customer = await session.get(Customer, ticket.customer_id)
        tenant = await session.get(Tenant, ticket.tenant_id)
        assert customer is not None and tenant is not None
        translation = await session.get(MessageTranslation, (message.id, ticket.language))
        text = translation.body if translation is not None else message.body
        email = email_channel.outbound_email(settings, tenant, ticket, message, customer, text)
        message.email_message_id = str(email["Message-ID"])
        await send(session, message, email)

    async def invite_to_rate(session: AsyncSession, delivery: Delivery) -> None:
        """Chat buyers see the rating in their open chat (and on their next visit); e-mail buyers get it in
        the resolution e-mail (support.email)."""
        ticket = await ticket_of(session, delivery)
        if ticket is None or ticket.status not in csat.RATEABLE:
            return
        link = csat_link(links, settings.base_url, ticket)
        channel = await messages.reply_channel(session, ticket)
        if channel is Channel.EMAIL:
            customer = await session.get(Customer, ticket.customer_id)
            tenant = await session.get(Tenant, ticket.tenant_id)
            assert customer is not None and tenant is not None
            notice = TicketMessage(
                tenant_id=ticket.tenant_id,
                ticket_id=ticket.id,
                author_kind=AuthorKind.SYSTEM,
                author_name=tenant.name,
                channel=Channel.EMAIL,
                internal=False,
                body=csat_email_text(ticket, link),
                language=ticket.language,
                mentions=[],
                delivery={},
            )
            session.add(notice)
            await session.flush()
            email = email_channel.outbound_email(settings, tenant, ticket, notice, customer, notice.body)
            del email["Subject"]
            email["Subject"] = translations(ticket.language).gettext(N_("How did we do?"))
            email["Auto-Submitted"] = "auto-generated"  # RFC 3834: responders stay quiet
            notice.email_message_id = str(email["Message-ID"])
            await send(session, notice, email)
        elif channel is Channel.CHAT:
            await bus.publish(
                chat_channel(ticket.tenant_id, ticket.customer_id),
                {"type": "csat", "ticket_id": ticket.id, "url": link},
            )

    return [
        Handler(name="support.deliver_email", topics=(messages.DELIVER_TOPIC,), fn=deliver_email),
        Handler(
            name="support.translate_for_agents", topics=(messages.TRANSLATE_TOPIC,), fn=translate_for_agents
        ),
        Handler(name="support.csat_invite", topics=(csat.INVITE_TOPIC,), fn=invite_to_rate),
    ]
