"""Return or keep (仅退款): what bringing an item back costs against what it is worth back in stock. Pure:
the caller brings the lane's reverse freight, the warehouse's handling cost, the duties not recovered and the
expected grade mix of the SKU. Integer minor units in one currency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Grade(StrEnum):
    A = "A"  # resaleable as new
    B = "B"  # repackage
    C = "C"  # refurbish
    D = "D"  # scrap


# Share of the item's price it sells for again, by grade (a seller may set its own).
RESALE_SHARE = {Grade.A: 1.0, Grade.B: 0.8, Grade.C: 0.45, Grade.D: 0.0}
DEFAULT_GRADE_MIX = {Grade.A: 0.55, Grade.B: 0.25, Grade.C: 0.1, Grade.D: 0.1}


class Choice(StrEnum):
    RETURN = "return"  # worth bringing back
    KEEP = "keep"  # returnless refund: the buyer keeps it


@dataclass(frozen=True, slots=True)
class ReturnOrKeep:
    choice: Choice
    cost_back_minor: int  # reverse freight + handling + duties not recovered
    worth_back_minor: int  # expected resale value after grading
    net_minor: int  # worth back − cost back (negative: returning loses money)
    reverse_freight_minor: int
    handling_minor: int
    duties_lost_minor: int


def return_or_keep(
    *,
    item_price_minor: int,
    reverse_freight_minor: int,
    handling_minor: int,
    duties_lost_minor: int = 0,
    grade_mix: Mapping[Grade, float] | None = None,
    resale_share: Mapping[Grade, float] | None = None,
) -> ReturnOrKeep:
    """Keep when bringing it back costs at least what it is worth back (a tie keeps: no freight, no wait)."""
    mix = _normalised(grade_mix or DEFAULT_GRADE_MIX)
    shares = resale_share or RESALE_SHARE
    worth = round(sum(item_price_minor * weight * shares.get(grade, 0.0) for grade, weight in mix.items()))
    cost = reverse_freight_minor + handling_minor + duties_lost_minor
    choice = Choice.RETURN if worth > cost else Choice.KEEP
    return ReturnOrKeep(
        choice, cost, worth, worth - cost, reverse_freight_minor, handling_minor, duties_lost_minor
    )


def _normalised(mix: Mapping[Grade, float]) -> dict[Grade, float]:
    total = sum(max(0.0, weight) for weight in mix.values())
    if total <= 0:
        raise ValueError("a grade mix needs a positive weight")
    return {grade: max(0.0, weight) / total for grade, weight in mix.items()}
