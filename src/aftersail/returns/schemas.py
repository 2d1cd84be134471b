"""API shapes of returns: the tenant's policy, and a sample request to preview how it would be decided."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from aftersail.kit.validation import Out, Strict
from aftersail.returns.rules import Evidence, Outcome, Payer, Reason, Resolution, ReturnPolicy

Days = Annotated[int, Field(ge=1, le=730)]
Country = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ReturnPolicyIn(Strict):
    window_days: Days = Field(default=30, description="Days from delivery; an EU market never gets under 14")
    market_days: dict[Country, Days] = Field(default_factory=dict, max_length=250)
    category_days: dict[Category, Days] = Field(default_factory=dict, max_length=200)
    non_returnable: list[Category] = Field(
        default_factory=lambda: ["custom_made", "hygiene", "opened_cosmetics"], max_length=200
    )
    evidence: dict[Reason, list[Evidence]] = Field(
        default_factory=lambda: {reason: sorted(kinds) for reason, kinds in ReturnPolicy().evidence.items()},
        description="What a buyer must send for a reason (default: a photo for a fault); others need none",
    )
    auto_approve_up_to_minor: int = Field(default=20_000, ge=0, le=10**12)
    repeat_returner_after: int = Field(default=3, ge=1, le=1_000)
    restocking_fee_percent: int = Field(default=0, ge=0, le=50)
    insured_reverse_freight: bool = False
    handling_minor: int = Field(default=400, ge=0, le=10**9, description="Receiving and grading one return")
    duties_lost_percent: int = Field(default=0, ge=0, le=100)
    offer_returnless: bool = Field(default=True, description="Refund without a return when it costs more")
    keep_partial_percent: int = Field(
        default=30, ge=0, le=100, description="Keep-it offer for faults (0: off)"
    )
    trusted_buyer_orders: int = Field(
        default=3, ge=1, le=1_000, description="From then exchanges ship at once"
    )
    cycle_days: int = Field(default=14, ge=1, le=365, description="Request to money back")
    warehouse_categories: dict[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)], list[Category]
    ] = Field(
        default_factory=dict, max_length=100, description="Warehouses taking back only these categories"
    )


class ReturnPolicyOut(Out):
    window_days: int
    market_days: dict[str, int]
    category_days: dict[str, int]
    non_returnable: list[str]
    evidence: dict[str, list[str]]
    auto_approve_up_to_minor: int
    repeat_returner_after: int
    restocking_fee_percent: int
    insured_reverse_freight: bool
    handling_minor: int
    duties_lost_percent: int
    offer_returnless: bool
    keep_partial_percent: int
    trusted_buyer_orders: int
    cycle_days: int
    warehouse_categories: dict[str, list[str]]


class SampleLine(Strict):
    category: Category = "apparel"
    quantity: int = Field(default=1, ge=0, le=10_000)
    delivered_quantity: int = Field(default=1, ge=0, le=10_000)
    unit_price_minor: int = Field(default=2_999, ge=0, le=10**12)


class SampleRequest(Strict):
    """A buyer's request as the policy sees it, to try the policy before saving it (nothing is stored)."""

    market: Country = "DE"
    delivered_days_ago: int | None = Field(default=3, ge=0, le=3_650, description="null: not delivered")
    reason: Reason = Reason.DOES_NOT_FIT
    resolution: Resolution = Resolution.REFUND
    lines: list[SampleLine] = Field(default_factory=lambda: [SampleLine()], min_length=1, max_length=50)
    evidence: list[Evidence] = Field(default_factory=list, max_length=2)
    returns_last_180_days: int = Field(default=0, ge=0, le=10_000)
    reused_photo: bool = False
    keep_offer_accepted: bool = False
    policy: ReturnPolicyIn | None = Field(
        default=None, description="A policy to try instead of the saved one"
    )


class LineDecisionOut(Out):
    order_line_id: int  # the sample's line number (1, 2, …) in a preview
    eligible: bool
    why: str
    refund_minor: int
    restocking_fee_minor: int


class DecisionOut(Out):
    outcome: Outcome
    rule: str
    reason: str
    window_ends_at: datetime | None
    freight_payer: Payer
    refund_minor: int
    missing_evidence: list[Evidence]
    lines: list[LineDecisionOut]
