"""The assistant answering buyers: understand the turn, look up and act through the same services agents
use, reply in the buyer's language from the templates, or hand the case to a person with a summary and a
reply-by time. Every turn leaves an `AssistantDecision` (the audit). Services only flush (rule 1).

A turn is every buyer message since the assistant last answered; a job for an older message of a
conversation that has a newer one does nothing (the newer one's job answers both): no stale answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant import replies, wording
from aftersail.assistant.classify import Classification, classify_many
from aftersail.assistant.entities import CatalogEntry, Entities, extract_entities
from aftersail.assistant.model_turn import ModelActions, answer_with_model, provider_for
from aftersail.assistant.models import AssistantConversation, AssistantDecision, ConversationState, Outcome
from aftersail.assistant.nlu import IntentModel
from aftersail.assistant.providers import ModelProvider, ProviderUnavailable
from aftersail.assistant.rules import (
    Action,
    HandoffReason,
    OrderFacts,
    Plan,
    TurnFacts,
    plan_after_search,
    plan_turn,
)
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import on_postgres
from aftersail.kit.errors import DomainError
from aftersail.kit.sealing import Sealer
from aftersail.orders import changes as order_changes
from aftersail.orders import service as orders
from aftersail.orders.allocation import order_policy
from aftersail.orders.models import Customer, Order
from aftersail.orders.rules import CHANGEABLE
from aftersail.shipping import service as shipping
from aftersail.shipping.rules import Direction
from aftersail.support import routing, sla
from aftersail.support import service as tickets
from aftersail.support.messages import do_reply
from aftersail.support.models import AuthorKind, Priority, Ticket, TicketMessage, TicketStatus
from aftersail.tenants.links import BuyerGrant, BuyerLinkSigner, LinkScope
from aftersail.tenants.models import Tenant

DECIDED_BY = "assistant:builtin"
ACTOR = "assistant"
MAX_TURN_CHARS = 4_000
# Buyer messages older than this are left to people: the assistant answers at once or not at all.
MAX_ANSWER_AGE = timedelta(minutes=30)
HIGH_VALUE_MINOR = 50_000  # default threshold (500.00 in the order's currency); tenant setting overrides
# Hand-offs a tenant's model never takes over: the buyer wants a person, or the case is one for people.
_PEOPLE_ONLY = {
    HandoffReason.COMPLAINT,
    HandoffReason.ASKED_FOR_PERSON,
    HandoffReason.VIP,
    HandoffReason.HIGH_VALUE,
}
_URGENT = {Priority.P3: Priority.P2, Priority.P4: Priority.P2}
_NEGATIVE = {"angry", "scam", "chargeback", "lawyer", "review_report", "never_again", "manager"}
_POSITIVE = {"thanks", "praise", "solved"}


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """The tenant's assistant settings (`tenant.settings["assistant"]`)."""

    enabled: bool = False
    high_value_minor: int = HIGH_VALUE_MINOR
    vip_tag: str = "vip"  # a ticket tagged so is served by a person

    @classmethod
    def of(cls, tenant: Tenant) -> AssistantSettings:
        return cls.from_raw(dict((tenant.settings or {}).get("assistant") or {}))

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> AssistantSettings:
        return cls(
            enabled=bool(raw.get("enabled", False)),
            high_value_minor=int(raw.get("high_value_minor", HIGH_VALUE_MINOR)),
            vip_tag=str(raw.get("vip_tag", "vip")),
        )


@dataclass(slots=True)
class Context:
    """What a job hands the service: the model, how to sign links, where the buyer pages are."""

    model: IntentModel
    links: BuyerLinkSigner
    base_url: str
    sealer: Sealer | None = None  # opens the tenant's model API key


@dataclass(slots=True)
class _Turn:
    ticket: Ticket
    message: TicketMessage  # the latest buyer message of the turn
    text: str
    conversation: AssistantConversation
    understood: Classification | None = None
    entities: Entities | None = None
    values: dict[str, Any] = field(default_factory=dict)


async def assistant_on(session: AsyncSession, tenant_id: int) -> bool:
    tenant = await session.get(Tenant, tenant_id)
    return tenant is not None and AssistantSettings.of(tenant).enabled


