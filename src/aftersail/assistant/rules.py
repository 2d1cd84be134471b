"""What the assistant does with one buyer turn: pure rules over what it understood and what it looked up.

The assistant proposes, the policy decides (DESIGN rule 9): every branch here either answers from facts the
services returned, calls an action the same services guard, or hands the conversation to a person. A rule
that hands off says why, in `Plan.reason`, and the reason is kept in the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aftersail.assistant.intents import Intent

# Below this the assistant asks what the buyer means instead of acting on a guess.
LOW_CONFIDENCE = 0.5
# Acting on an order (cancelling it) needs more certainty than answering about it.
ACTION_CONFIDENCE = 0.8
# Clarifications in a row before a person takes over ("two turns failed").
MAX_FAILED_TURNS = 2
# A return starts in the chat: the assistant asks why (and for photos), the next turn hands it to people.
ASK_RETURN_REASON = "return_request.ask_reason"


class Action(StrEnum):
    REPLY = "reply"  # a reply from the template alone
    ORDER_STATUS = "order_status"
    CANCEL_ORDER = "cancel_order"
    CHANGE_LINK = "change_link"
    SEARCH_KNOWLEDGE = "search_knowledge"
    CLARIFY = "clarify"
    HANDOFF = "handoff"


class HandoffReason(StrEnum):
    COMPLAINT = "complaint"
    ASKED_FOR_PERSON = "asked_for_person"
    NOT_UNDERSTOOD = "not_understood"  # two turns failed
    HIGH_VALUE = "high_value"
    VIP = "vip"
    NEEDS_APPROVAL = "needs_approval"  # a claim, a refund, a return: a person decides
    NO_ANSWER = "no_answer"  # nothing in the knowledge base
    TOO_LATE = "too_late"  # the order left the cooling-off window


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The order the turn is about, as the orders service sees it."""

    number: str
    status: str  # OrderStatus value
    changeable: bool  # still in the cooling-off window
    total_minor: int
    currency: str
    placed_at: datetime


@dataclass(frozen=True, slots=True)
class TurnFacts:
    intent: str
    confidence: float
    order: OrderFacts | None
    order_number_given: str | None  # what the buyer wrote, found or not
    failed_turns: int = 0
    vip: bool = False
    high_value: bool = False  # the order's total is at or above the tenant's threshold
    last_situation: str = ""  # what the assistant said last in this conversation


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    situation: str  # the reply template
    reason: str  # the rule that decided, in words (kept in the audit)
    handoff: HandoffReason | None = None
    urgent: bool = False  # raise the ticket's priority when handing off


_ITEM_PROBLEMS = {
    Intent.DAMAGED_ITEM.value,
    Intent.WRONG_ITEM.value,
    Intent.MISSING_ITEM.value,
    Intent.DEFECTIVE.value,
}
_NEEDS_ORDER = {
    Intent.ORDER_STATUS.value,
    Intent.CANCEL_ORDER.value,
    Intent.CHANGE_ORDER.value,
    Intent.RETURN_REQUEST.value,
    Intent.EXCHANGE_REQUEST.value,
}
_RETURNS = {Intent.RETURN_REQUEST.value, Intent.EXCHANGE_REQUEST.value}
_KNOWLEDGE = {Intent.USAGE_HELP.value, Intent.PRODUCT_QUESTION.value, Intent.CUSTOMS_DUTIES.value}
_MONEY_AT_STAKE = _ITEM_PROBLEMS | {
    Intent.DELIVERED_NOT_RECEIVED.value,
    Intent.RETURN_REQUEST.value,
    Intent.EXCHANGE_REQUEST.value,
    Intent.REFUND_STATUS.value,
    Intent.CANCEL_ORDER.value,
}


def _handoff(situation: str, reason: HandoffReason, why: str, *, urgent: bool = False) -> Plan:
    return Plan(Action.HANDOFF, situation, why, reason, urgent)


