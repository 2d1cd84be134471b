"""Pure rules of returns: the reason taxonomy, the seller's policy per market and category, the decision a
request gets (with the rule that made it), and the return state machine. Plain data in, plain data out; no
I/O (tests/unit/test_returns_rules.py). Money is integer minor units in the order's currency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from aftersail.kit.errors import IllegalTransition

# Markets whose law gives buyers at least 14 days from delivery to withdraw from a distance sale.
EU_MARKETS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
EU_MINIMUM_DAYS = 14


class Reason(StrEnum):
    DOES_NOT_FIT = "does_not_fit"
    NOT_AS_DESCRIBED = "not_as_described"
    DAMAGED = "damaged"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    MISSING_PARTS = "missing_parts"
    CHANGED_MIND = "changed_mind"
    ARRIVED_LATE = "arrived_late"
    OTHER = "other"


SUB_REASONS: dict[Reason, tuple[str, ...]] = {
    Reason.DOES_NOT_FIT: ("too_small", "too_large", "too_long", "too_short"),
    Reason.NOT_AS_DESCRIBED: ("colour", "material", "size_chart", "photos", "function"),
    Reason.DAMAGED: ("in_transit", "packaging", "cosmetic"),
    Reason.DEFECTIVE: ("dead_on_arrival", "stopped_working", "battery", "charging"),
    Reason.WRONG_ITEM: ("wrong_product", "wrong_size", "wrong_colour"),
    Reason.MISSING_PARTS: ("accessory", "manual", "part_of_set"),
    Reason.CHANGED_MIND: ("no_longer_needed", "found_cheaper", "ordered_twice"),
    Reason.ARRIVED_LATE: (),
    Reason.OTHER: (),
}
# The seller's fault: the seller pays the way back and never charges a restocking fee.
SELLER_FAULT = frozenset(
    {Reason.NOT_AS_DESCRIBED, Reason.DAMAGED, Reason.DEFECTIVE, Reason.WRONG_ITEM, Reason.MISSING_PARTS}
)


class Resolution(StrEnum):
    REFUND = "refund"
    EXCHANGE = "exchange"
    STORE_CREDIT = "store_credit"
    REPLACEMENT = "replacement"
    REPAIR = "repair"


class Evidence(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"


class Outcome(StrEnum):
    AUTO_APPROVED = "auto_approved"
    MANUAL_REVIEW = "manual_review"  # a person decides; the buyer is told when
    REJECTED = "rejected"


class Payer(StrEnum):
    SELLER = "seller"
    BUYER = "buyer"


# --- the seller's policy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """Per tenant. Windows in days from delivery: `window_days` by default, `market_days[country]`,
    `category_days[category]`; the longest that applies wins, and an EU market never gets less than 14."""

    window_days: int = 30
    market_days: Mapping[str, int] = field(default_factory=dict)
    category_days: Mapping[str, int] = field(default_factory=dict)
    non_returnable: frozenset[str] = frozenset({"hygiene", "opened_cosmetics", "custom_made"})
    evidence: Mapping[Reason, frozenset[Evidence]] = field(
        default_factory=lambda: {
            Reason.DAMAGED: frozenset({Evidence.PHOTO}),
            Reason.DEFECTIVE: frozenset({Evidence.PHOTO}),
            Reason.WRONG_ITEM: frozenset({Evidence.PHOTO}),
            Reason.MISSING_PARTS: frozenset({Evidence.PHOTO}),
            Reason.NOT_AS_DESCRIBED: frozenset({Evidence.PHOTO}),
        }
    )
    auto_approve_up_to_minor: int = 20_000  # a request worth more is reviewed by a person
    repeat_returner_after: int = 3  # returns in the last 180 days from which a person reviews
    restocking_fee_percent: int = 0  # of the refunded lines, only when the buyer changed their mind
    insured_reverse_freight: bool = False  # return-shipping insurance pays the buyer's way back


@dataclass(frozen=True, slots=True)
class ReturnLine:
    order_line_id: int
    sku: str
    category: str
    quantity: int  # asked for
    delivered_quantity: int
    unit_price_minor: int


@dataclass(frozen=True, slots=True)
class ReturnFacts:
    """What the decision looks at: the request, the order, the buyer's history and the evidence sent."""

    market: str  # ISO country of delivery
    delivered_at: datetime | None  # None: not delivered yet
    requested_at: datetime
    reason: Reason
    resolution: Resolution
    lines: Sequence[ReturnLine]
    evidence: frozenset[Evidence] = frozenset()
    returns_last_180_days: int = 0
    reused_photo: bool = False  # a photo fingerprint seen on another case


@dataclass(frozen=True, slots=True)
class LineDecision:
    order_line_id: int
    eligible: bool
    why: str  # the rule, in words
    refund_minor: int = 0
    restocking_fee_minor: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    rule: str  # the rule that decided (kept with the return)
    reason: str  # in words, for the audit and the agent
    window_ends_at: datetime | None
    lines: tuple[LineDecision, ...]
    freight_payer: Payer
    refund_minor: int  # what the eligible lines refund, fees deducted
    missing_evidence: frozenset[Evidence] = frozenset()


