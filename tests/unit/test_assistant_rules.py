"""The assistant's turn rules: when it answers, acts, asks, or hands the case to a person, and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aftersail.assistant.rules import (
    ACTION_CONFIDENCE,
    ASK_RETURN_REASON,
    LOW_CONFIDENCE,
    Action,
    HandoffReason,
    OrderFacts,
    TurnFacts,
    order_situation,
    plan_after_search,
    plan_turn,
)

PLACED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def order(status: str = "allocated", *, changeable: bool = True, total: int = 4_999) -> OrderFacts:
    return OrderFacts("A10023", status, changeable, total, "EUR", PLACED)


def turn(intent: str, confidence: float = 0.95, **changes: object) -> TurnFacts:
    facts: dict[str, object] = {"order": order(), "order_number_given": "A10023"}
    facts.update(changes)
    return TurnFacts(intent=intent, confidence=confidence, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("intent", "situation", "reason"),
    [
        ("complaint", "handoff.complaint", HandoffReason.COMPLAINT),
        ("human_agent", "handoff.person", HandoffReason.ASKED_FOR_PERSON),
        ("damaged_item", "item_problem.ask_photos", HandoffReason.NEEDS_APPROVAL),
        ("delivered_not_received", "handoff.general", HandoffReason.NEEDS_APPROVAL),
        ("refund_status", "refund_status.none", HandoffReason.NEEDS_APPROVAL),
    ],
)
def test_cases_a_person_decides_are_handed_off(intent: str, situation: str, reason: HandoffReason) -> None:
    plan = plan_turn(turn(intent))
    assert (plan.action, plan.situation, plan.handoff) == (Action.HANDOFF, situation, reason)
    assert plan.reason


def test_a_complaint_is_urgent_even_when_the_model_is_unsure() -> None:
    plan = plan_turn(turn("complaint", confidence=0.3))
    assert plan.handoff is HandoffReason.COMPLAINT and plan.urgent


def test_low_confidence_asks_once_then_hands_off() -> None:
    first = plan_turn(turn("order_status", confidence=LOW_CONFIDENCE - 0.01))
    assert (first.action, first.situation) == (Action.CLARIFY, "clarify")
    second = plan_turn(turn("order_status", confidence=0.2, failed_turns=1))
    assert second.handoff is HandoffReason.NOT_UNDERSTOOD


def test_vip_buyers_and_high_value_claims_go_to_a_person() -> None:
    assert plan_turn(turn("order_status", vip=True)).handoff is HandoffReason.VIP
    assert plan_turn(turn("thanks", vip=True)).action is Action.REPLY  # a thank-you needs nobody
    assert plan_turn(turn("return_request", high_value=True)).handoff is HandoffReason.HIGH_VALUE
    assert (
        plan_turn(turn("order_status", high_value=True)).action is Action.ORDER_STATUS
    )  # asking costs nothing


@pytest.mark.parametrize("intent", ["return_request", "exchange_request"])
def test_a_return_starts_with_its_reason_asked_in_the_chat_then_a_person_decides(intent: str) -> None:
    asked = plan_turn(turn(intent))
    assert (asked.action, asked.situation, asked.handoff) == (Action.REPLY, ASK_RETURN_REASON, None)
    # Whatever the answer sounds like to the model ("too small" may read as a product question), it is
    # the reason: the case goes to a person with it.
    for answer, confidence in (("product_question", 0.9), ("wrong_item", 0.7), ("other", 0.2)):
        given = plan_turn(turn(answer, confidence, last_situation=ASK_RETURN_REASON))
        assert (given.situation, given.handoff) == ("return_request.collected", HandoffReason.NEEDS_APPROVAL)
    closing = plan_turn(turn("thanks", last_situation=ASK_RETURN_REASON))  # "never mind, thanks"
    assert closing.situation == "thanks.close" and closing.handoff is None
    angry = plan_turn(turn("complaint", last_situation=ASK_RETURN_REASON))
    assert angry.handoff is HandoffReason.COMPLAINT
    without_order = plan_turn(turn(intent, order=None, order_number_given=None))
    assert without_order.situation == "order_status.need_order"


def test_an_order_is_needed_to_act_on_one() -> None:
    missing = plan_turn(turn("order_status", order=None, order_number_given=None))
    assert (missing.action, missing.situation) == (Action.CLARIFY, "order_status.need_order")
    unknown = plan_turn(turn("cancel_order", order=None, order_number_given="ZZ-1"))
    assert unknown.situation == "order_status.not_found"
    claim = plan_turn(turn("wrong_item", order=None, order_number_given=None))
    assert claim.situation == "item_problem.need_order" and claim.handoff is None


def test_cancelling_only_in_the_cooling_off_window_and_only_when_sure() -> None:
    assert plan_turn(turn("cancel_order")).action is Action.CANCEL_ORDER
    late = plan_turn(turn("cancel_order", order=order("shipped", changeable=False)))
    assert (late.action, late.handoff) == (Action.HANDOFF, HandoffReason.TOO_LATE)
    unsure = plan_turn(turn("cancel_order", confidence=ACTION_CONFIDENCE - 0.05))
    assert unsure.action is Action.HANDOFF and unsure.handoff is HandoffReason.NEEDS_APPROVAL


def test_changes_are_offered_as_a_link_while_possible() -> None:
    assert plan_turn(turn("change_order")).action is Action.CHANGE_LINK
    too_late = plan_turn(turn("change_order", order=order("released", changeable=False)))
    assert (too_late.situation, too_late.handoff) == ("change_order.too_late", HandoffReason.TOO_LATE)


def test_questions_go_to_the_knowledge_base_and_to_a_person_when_it_has_nothing() -> None:
    assert plan_turn(turn("customs_duties")).action is Action.SEARCH_KNOWLEDGE
    assert plan_after_search("customs_duties", True).situation == "customs_duties.article"
    assert plan_after_search("usage_help", True).situation == "usage_help.article"
    assert plan_after_search("product_question", True).situation == "product_question.article"
    none = plan_after_search("usage_help", False)
    assert (none.situation, none.handoff) == ("knowledge.none", HandoffReason.NO_ANSWER)


def test_order_status_situations() -> None:
    assert order_situation("shipped") == "order_status.shipped"
    assert order_situation("delivered") == "order_status.delivered"
    assert order_situation("allocated") == "order_status.not_shipped"
    assert plan_turn(turn("thanks")).situation == "thanks.close"
    assert plan_turn(turn("other")).situation == "other.greeting"
