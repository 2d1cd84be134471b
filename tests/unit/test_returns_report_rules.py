"""The pure part of the returns cost report: money shared exactly among lines, rates and shares, the loss,
grouping against sales, and sorting with missing values last."""

from __future__ import annotations

import pytest

from aftersail.returns.report import (
    Figures,
    Group,
    ReturnedLine,
    SoldRow,
    is_high,
    loss,
    measure_groups,
    ratio,
    share_return_money,
    sort_groups,
    split_by_weight,
)


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (700, [1, 1], [350, 350]),
        (701, [1, 1], [351, 350]),  # the odd cent goes to the earlier line
        (1000, [1, 1, 1], [334, 333, 333]),
        (100, [3, 1], [75, 25]),
        (5, [0, 0], [3, 2]),  # nothing to weigh by: equal shares
        (0, [2, 5], [0, 0]),
        (999, [1999.0, 0.0], [999, 0]),
        (10, [], []),
    ],
)
def test_split_by_weight_adds_up(total: int, weights: list[float], expected: list[int]) -> None:
    shares = split_by_weight(total, weights)
    assert shares == expected
    assert sum(shares) == (total if weights else 0)


def test_split_refuses_negative_weights() -> None:
    with pytest.raises(ValueError):
        split_by_weight(10, [1, -1])


def test_ratio_loss_and_high() -> None:
    assert ratio(1, 4) == 0.25 and ratio(3, 0) is None
    assert loss(1999, 700, 400, 1999) == 1100
    assert loss(0, 700, 400, 0) == 1100  # a parcel back with nothing refunded yet still costs the way back
    assert is_high(0.1, 0.1) and not is_high(0.09, 0.1) and not is_high(None, 0.1)


def test_a_returns_money_is_shared_by_travel_refund_and_worth() -> None:
    # Two lines: one kept (returnless), one sent back and restocked.
    shares = share_return_money(
        [(0, 1000, 0.0), (2, 3000, 2400.0)],
        refunded_minor=4000,
        freight_minor=650,
        handling_minor=800,
        restock_value_minor=2400,
    )
    assert shares == [(1000, 0, 0, 0), (3000, 650, 800, 2400)]


def test_figures() -> None:
    figures = Figures(
        units_sold=40,
        returns=3,
        units_returned=5,
        item_value_minor=10000,
        reverse_freight_minor=2100,
        handling_minor=2000,
        refunded_minor=10000,
        restock_value_minor=5000,
    )
    assert figures.return_rate == 0.125 and figures.high_return_rate
    assert figures.loss_minor == 9100 and figures.cost_share == 0.91 and figures.high_cost_share
    assert Figures().return_rate is None and Figures().cost_share is None


def _line(
    return_id: int, sku: int, quantity: int, *, reason: str = "does_not_fit", refunded: int = 0
) -> ReturnedLine:
    return ReturnedLine(
        return_id=return_id,
        sku_id=sku,
        batch_id=None,
        market="DE",
        reason=reason,
        warehouse_id=9,
        quantity=quantity,
        item_value_minor=1000 * quantity,
        refunded_minor=refunded,
    )


def test_groups_against_their_own_sales_or_all_sales() -> None:
    sold = [SoldRow(1, None, "DE", 10), SoldRow(2, None, "DE", 10), SoldRow(3, None, "FR", 5)]
    returned = [_line(1, 1, 2), _line(1, 2, 1, reason="defective"), _line(2, 1, 1)]
    by_sku = {g.key: g.figures for g in measure_groups(sold, returned, "sku")}
    assert by_sku[1].units_sold == 10 and by_sku[1].returns == 2 and by_sku[1].return_rate == 0.3
    assert by_sku[3].units_returned == 0 and by_sku[3].return_rate == 0.0  # sold, never returned: listed
    by_reason = {g.key: g.figures for g in measure_groups(sold, returned, "reason")}
    assert by_reason["does_not_fit"].units_sold == 25 and by_reason["does_not_fit"].return_rate == 3 / 25
    assert set(by_reason) == {"does_not_fit", "defective"}
    by_market = {g.key: g.figures for g in measure_groups(sold, returned, "market")}
    assert by_market["DE"].returns == 2 and by_market["FR"].returns == 0
    with pytest.raises(ValueError):
        measure_groups(sold, returned, "colour")


def test_sorting_puts_missing_values_last_both_ways() -> None:
    groups = [
        Group("a", Figures(units_sold=10, units_returned=1), "Alpha"),
        Group("b", Figures(units_sold=0, units_returned=2), "beta"),  # no sales: no rate
        Group("c", Figures(units_sold=4, units_returned=2), "Gamma"),
    ]
    assert [g.key for g in sort_groups(groups, "return_rate")] == ["c", "a", "b"]
    assert [g.key for g in sort_groups(groups, "return_rate", descending=False)] == ["a", "c", "b"]
    assert [g.key for g in sort_groups(groups, "units_returned")] == ["b", "c", "a"]  # ties by name
    assert [g.key for g in sort_groups(groups, "name", descending=False)] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        sort_groups(groups, "colour")