async def do_answer_messages(
    session: AsyncSession,
    tenant_id: int,
    message_ids: Sequence[int],
    context: Context,
    *,
    now: datetime | None = None,
) -> list[AssistantDecision]:
    """Answers the conversations these buyer messages belong to (each once, from its latest message)."""
    now = now or utcnow()
    tenant = await session.get(Tenant, tenant_id)
    settings = AssistantSettings.of(tenant) if tenant is not None else None
    if tenant is None or settings is None or not settings.enabled or not message_ids:
        return []
    latest: dict[int, TicketMessage] = {}
    for message in await _buyer_messages(session, tenant_id, message_ids):
        if as_utc(message.created_at) < now - MAX_ANSWER_AGE:
            # An automated answer hours late (after an outage, imported history) helps nobody: people have it.
            await _release(session, await tickets.access_ticket(session, tenant_id, message.ticket_id), now)
            continue
        if message.ticket_id not in latest or message.id > latest[message.ticket_id].id:
            latest[message.ticket_id] = message
    turns: list[_Turn] = []
    decisions: list[AssistantDecision] = []
    for message in latest.values():
        turn = await _open_turn(session, message)
        if turn is None:
            continue
        if await _newer_buyer_message(session, message):
            decisions.append(
                _decision(turn, Outcome.SUPERSEDED, reason="a newer buyer message answers this one")
            )
            continue
        turns.append(turn)
    if not turns:
        _add_all(session, decisions)
        return decisions
    hints = [turn.ticket.language for turn in turns]
    # CPU work (a few ms a batch) off the event loop; the first call may wait for the model to load.
    understood = await asyncio.to_thread(
        classify_many, context.model, [turn.text for turn in turns], hints=hints
    )
    for turn, classification in zip(turns, understood, strict=True):
        turn.understood = classification
        turn.entities = extract_entities(turn.text, lang=classification.lang, today=now.date())
        decisions.append(await _answer(session, tenant, settings, turn, context, now))
    _add_all(session, decisions)
    await session.flush()
    return decisions


def _add_all(session: AsyncSession, decisions: list[AssistantDecision]) -> None:
    for decision in decisions:
        session.add(decision)


async def _buyer_messages(
    session: AsyncSession, tenant_id: int, ids: Sequence[int]
) -> Sequence[TicketMessage]:
    return (
        await session.scalars(
            select(TicketMessage).where(
                TicketMessage.tenant_id == tenant_id,
                TicketMessage.id.in_(list(ids)),
                TicketMessage.author_kind == AuthorKind.CUSTOMER,
                TicketMessage.internal.is_(False),
            )
        )
    ).all()


async def _newer_buyer_message(session: AsyncSession, message: TicketMessage) -> bool:
    newest = await session.scalar(
        select(func.max(TicketMessage.id)).where(
            TicketMessage.tenant_id == message.tenant_id,
            TicketMessage.ticket_id == message.ticket_id,
            TicketMessage.author_kind == AuthorKind.CUSTOMER,
        )
    )
    return newest is not None and newest > message.id


async def _agent_replied(session: AsyncSession, ticket: Ticket) -> bool:
    """A person has written to the buyer in this conversation: from then on it is theirs."""
    replied = await session.scalar(
        select(TicketMessage.id)
        .where(
            TicketMessage.tenant_id == ticket.tenant_id,
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.author_kind == AuthorKind.AGENT,
            TicketMessage.internal.is_(False),
        )
        .limit(1)
    )
    return replied is not None