def plan_turn(facts: TurnFacts) -> Plan:
    """The first decision for a turn. For `SEARCH_KNOWLEDGE` the service searches and calls
    `plan_after_search`; every other plan is final."""
    intent = facts.intent
    if intent == Intent.COMPLAINT.value:
        return _handoff("handoff.complaint", HandoffReason.COMPLAINT, "the buyer is complaining", urgent=True)
    if intent == Intent.HUMAN_AGENT.value:
        return _handoff("handoff.person", HandoffReason.ASKED_FOR_PERSON, "the buyer asked for a person")
    if facts.last_situation == ASK_RETURN_REASON and not (
        intent == Intent.THANKS.value and facts.confidence >= LOW_CONFIDENCE
    ):
        # Whatever the reason sounds like ("too small", "the colour is off"), it answers the question asked.
        return _handoff(
            "return_request.collected", HandoffReason.NEEDS_APPROVAL, "return reason given: a person decides"
        )
    if facts.confidence < LOW_CONFIDENCE:
        if facts.failed_turns + 1 >= MAX_FAILED_TURNS:
            return _handoff(
                "handoff.general",
                HandoffReason.NOT_UNDERSTOOD,
                f"not understood {MAX_FAILED_TURNS} turns in a row",
            )
        return Plan(Action.CLARIFY, "clarify", f"confidence {facts.confidence:.2f} < {LOW_CONFIDENCE}")
    if facts.vip and intent not in (Intent.THANKS.value, Intent.OTHER.value):
        return _handoff("handoff.general", HandoffReason.VIP, "VIP buyers are served by a person")
    if facts.high_value and intent in _MONEY_AT_STAKE:
        return _handoff("handoff.general", HandoffReason.HIGH_VALUE, "high-value order with money at stake")
    if intent == Intent.THANKS.value:
        return Plan(Action.REPLY, "thanks.close", "the buyer is closing the conversation")
    if intent == Intent.OTHER.value:
        return Plan(Action.REPLY, "other.greeting", "greeting or unrelated: offer what the assistant can do")
    if intent in _KNOWLEDGE:
        return Plan(Action.SEARCH_KNOWLEDGE, "", "a question the knowledge base may answer")
    if intent in _ITEM_PROBLEMS:
        if facts.order is None:
            return Plan(Action.CLARIFY, "item_problem.need_order", "a claim needs the order")
        return _handoff(
            "item_problem.ask_photos", HandoffReason.NEEDS_APPROVAL, "a claim is decided by a person"
        )
    if intent in _NEEDS_ORDER and facts.order is None:
        if facts.order_number_given:
            return Plan(Action.CLARIFY, "order_status.not_found", "no such order for this buyer")
        return Plan(Action.CLARIFY, "order_status.need_order", "the order is needed to act")
    if intent == Intent.ORDER_STATUS.value:
        return Plan(Action.ORDER_STATUS, "", "order status from the orders service")
    if intent == Intent.CANCEL_ORDER.value:
        return _plan_cancel(facts)
    if intent in _RETURNS:  # no returns page yet to link to: the reason and photos are collected here
        return Plan(Action.REPLY, ASK_RETURN_REASON, "a return starts with its reason")
    if intent == Intent.CHANGE_ORDER.value:
        assert facts.order is not None
        if facts.order.changeable:
            return Plan(
                Action.CHANGE_LINK, "change_order.link", "in the cooling-off window: the buyer changes it"
            )
        return _handoff("change_order.too_late", HandoffReason.TOO_LATE, "past the cooling-off window")
    if intent == Intent.REFUND_STATUS.value and facts.order is not None:
        return _handoff("refund_status.none", HandoffReason.NEEDS_APPROVAL, "refunds are checked by a person")
    # delivered-not-received, returns, exchanges, refunds without an order: a person takes the case.
    return _handoff("handoff.general", HandoffReason.NEEDS_APPROVAL, f"{intent} is decided by a person")


def _plan_cancel(facts: TurnFacts) -> Plan:
    order = facts.order
    assert order is not None
    if not order.changeable:
        return _handoff(
            "handoff.general", HandoffReason.TOO_LATE, "past the cooling-off window: cannot cancel"
        )
    if facts.confidence < ACTION_CONFIDENCE:
        return _handoff(
            "handoff.general",
            HandoffReason.NEEDS_APPROVAL,
            f"cancelling needs confidence ≥ {ACTION_CONFIDENCE} (was {facts.confidence:.2f})",
        )
    return Plan(Action.CANCEL_ORDER, "cancel_order.done", "in the cooling-off window: cancelled as asked")


def plan_after_search(intent: str, found: bool) -> Plan:
    if found:
        situation = {
            Intent.USAGE_HELP.value: "usage_help.article",
            Intent.CUSTOMS_DUTIES.value: "customs_duties.article",
        }.get(intent, "product_question.article")
        return Plan(Action.SEARCH_KNOWLEDGE, situation, "answered from the knowledge base")
    return _handoff("knowledge.none", HandoffReason.NO_ANSWER, "no article answers it")


def order_situation(status: str) -> str:
    """The order-status reply for an order in `status` (an OrderStatus value)."""
    if status == "delivered":
        return "order_status.delivered"
    if status == "shipped":
        return "order_status.shipped"
    return "order_status.not_shipped"