def window_days(policy: ReturnPolicy, market: str, category: str) -> int:
    days = max(
        policy.window_days,
        policy.market_days.get(market.upper(), 0),
        policy.category_days.get(category, 0),
    )
    return max(days, EU_MINIMUM_DAYS) if market.upper() in EU_MARKETS else days


def freight_payer(policy: ReturnPolicy, reason: Reason) -> Payer:
    """The seller pays the way back when the fault is theirs, or when the buyer's return is insured."""
    if reason in SELLER_FAULT or policy.insured_reverse_freight:
        return Payer.SELLER
    return Payer.BUYER


def decide_return(policy: ReturnPolicy, facts: ReturnFacts) -> Decision:
    """The policy's decision on a return request, line by line, and for the request as a whole."""
    lines = tuple(_decide_line(policy, facts, line) for line in facts.lines)
    eligible = [line for line in lines if line.eligible]
    ends = _window_end(policy, facts)
    refund = sum(line.refund_minor - line.restocking_fee_minor for line in eligible)
    payer = freight_payer(policy, facts.reason)
    missing = policy.evidence.get(facts.reason, frozenset()) - facts.evidence

    def decided(outcome: Outcome, rule: str, reason: str) -> Decision:
        return Decision(outcome, rule, reason, ends, lines, payer, refund, missing)

    if not eligible:
        first = lines[0].why if lines else "nothing asked for"
        return decided(Outcome.REJECTED, "no_eligible_line", first)
    if missing:
        names = ", ".join(sorted(missing))
        return decided(Outcome.MANUAL_REVIEW, "evidence_missing", f"{facts.reason} needs {names}")
    if facts.reused_photo:
        return decided(Outcome.MANUAL_REVIEW, "reused_photo", "a photo was seen on another case")
    if facts.returns_last_180_days >= policy.repeat_returner_after:
        return decided(
            Outcome.MANUAL_REVIEW,
            "repeat_returner",
            f"{facts.returns_last_180_days} returns in 180 days (review from {policy.repeat_returner_after})",
        )
    worth = sum(line.refund_minor for line in eligible)
    if worth > policy.auto_approve_up_to_minor:
        return decided(
            Outcome.MANUAL_REVIEW,
            "high_value",
            f"worth {worth} > auto-approval limit {policy.auto_approve_up_to_minor}",
        )
    return decided(Outcome.AUTO_APPROVED, "auto_approve", "eligible, evidence complete, within limits")


def _window_end(policy: ReturnPolicy, facts: ReturnFacts) -> datetime | None:
    if facts.delivered_at is None or not facts.lines:
        return None
    days = max(window_days(policy, facts.market, line.category) for line in facts.lines)
    return facts.delivered_at + timedelta(days=days)


def _decide_line(policy: ReturnPolicy, facts: ReturnFacts, line: ReturnLine) -> LineDecision:
    def refused(why: str) -> LineDecision:
        return LineDecision(line.order_line_id, False, why)

    if line.quantity < 1 or line.quantity > line.delivered_quantity:
        return refused(f"quantity {line.quantity} of {line.delivered_quantity} delivered")
    if facts.delivered_at is None:
        return refused("not delivered yet: cancel or wait for delivery")
    # Faulty goods stay returnable whatever the category (a broken razor is not a hygiene return).
    if line.category in policy.non_returnable and facts.reason not in SELLER_FAULT:
        return refused(f"category {line.category} is not returnable unless faulty")
    ends = facts.delivered_at + timedelta(days=window_days(policy, facts.market, line.category))
    if facts.requested_at > ends and facts.reason not in SELLER_FAULT:
        return refused(f"return window ended {ends.date().isoformat()}")
    value = line.unit_price_minor * line.quantity
    fee = value * policy.restocking_fee_percent // 100 if facts.reason is Reason.CHANGED_MIND else 0
    return LineDecision(line.order_line_id, True, "within policy", value, fee)


# --- the return state machine -------------------------------------------------------------------------------


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # label issued, waiting for the parcel
    REJECTED = "rejected"
    KEEP_REFUNDED = "keep_refunded"  # returnless refund: the buyer keeps the item
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    GRADED = "graded"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    CLOSED = "closed"
    CANCELLED = "cancelled"


S = ReturnStatus
TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    S.REQUESTED: frozenset({S.APPROVED, S.REJECTED, S.KEEP_REFUNDED, S.CANCELLED}),
    S.APPROVED: frozenset({S.IN_TRANSIT, S.RECEIVED, S.EXCHANGED, S.CANCELLED}),
    S.IN_TRANSIT: frozenset({S.RECEIVED}),
    S.RECEIVED: frozenset({S.GRADED}),
    S.GRADED: frozenset({S.REFUNDED, S.EXCHANGED, S.CLOSED}),
    S.REFUNDED: frozenset({S.CLOSED}),
    S.EXCHANGED: frozenset({S.CLOSED}),
    S.KEEP_REFUNDED: frozenset({S.CLOSED}),
    S.REJECTED: frozenset({S.REQUESTED}),  # the buyer may try again with what was missing
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}


def transition(current: ReturnStatus, target: ReturnStatus) -> ReturnStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("return", current.value, target.value)
    return target