async def _open_turn(session: AsyncSession, message: TicketMessage) -> _Turn | None:
    """The turn this message ends, or None when it was handled already or the case is closed. The ticket is
    locked first (PostgreSQL), so that a turn the lane is answering right now is seen answered once it
    committed, never answered twice."""
    locked = (
        select(Ticket)
        .where(Ticket.tenant_id == message.tenant_id, Ticket.id == message.ticket_id)
        .execution_options(populate_existing=True)
    )
    if on_postgres(session):
        locked = locked.with_for_update()
    ticket = await session.scalar(locked)
    if ticket is None:
        return None
    if ticket.status is TicketStatus.CLOSED or ticket.merged_into_id is not None:
        return None
    conversation = await session.get(AssistantConversation, ticket.id)
    if conversation is None:
        conversation = AssistantConversation(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.id,
            state=ConversationState.ACTIVE,
            failed_turns=0,
            last_message_id=0,
            last_situation="",
            handoff={},
            updated_at=utcnow(),
        )
        session.add(conversation)
        await session.flush()
    if conversation.last_message_id >= message.id:
        return None  # a job run twice: answered already
    since = (
        await session.scalars(
            select(TicketMessage.body)
            .where(
                TicketMessage.tenant_id == ticket.tenant_id,
                TicketMessage.ticket_id == ticket.id,
                TicketMessage.author_kind == AuthorKind.CUSTOMER,
                TicketMessage.id > conversation.last_message_id,
                TicketMessage.id <= message.id,
            )
            .order_by(TicketMessage.id)
        )
    ).all()
    text = "\n".join(since)[-MAX_TURN_CHARS:] or message.body
    return _Turn(ticket, message, text, conversation)


async def _answer(
    session: AsyncSession,
    tenant: Tenant,
    settings: AssistantSettings,
    turn: _Turn,
    context: Context,
    now: datetime,
) -> AssistantDecision:
    assert turn.understood is not None and turn.entities is not None
    conversation, ticket = turn.conversation, turn.ticket
    conversation.last_message_id = turn.message.id
    conversation.updated_at = now
    if conversation.state is ConversationState.HANDED_OFF or await _agent_replied(session, ticket):
        await _release(session, ticket, now)
        return _decision(turn, Outcome.SILENT, reason="a person has this conversation")
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    order, given = await _order_of(session, turn, customer)
    if order is not None:  # which of the order's products the buyer means ("the lid of the kettle")
        lines = await orders.order_lines(session, order.tenant_id, order.id)
        catalog = [CatalogEntry(sku.code, (sku.title,)) for _, sku in lines]
        turn.entities = extract_entities(
            turn.text, lang=turn.understood.lang, today=now.date(), catalog=catalog
        )
    facts = TurnFacts(
        intent=turn.understood.intent,
        confidence=turn.understood.confidence,
        order=_facts(order) if order is not None else None,
        order_number_given=given,
        failed_turns=conversation.failed_turns,
        vip=settings.vip_tag in (ticket.tags or []),
        high_value=order is not None and order.total_minor >= settings.high_value_minor,
        last_situation=conversation.last_situation,
    )
    plan = plan_turn(facts)
    turn.values = _common_values(tenant, turn, customer, order)
    inputs: dict[str, Any] = {"order_number": order.number if order else given}
    provider = provider_for(tenant, context.sealer)
    if provider is not None and plan.handoff not in _PEOPLE_ONLY:
        answered = await _answer_with_model(session, provider, tenant, turn, customer, inputs, now)
        if answered is not None:
            return answered
    result: dict[str, Any] = {}
    outcome = Outcome.ANSWERED
    if plan.action is Action.ORDER_STATUS and order is not None:
        plan, result = await _order_status(session, turn, order, customer, plan)
    elif plan.action is Action.CANCEL_ORDER and order is not None:
        plan, result, outcome = await _cancel(session, turn, order, customer, plan)
    elif plan.action is Action.CHANGE_LINK and order is not None:
        plan, result = await _change_link(session, turn, order, customer, context, plan)
    elif plan.action is Action.SEARCH_KNOWLEDGE:
        plan, result = await _search(session, turn, customer, plan)
    return await _finish(
        session, turn, plan, customer, order, now, outcome=outcome, inputs=inputs, result=result
    )


