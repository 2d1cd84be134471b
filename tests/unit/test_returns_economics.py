"""Return or keep: an item comes back only when it is worth more back in stock than the trip costs."""

from __future__ import annotations

import pytest

from aftersail.returns.economics import Choice, Grade, return_or_keep


def test_a_cheap_item_far_from_the_warehouse_is_kept_with_a_returnless_refund() -> None:
    decided = return_or_keep(item_price_minor=1_500, reverse_freight_minor=1_200, handling_minor=300)
    assert decided.choice is Choice.KEEP
    # Expected back: 55 % as new, 25 % at 80 %, 10 % at 45 %, 10 % scrap = 79.5 % of the price.
    assert decided.cost_back_minor == 1_500 and decided.worth_back_minor == 1_192
    assert decided.net_minor == -308


def test_a_valuable_item_comes_back() -> None:
    decided = return_or_keep(
        item_price_minor=12_000, reverse_freight_minor=900, handling_minor=300, duties_lost_minor=400
    )
    assert decided.choice is Choice.RETURN and decided.net_minor == 9_540 - 1_600


def test_the_grade_mix_of_the_sku_decides_the_worth_back() -> None:
    mostly_scrap = {Grade.A: 0.1, Grade.D: 0.9}
    decided = return_or_keep(
        item_price_minor=5_000, reverse_freight_minor=400, handling_minor=200, grade_mix=mostly_scrap
    )
    assert decided.worth_back_minor == 500 and decided.choice is Choice.KEEP
    tie = return_or_keep(
        item_price_minor=1_000, reverse_freight_minor=1_000, handling_minor=0, grade_mix={Grade.A: 1}
    )
    assert tie.choice is Choice.KEEP, "a tie keeps: no freight, no wait"


def test_a_grade_mix_without_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="positive weight"):
        return_or_keep(
            item_price_minor=1_000, reverse_freight_minor=1, handling_minor=1, grade_mix={Grade.A: 0}
        )
