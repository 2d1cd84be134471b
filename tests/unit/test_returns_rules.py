"""The returns policy table, case by case: windows per market and category (EU never under 14 days),
non-returnable categories, evidence per reason, who pays the way back, restocking fees, when a person
reviews, and the return state machine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aftersail.kit.errors import IllegalTransition
from aftersail.returns.rules import (
    Evidence,
    Outcome,
    Payer,
    Reason,
    Resolution,
    ReturnFacts,
    ReturnLine,
    ReturnPolicy,
    ReturnStatus,
    decide_return,
    freight_payer,
    transition,
    window_days,
)

DELIVERED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
POLICY = ReturnPolicy(window_days=7, market_days={"US": 30}, category_days={"electronics": 20})


def line(
    category: str = "apparel", *, quantity: int = 1, delivered: int = 1, price: int = 2_999
) -> ReturnLine:
    return ReturnLine(1, "TEE-M", category, quantity, delivered, price)


def facts(days_after: int = 3, **changes: object) -> ReturnFacts:
    base = ReturnFacts(
        market="DE",
        delivered_at=DELIVERED,
        requested_at=DELIVERED + timedelta(days=days_after),
        reason=Reason.DOES_NOT_FIT,
        resolution=Resolution.REFUND,
        lines=(line(),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("market", "category", "days"),
    [
        ("DE", "apparel", 14),  # the policy says 7: an EU buyer still gets 14
        ("FR", "electronics", 20),  # the category's longer window
        ("US", "apparel", 30),  # the market's
        ("AE", "apparel", 7),  # the default, outside the EU
        ("JP", "electronics", 20),
        ("de", "apparel", 14),  # a lower-case country code is the same market
    ],
)
def test_the_window_is_the_longest_that_applies_and_never_under_14_days_in_the_eu(
    market: str, category: str, days: int
) -> None:
    assert window_days(POLICY, market, category) == days


def test_a_change_of_mind_inside_the_window_is_approved_and_the_buyer_pays_the_way_back() -> None:
    decided = decide_return(POLICY, facts(days_after=13, reason=Reason.CHANGED_MIND))
    assert (decided.outcome, decided.rule) == (Outcome.AUTO_APPROVED, "auto_approve")
    assert decided.freight_payer is Payer.BUYER and decided.refund_minor == 2_999
    assert decided.window_ends_at == DELIVERED + timedelta(days=14)


def test_after_the_window_a_change_of_mind_is_refused_but_a_fault_is_not() -> None:
    late = decide_return(POLICY, facts(days_after=15, reason=Reason.CHANGED_MIND))
    assert late.outcome is Outcome.REJECTED and "window ended 2026-11-16" in late.reason
    faulty = decide_return(
        POLICY, facts(days_after=40, reason=Reason.DEFECTIVE, evidence=frozenset({Evidence.PHOTO}))
    )
    assert faulty.outcome is Outcome.AUTO_APPROVED and faulty.freight_payer is Payer.SELLER


@pytest.mark.parametrize(
    ("reason", "payer"),
    [
        (Reason.DAMAGED, Payer.SELLER),
        (Reason.WRONG_ITEM, Payer.SELLER),
        (Reason.NOT_AS_DESCRIBED, Payer.SELLER),
        (Reason.MISSING_PARTS, Payer.SELLER),
        (Reason.DEFECTIVE, Payer.SELLER),
        (Reason.CHANGED_MIND, Payer.BUYER),
        (Reason.DOES_NOT_FIT, Payer.BUYER),
        (Reason.ARRIVED_LATE, Payer.BUYER),
    ],
)
def test_the_seller_pays_the_way_back_when_the_fault_is_theirs(reason: Reason, payer: Payer) -> None:
    assert freight_payer(POLICY, reason) is payer
    assert freight_payer(replace(POLICY, insured_reverse_freight=True), reason) is Payer.SELLER


def test_hygiene_goods_come_back_only_when_faulty() -> None:
    opened = decide_return(POLICY, facts(lines=(line("hygiene"),)))
    assert opened.outcome is Outcome.REJECTED and "hygiene" in opened.reason
    broken = decide_return(
        POLICY,
        facts(lines=(line("hygiene"),), reason=Reason.DEFECTIVE, evidence=frozenset({Evidence.PHOTO})),
    )
    assert broken.outcome is Outcome.AUTO_APPROVED


def test_a_claim_without_its_photo_goes_to_a_person_who_asks_for_it() -> None:
    decided = decide_return(POLICY, facts(reason=Reason.DAMAGED))
    assert (decided.outcome, decided.rule) == (Outcome.MANUAL_REVIEW, "evidence_missing")
    assert decided.missing_evidence == frozenset({Evidence.PHOTO})


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {"reused_photo": True, "reason": Reason.DAMAGED, "evidence": frozenset({Evidence.PHOTO})},
            "reused_photo",
        ),
        ({"returns_last_180_days": 3}, "repeat_returner"),
        ({"lines": (line(price=25_000),)}, "high_value"),
    ],
)
def test_signals_and_value_send_a_request_to_a_person_not_to_a_refusal(
    changes: dict[str, object], rule: str
) -> None:
    decided = decide_return(POLICY, facts(**changes))
    assert (decided.outcome, decided.rule) == (Outcome.MANUAL_REVIEW, rule)


def test_quantities_beyond_what_was_delivered_and_undelivered_orders_are_refused() -> None:
    too_many = decide_return(POLICY, facts(lines=(line(quantity=3, delivered=2),)))
    assert too_many.outcome is Outcome.REJECTED and "quantity 3 of 2 delivered" in too_many.reason
    assert decide_return(POLICY, facts(lines=(line(quantity=0),))).outcome is Outcome.REJECTED
    early = decide_return(POLICY, facts(delivered_at=None))
    assert early.outcome is Outcome.REJECTED and "not delivered" in early.reason


def test_a_restocking_fee_applies_only_to_a_change_of_mind() -> None:
    with_fee = replace(POLICY, restocking_fee_percent=10)
    mind = decide_return(with_fee, facts(reason=Reason.CHANGED_MIND, lines=(line(quantity=2, delivered=2),)))
    assert mind.lines[0].restocking_fee_minor == 599 and mind.refund_minor == 5_998 - 599
    fit = decide_return(with_fee, facts(reason=Reason.DOES_NOT_FIT))
    assert fit.lines[0].restocking_fee_minor == 0 and fit.refund_minor == 2_999


def test_one_eligible_line_is_enough_and_each_line_keeps_its_reason() -> None:
    mixed = (line("apparel"), ReturnLine(2, "SOAP", "hygiene", 1, 1, 899))
    decided = decide_return(POLICY, facts(lines=mixed))
    assert decided.outcome is Outcome.AUTO_APPROVED and decided.refund_minor == 2_999
    assert [(d.order_line_id, d.eligible) for d in decided.lines] == [(1, True), (2, False)]


def test_the_return_state_machine_refuses_illegal_moves_by_name() -> None:
    assert transition(ReturnStatus.REQUESTED, ReturnStatus.APPROVED) is ReturnStatus.APPROVED
    assert transition(ReturnStatus.GRADED, ReturnStatus.REFUNDED) is ReturnStatus.REFUNDED
    with pytest.raises(IllegalTransition, match="'requested' to 'refunded'"):
        transition(ReturnStatus.REQUESTED, ReturnStatus.REFUNDED)
    with pytest.raises(IllegalTransition):
        transition(ReturnStatus.CLOSED, ReturnStatus.REQUESTED)