async def _finish(
    session: AsyncSession,
    turn: _Turn,
    plan: Plan,
    customer: Customer,
    order: Order | None,
    now: datetime,
    *,
    outcome: Outcome,
    inputs: dict[str, Any],
    result: dict[str, Any],
) -> AssistantDecision:
    """Hand off if the plan says so, reply from the plan's template, and write the audit row."""
    conversation = turn.conversation
    conversation.failed_turns = conversation.failed_turns + 1 if plan.action is Action.CLARIFY else 0
    if plan.handoff is not None:
        await _hand_off(session, turn, plan, customer, order, now)
        outcome = Outcome.HANDED_OFF if outcome is Outcome.ANSWERED else outcome
    reply = await _reply(session, turn, plan, now)
    if plan.handoff is not None:
        await sla.do_start_handoff_clock(session, turn.ticket, now=now)
    conversation.last_situation = plan.situation
    decision = _decision(turn, outcome, plan=plan, inputs=inputs, result=result)
    decision.reply_message_id = reply.id
    return decision


async def _answer_with_model(
    session: AsyncSession,
    provider: ModelProvider,
    tenant: Tenant,
    turn: _Turn,
    customer: Customer,
    inputs: dict[str, Any],
    now: datetime,
) -> AssistantDecision | None:
    """The tenant's model answers, its tool calls checked by `ModelActions`; None when the provider fails
    or says nothing (the built-in path answers instead)."""
    assert turn.understood is not None
    actions = ModelActions(session, turn.ticket.tenant_id, customer.id, turn.understood.lang)
    history = await _history(session, turn.ticket)
    context = f"Buyer's orders mentioned: {inputs.get('order_number') or 'none'}"
    try:
        async with session.begin_nested():  # a provider failure mid-way undoes the actions it took
            answer = await answer_with_model(
                provider, actions, shop=tenant.name, history=history, context=context
            )
    except ProviderUnavailable as error:
        inputs["model_error"] = f"{error.reason}: {error.message}"[:300]
        return None
    finally:
        await provider.aclose()
    if not answer.text and answer.handoff_reason is None:
        return None
    decided_by = f"assistant:model:{provider.name}/{provider.model}"[:120]
    inputs["tool_calls"] = list(answer.calls)
    if answer.handoff_reason is not None:
        plan = Plan(Action.HANDOFF, "handoff.general", answer.handoff_reason, HandoffReason.NEEDS_APPROVAL)
        outcome = Outcome.REFUSED if answer.refused else Outcome.ANSWERED
        decision = await _finish(
            session, turn, plan, customer, None, now, outcome=outcome, inputs=inputs, result={}
        )
        decision.decided_by = decided_by
        return decision
    reply = await do_reply(
        session,
        turn.ticket,
        author=None,
        body=answer.text[:5_000],
        language=turn.understood.lang,
        status_after=None,
        author_kind=AuthorKind.ASSISTANT,
        now=now,
    )
    turn.ticket.assistant_active = True
    turn.conversation.failed_turns = 0
    turn.conversation.last_situation = "model"
    plan = Plan(Action.REPLY, "model", "answered by the tenant's model")
    decision = _decision(
        turn, Outcome.REFUSED if answer.refused else Outcome.ANSWERED, plan=plan, inputs=inputs
    )
    decision.decided_by = decided_by
    decision.reply_message_id = reply.id
    return decision


async def _history(session: AsyncSession, ticket: Ticket, limit: int = 12) -> list[tuple[str, str]]:
    rows = (
        await session.execute(
            select(TicketMessage.author_kind, TicketMessage.body)
            .where(
                TicketMessage.tenant_id == ticket.tenant_id,
                TicketMessage.ticket_id == ticket.id,
                TicketMessage.internal.is_(False),
            )
            .order_by(TicketMessage.id.desc())
            .limit(limit)
        )
    ).all()
    return [("user" if kind is AuthorKind.CUSTOMER else "assistant", body) for kind, body in reversed(rows)]


async def _change_link(
    session: AsyncSession, turn: _Turn, order: Order, customer: Customer, context: Context, plan: Plan
) -> tuple[Plan, dict[str, Any]]:
    until = (await order_policy(session, order.tenant_id)).release_due_at(as_utc(order.placed_at))
    if until is None:  # the window ends when the warehouse starts picking: no time to promise
        why = "the change window has no fixed end: a person checks with the warehouse"
        return Plan(Action.HANDOFF, "handoff.general", why, HandoffReason.NEEDS_APPROVAL), {"link": None}
    turn.values["change_link"] = _order_link(context, order)
    turn.values["change_until"] = _when(customer, turn, until, date_only=False)
    return plan, {"link": "sent", "until": until.isoformat()}


