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
    # Return or keep: what a return costs the seller besides freight, and what it gives up.
    handling_minor: int = 400  # receiving, grading and repacking one return at the warehouse
    duties_lost_percent: int = 0  # of the item's price: import duties that are not recovered on a return
    offer_returnless: bool = (
        True  # refund without taking back lines whose return costs more than they are worth
    )
    keep_partial_percent: int = 30  # "keep it and get this share back" (0: not offered); faults only
    trusted_buyer_orders: int = 3  # delivered orders, no return in 180 days: exchanges ship at once
    cycle_days: int = 14  # request → money back (or the exchange on its way), the return's SLA
    # Warehouses that take back only some categories (code → categories); unlisted warehouses take all.
    warehouse_categories: Mapping[str, frozenset[str]] = field(default_factory=dict)


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
    keep_offer_accepted: bool = False  # the buyer keeps the items for `keep_partial_percent` back


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
        *(days for listed, days in policy.category_days.items() if in_category(category, listed)),
    )
    return max(days, EU_MINIMUM_DAYS) if market.upper() in EU_MARKETS else days


def in_category(category: str, listed: str) -> bool:
    """Whether a SKU's category ("beauty/hygiene") falls under a policy's entry: the whole path, a parent
    ("beauty") or its last part ("hygiene")."""
    return category == listed or category.startswith(listed + "/") or category.rsplit("/", 1)[-1] == listed


def wear_and_return(
    category: str,
    reason: Reason,
    delivered_at: datetime | None,
    requested_at: datetime,
    window_end: datetime | None,
) -> bool:
    """A signal for agents, never a refusal: clothes sent back for fit or a change of mind in the last fifth
    of the window (worn to an event, then returned)."""
    if delivered_at is None or window_end is None or reason not in {Reason.DOES_NOT_FIT, Reason.CHANGED_MIND}:
        return False
    if not in_category(category, "apparel"):
        return False
    return requested_at >= window_end - (window_end - delivered_at) / 5


def freight_payer(policy: ReturnPolicy, reason: Reason) -> Payer:
    """The seller pays the way back when the fault is theirs, or when the buyer's return is insured."""
    if reason in SELLER_FAULT or policy.insured_reverse_freight:
        return Payer.SELLER
    return Payer.BUYER


def returns_back(facts: ReturnFacts, decision: Decision) -> bool:
    """Whether any item travels back (a keep-it offer and returnless lines do not)."""
    return not facts.keep_offer_accepted and any(line.eligible for line in decision.lines)


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
    if any(in_category(line.category, listed) for listed in policy.non_returnable) and (
        facts.reason not in SELLER_FAULT
    ):
        return refused(f"category {line.category} is not returnable unless faulty")
    ends = facts.delivered_at + timedelta(days=window_days(policy, facts.market, line.category))
    if facts.requested_at > ends and facts.reason not in SELLER_FAULT:
        return refused(f"return window ended {ends.date().isoformat()}")
    value = line.unit_price_minor * line.quantity
    if facts.keep_offer_accepted:
        if keep_offer_percent(policy, facts.reason) == 0:
            return refused("no keep-it offer for this reason")
        return LineDecision(line.order_line_id, True, "kept for a partial refund", keep_offer(policy, value))
    fee = value * policy.restocking_fee_percent // 100 if facts.reason is Reason.CHANGED_MIND else 0
    return LineDecision(line.order_line_id, True, "within policy", value, fee)


def keep_offer_percent(policy: ReturnPolicy, reason: Reason) -> int:
    """The share a buyer gets back for keeping a faulty item (a scratch, a missing manual); 0: no offer.
    A change of mind is never bought off this way: it would pay buyers to not want things."""
    return policy.keep_partial_percent if reason in SELLER_FAULT else 0


def keep_offer(policy: ReturnPolicy, value_minor: int) -> int:
    return value_minor * policy.keep_partial_percent // 100


# --- where a return goes back ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnSite:
    """A warehouse that takes returns, seen from the buyer's country (its lane there, if any)."""

    warehouse_id: int
    code: str
    name: str
    transit_days: int | None  # None: no lane to the buyer's country
    freight_minor: int | None  # the lane's cost, in the order's currency; None when unknown


@dataclass(frozen=True, slots=True)
class Route:
    site: ReturnSite | None
    reason: str


def route_return(policy: ReturnPolicy, sites: Sequence[ReturnSite], categories: Sequence[str]) -> Route:
    """The nearest warehouse (shortest transit from the buyer's country, then cheapest, then by code) that
    takes back every category of the return; a warehouse without a lane there comes last."""
    wanted = set(categories)
    taking = [
        site
        for site in sites
        if site.code not in policy.warehouse_categories
        or wanted <= set(policy.warehouse_categories[site.code])
    ]
    if not taking:
        return Route(None, "no warehouse takes returns of " + ", ".join(sorted(wanted)))
    best = min(
        taking,
        key=lambda s: (
            s.transit_days is None,
            s.transit_days or 0,
            s.freight_minor if s.freight_minor is not None else 10**15,
            s.code,
        ),
    )
    if best.transit_days is None:
        return Route(best, f"{best.code}: takes these returns (no lane to the buyer's country)")
    return Route(best, f"{best.code}: nearest that takes these returns, {best.transit_days} days away")


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