def _decision(
    turn: _Turn,
    outcome: Outcome,
    *,
    plan: Plan | None = None,
    reason: str = "",
    inputs: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> AssistantDecision:
    understood = turn.understood
    return AssistantDecision(
        tenant_id=turn.ticket.tenant_id,
        ticket_id=turn.ticket.id,
        message_id=turn.message.id,
        intent=understood.intent if understood else "",
        confidence=understood.confidence if understood else 0.0,
        language=understood.lang if understood else turn.message.language,
        entities=turn.entities.to_dict() if turn.entities else {},
        concepts=list(understood.concepts) if understood else [],
        decided_by=DECIDED_BY,
        action=plan.action.value if plan else "none",
        inputs=inputs or {},
        result=result or {},
        reason=plan.reason if plan else reason,
        outcome=outcome,
        situation=plan.situation if plan else "",
        created_at=utcnow(),
    )


# -- looking things up ---------------------------------------------------------------------------------------


async def _order_of(
    session: AsyncSession, turn: _Turn, customer: Customer
) -> tuple[Order | None, str | None]:
    """The order the turn is about: a number the buyer wrote (only their own orders), else the ticket's."""
    assert turn.entities is not None
    numbers = [mention.value for mention in turn.entities.order_numbers]
    for number in numbers:
        order = await session.scalar(
            select(Order).where(
                Order.tenant_id == turn.ticket.tenant_id,
                Order.customer_id == customer.id,
                func.upper(Order.number) == number.upper(),
            )
        )
        if order is not None:
            if turn.ticket.order_id is None:
                turn.ticket.order_id = order.id
            return order, number
    if turn.ticket.order_id is not None:
        return await session.get(Order, turn.ticket.order_id), numbers[0] if numbers else None
    return None, numbers[0] if numbers else None


def _facts(order: Order) -> OrderFacts:
    return OrderFacts(
        number=order.number,
        status=order.status.value,
        changeable=order.status in CHANGEABLE,
        total_minor=order.total_minor,
        currency=order.currency,
        placed_at=order.placed_at,
    )


async def _order_status(
    session: AsyncSession, turn: _Turn, order: Order, customer: Customer, plan: Plan
) -> tuple[Plan, dict[str, Any]]:
    allocations = await orders.order_allocations(session, order.tenant_id, order.id)
    parcels = await shipping.order_shipments(session, order.tenant_id, order.id, direction=Direction.OUTBOUND)
    etas = [as_utc(parcel.eta) for parcel in parcels if parcel.eta is not None]
    answer = wording.order_status_answer(
        status=order.status.value,
        placed_at=order.placed_at,
        released_at=order.released_at,
        updated_at=order.updated_at,
        warehouse=allocations[0][1].name if allocations else "",
        transit_days=max((allocation.transit_days or 0 for allocation, _, _ in allocations), default=0),
        when=lambda at: _when(customer, turn, at),
        tracked_eta=max(etas) if etas else None,
        tracked_shipped_at=min(as_utc(parcel.shipped_at) for parcel in parcels) if parcels else None,
    )
    if answer is None:
        return Plan(
            Action.HANDOFF,
            "handoff.general",
            "delivered: needs the carrier's record",
            HandoffReason.NEEDS_APPROVAL,
        ), {"status": order.status.value}
    situation, values, result = answer
    turn.values.update(values)
    return Plan(Action.ORDER_STATUS, situation, plan.reason), result


async def _cancel(
    session: AsyncSession, turn: _Turn, order: Order, customer: Customer, plan: Plan
) -> tuple[Plan, dict[str, Any], Outcome]:
    try:
        await order_changes.do_cancel_order(
            session, order, actor=ACTOR, reason="the buyer asked the assistant", actor_name="Assistant"
        )
    except DomainError as error:  # the policy said no (picked meanwhile): tell the buyer, hand over
        refused = Plan(Action.HANDOFF, "handoff.general", f"refused: {error}", HandoffReason.TOO_LATE)
        return refused, {"cancelled": False, "refused": str(error)}, Outcome.REFUSED
    turn.values["amount"] = _money(order.total_minor, order.currency, turn)
    return plan, {"cancelled": True, "status": order.status.value}, Outcome.ANSWERED


async def _search(
    session: AsyncSession, turn: _Turn, customer: Customer, plan: Plan
) -> tuple[Plan, dict[str, Any]]:
    from aftersail.assistant import knowledge  # the knowledge base's service (its own tables and search)

    assert turn.understood is not None
    hits = await knowledge.search_articles(
        session,
        turn.ticket.tenant_id,
        language=turn.understood.lang,
        query=turn.text,
        country=customer.country,
        limit=1,
    )
    decided = plan_after_search(turn.understood.intent, bool(hits))
    if hits:
        hit = hits[0]
        turn.values.update(
            article_title=hit.title,
            article_excerpt=hit.excerpt,
            article_url=hit.url or "",
            country=customer.country,
        )
        return decided, {"article_id": hit.article_id, "title": hit.title}
    return decided, {"article_id": None}


# -- handing over --------------------------------------------------------------------------------------------


async def _hand_off(
    session: AsyncSession, turn: _Turn, plan: Plan, customer: Customer, order: Order | None, now: datetime
) -> None:
    """A person takes the case: priority raised when urgent, a team (and an agent if one is free), the
    buyer's language on the ticket, a summary for whoever opens it, and the reply-by time the buyer is
    told."""
    assert turn.understood is not None and plan.handoff is not None
    ticket, conversation = turn.ticket, turn.conversation
    if plan.urgent and ticket.priority in _URGENT:
        await tickets.do_set_priority(session, ticket, _URGENT[ticket.priority], actor=ACTOR)
    if turn.understood.lang != ticket.language:
        ticket.language = turn.understood.lang
    await routing.do_route_ticket(session, ticket, actor=ACTOR, now=now)
    reply_by = await sla.handoff_due(session, ticket, now=now)
    turn.values["reply_by"] = _when(customer, turn, reply_by, date_only=False)
    conversation.state = ConversationState.HANDED_OFF
    conversation.reply_by = reply_by
    ticket.assistant_active = False  # people's clocks run again (`do_start_handoff_clock` after the reply)
    conversation.handoff = {
        "reason": plan.handoff.value,
        "why": plan.reason,
        "intent": turn.understood.intent,
        "confidence": turn.understood.confidence,
        "language": turn.understood.lang,
        "entities": turn.entities.to_dict() if turn.entities else {},
        "order": order.number if order else None,
        "tried": conversation.last_situation or "",
        "sentiment": sentiment(turn.understood.concepts, turn.understood.intent),
        "buyer_said": turn.text[:500],
        "reply_by": reply_by.isoformat(),
        "priority": ticket.priority.value,
    }
    await do_reply(
        session,
        ticket,
        author=None,
        body=handoff_note(conversation.handoff),
        language="en",
        internal=True,
        status_after=None,
        author_kind=AuthorKind.ASSISTANT,
        now=now,
    )


def _utc_text(iso: str) -> str:
    try:
        return f"{as_utc(datetime.fromisoformat(iso)):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return iso


def sentiment(concepts: Sequence[str], intent: str) -> str:
    if intent == "complaint" or _NEGATIVE & set(concepts):
        return "negative"
    if intent == "thanks" or _POSITIVE & set(concepts):
        return "positive"
    return "neutral"


def handoff_note(summary: dict[str, Any]) -> str:
    """The internal note agents read first: what the buyer wants and what was done, so nobody asks again."""
    entities = summary.get("entities") or {}
    found = ", ".join(
        f"{kind}: {', '.join(str(item.get('value', item)) for item in items)}"
        for kind, items in entities.items()
        if isinstance(items, list) and items
    )
    lines = [
        f"Assistant hand-off ({summary['reason']}): {summary['why']}.",
        f"Intent: {summary['intent']} ({summary['confidence']:.2f}) · language: {summary['language']}"
        f" · sentiment: {summary['sentiment']} · priority: {summary['priority']}",
        f"Order: {summary['order'] or 'not identified'}" + (f" · found: {found}" if found else ""),
        f"Tried before: {summary['tried'] or 'nothing'}"
        f" · buyer told a person replies by {_utc_text(summary['reply_by'])}",
        f"Buyer said: {summary['buyer_said']}",
    ]
    return "\n".join(lines)


# -- replying ------------------------------------------------------------------------------------------------


async def _reply(session: AsyncSession, turn: _Turn, plan: Plan, now: datetime) -> TicketMessage:
    assert turn.understood is not None
    values = {name: turn.values.get(name, "") for name in replies.needed(plan.situation)}
    reply = replies.render(plan.situation, turn.understood.lang, values)
    if plan.handoff is None:
        # The assistant holds the conversation: open, no clock at the buyer's next message (ADR 0018).
        turn.ticket.assistant_active = True
    return await do_reply(
        session,
        turn.ticket,
        author=None,
        body=reply.text,
        language=reply.lang,
        status_after=TicketStatus.OPEN,
        author_kind=AuthorKind.ASSISTANT,
        now=now,
    )


async def do_release_messages(
    session: AsyncSession, tenant_id: int, message_ids: Sequence[int], *, now: datetime | None = None
) -> None:
    """The assistant is off for the tenant: the cases of these buyer messages it still held (switched off
    a moment ago) go to people."""
    now = now or utcnow()
    held = (
        await session.scalars(
            select(Ticket).where(
                Ticket.tenant_id == tenant_id,
                Ticket.assistant_active.is_(True),
                Ticket.id.in_(
                    select(TicketMessage.ticket_id).where(
                        TicketMessage.tenant_id == tenant_id, TicketMessage.id.in_(list(message_ids))
                    )
                ),
            )
        )
    ).all()
    for ticket in held:
        await _release(session, ticket, now)


async def do_release_all(session: AsyncSession, tenant_id: int, *, now: datetime | None = None) -> int:
    """The tenant switched the assistant off: every case it held goes to people. Returns how many."""
    now = now or utcnow()
    held = (
        await session.scalars(
            select(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.assistant_active.is_(True))
        )
    ).all()
    for ticket in held:
        await _release(session, ticket, now)
    return len(held)


async def count_held_cases(session: AsyncSession, tenant_id: int) -> int:
    """Cases the assistant answers now (not closed ones: closing ends the conversation)."""
    held = await session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.tenant_id == tenant_id,
            Ticket.assistant_active.is_(True),
            Ticket.status != TicketStatus.CLOSED,
        )
    )
    return int(held or 0)


async def _release(session: AsyncSession, ticket: Ticket, now: datetime) -> None:
    """The assistant will not answer this case any more (a person has it, or the buyer's message is too old
    to answer automatically): if it held the case, people's next-response clock starts now."""
    if ticket.assistant_active and ticket.status is not TicketStatus.CLOSED:
        ticket.assistant_active = False
        await sla.do_start_handoff_clock(session, ticket, now=now)


def _common_values(tenant: Tenant, turn: _Turn, customer: Customer, order: Order | None) -> dict[str, Any]:
    return wording.common_values(
        shop_name=tenant.name, order_number=order.number if order else None, body=turn.message.body
    )


def _order_link(context: Context, order: Order) -> str:
    token = context.links.sign(BuyerGrant(order.tenant_id, LinkScope.ORDER, order.id))
    return f"{context.base_url}/o/{token}"


def _when(customer: Customer, turn: _Turn, at: datetime, *, date_only: bool = True) -> str:
    """`at` in the buyer's time zone and language."""
    assert turn.understood is not None
    return wording.local_when(at, zone=customer.time_zone, lang=turn.understood.lang, date_only=date_only)


def _money(minor: int, currency: str, turn: _Turn) -> str:
    assert turn.understood is not None
    exponent = 0 if currency in ("JPY", "KRW") else 2
    return format_currency(minor / 10**exponent, currency, locale=turn.understood.lang)
