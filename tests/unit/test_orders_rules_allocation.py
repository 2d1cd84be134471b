"""Where an order ships from (orders.rules.plan_allocation): plain data in, a plan out, no database."""

from __future__ import annotations

from datetime import date

import pytest

from aftersail.catalog.rules import StockSlot, WarehouseOption, batch_order
from aftersail.orders.rules import (
    NoWarehouseServes,
    Pick,
    Requirement,
    ShortagePolicy,
    StockExhausted,
    plan_allocation,
)

FRA = WarehouseOption(1, "Frankfurt", transit_days=3, cost_minor=450)
FXT = WarehouseOption(2, "Felixstowe", transit_days=4, cost_minor=800)
WAW = WarehouseOption(3, "Warsaw", transit_days=3, cost_minor=300)
PRG = WarehouseOption(4, "Prague", transit_days=3, cost_minor=300)
LAMP, CABLE, CASE, KIT = 10, 11, 12, 20
LABELS = {LAMP: "LAMP", CABLE: "CABLE", CASE: "CASE", KIT: "KIT"}


def line(line_id: int, sku: int, quantity: int, components: tuple[tuple[int, int], ...] = ()) -> Requirement:
    return Requirement(line_id, sku, quantity, LABELS[sku], components)


def kit(line_id: int, quantity: int) -> Requirement:
    """A desk kit: one lamp and two cables per kit."""
    return line(line_id, KIT, quantity, ((LAMP, 1), (CABLE, 2)))


class Shelves:
    """Free stock per warehouse, one stock row per (warehouse, SKU) unless batches are given."""

    def __init__(self) -> None:
        self.slots: list[StockSlot] = []

    def put(
        self,
        warehouse: WarehouseOption,
        sku: int,
        units: int,
        *,
        batch: int | None = None,
        expires: date | None = None,
        received: date | None = None,
    ) -> int:
        level = 100 + len(self.slots)
        self.slots.append(StockSlot(level, warehouse.warehouse_id, sku, units, batch, expires, received))
        return level


def units_by(plan_picks: list[Pick]) -> dict[tuple[int, int, int], int]:
    """(order line, warehouse, SKU) → units."""
    total: dict[tuple[int, int, int], int] = {}
    for pick in plan_picks:
        key = (pick.order_line_id, pick.warehouse_id, pick.sku_id)
        total[key] = total.get(key, 0) + pick.quantity
    return total


# --- one warehouse for the whole order ---------------------------------------------------------------------


def test_the_fastest_warehouse_that_has_every_line_ships_it_all() -> None:
    shelves = Shelves()
    for warehouse in (FRA, FXT):
        for sku in (LAMP, CABLE, CASE):
            shelves.put(warehouse, sku, 10)
    order = [line(1, LAMP, 2), line(2, CABLE, 1), line(3, CASE, 1)]
    plan = plan_allocation(order, [FXT, FRA], shelves.slots, "DE")
    assert plan.fully_allocated and plan.backordered == {1: 0, 2: 0, 3: 0}
    [only] = plan.warehouses
    assert (only.warehouse_id, only.transit_days) == (FRA.warehouse_id, 3)
    assert only.reason == "Frankfurt: all 3 lines in stock, 3 days to DE"
    assert plan.summary == only.reason
    assert units_by(plan.picks) == {(1, 1, LAMP): 2, (2, 1, CABLE): 1, (3, 1, CASE): 1}


def test_one_line_reads_in_stock_and_one_day_is_singular() -> None:
    shelves = Shelves()
    shelves.put(FXT, LAMP, 4)
    fast = WarehouseOption(FXT.warehouse_id, "Felixstowe", transit_days=1, cost_minor=350)
    plan = plan_allocation([line(7, LAMP, 4)], [fast], shelves.slots, "GB")
    assert plan.warehouses[0].reason == "Felixstowe: in stock, 1 day to GB"


def test_equal_transit_goes_to_the_cheaper_lane() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 50)
    shelves.put(WAW, LAMP, 5)
    plan = plan_allocation([line(1, LAMP, 2)], [FRA, WAW], shelves.slots, "DE")
    assert [w.warehouse_id for w in plan.warehouses] == [WAW.warehouse_id]
    assert plan.summary == "Warsaw: in stock, 3 days to DE"


def test_equal_transit_and_cost_goes_to_the_warehouse_with_more_stock() -> None:
    shelves = Shelves()
    shelves.put(WAW, LAMP, 3)
    shelves.put(PRG, LAMP, 9)
    shelves.put(PRG, CABLE, 1)
    shelves.put(WAW, CABLE, 1)
    plan = plan_allocation([line(1, LAMP, 2), line(2, CABLE, 1)], [WAW, PRG], shelves.slots, "DE")
    assert [w.warehouse_id for w in plan.warehouses] == [PRG.warehouse_id]


def test_a_slower_warehouse_with_everything_beats_splitting() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 10)  # fast, but no cable
    shelves.put(FXT, LAMP, 10)
    shelves.put(FXT, CABLE, 10)
    plan = plan_allocation([line(1, LAMP, 1), line(2, CABLE, 1)], [FRA, FXT], shelves.slots, "DE")
    assert [w.warehouse_id for w in plan.warehouses] == [FXT.warehouse_id]
    assert plan.summary == "Felixstowe: all 2 lines in stock, 4 days to DE"


def test_empty_and_sold_out_rows_are_ignored() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 0)
    shelves.put(FRA, LAMP, -1)  # a stale read can never make stock appear
    shelves.put(FXT, LAMP, 2)
    plan = plan_allocation([line(1, LAMP, 2)], [FRA, FXT], shelves.slots, "DE")
    assert units_by(plan.picks) == {(1, FXT.warehouse_id, LAMP): 2}


# --- splitting ----------------------------------------------------------------------------------------------


def test_no_single_warehouse_means_the_fewest_warehouses_that_can() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 5)
    shelves.put(FRA, CABLE, 5)
    shelves.put(FXT, CASE, 5)
    shelves.put(WAW, CASE, 1)
    shelves.put(PRG, LAMP, 1)
    order = [line(1, LAMP, 2), line(2, CABLE, 1), line(3, CASE, 1)]
    plan = plan_allocation(order, [FXT, FRA, WAW, PRG], shelves.slots, "DE")
    assert plan.fully_allocated
    # Frankfurt + Warsaw (3 days, 750) beats Frankfurt + Felixstowe (4 days): the slowest lane decides.
    assert [w.warehouse_id for w in plan.warehouses] == [WAW.warehouse_id, FRA.warehouse_id]
    assert [w.reason for w in plan.warehouses] == [
        "Warsaw: 1 line of 3 (CASE), 3 days to DE",
        "Frankfurt: 2 lines of 3 (LAMP, CABLE), 3 days to DE",
    ]
    assert plan.summary == "Split across 2 warehouses: no single warehouse serving DE had every line"


def test_among_equally_fast_splits_the_cheaper_pair_wins() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 5)
    shelves.put(WAW, CABLE, 5)
    shelves.put(PRG, CABLE, 5)
    cheap_prague = WarehouseOption(PRG.warehouse_id, "Prague", transit_days=3, cost_minor=100)
    plan = plan_allocation(
        [line(1, LAMP, 1), line(2, CABLE, 1)], [FRA, WAW, cheap_prague], shelves.slots, "DE"
    )
    assert {w.warehouse_id for w in plan.warehouses} == {FRA.warehouse_id, PRG.warehouse_id}


def test_one_line_may_be_filled_from_two_warehouses() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 3)
    shelves.put(FXT, LAMP, 3)
    plan = plan_allocation([line(1, LAMP, 5)], [FRA, FXT], shelves.slots, "DE")
    assert plan.fully_allocated
    assert units_by(plan.picks) == {(1, FRA.warehouse_id, LAMP): 3, (1, FXT.warehouse_id, LAMP): 2}


# --- bundles ------------------------------------------------------------------------------------------------


def test_a_bundle_ships_whole_from_one_warehouse() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 5)
    shelves.put(FRA, CABLE, 1)
    shelves.put(FXT, LAMP, 2)
    shelves.put(FXT, CABLE, 4)
    plan = plan_allocation([kit(1, 2)], [FRA, FXT], shelves.slots, "DE")
    assert plan.fully_allocated
    assert units_by(plan.picks) == {(1, FXT.warehouse_id, LAMP): 2, (1, FXT.warehouse_id, CABLE): 4}


def test_a_bundle_is_never_assembled_from_two_warehouses() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 5)  # lamps here, cables there: together enough, apart not one kit
    shelves.put(FXT, CABLE, 8)
    plan = plan_allocation([kit(1, 1)], [FRA, FXT], shelves.slots, "DE")
    assert plan.picks == [] and plan.backordered == {1: 1}
    assert plan.summary == "Backordered KIT ×1: not in stock at any warehouse serving DE"
    with pytest.raises(StockExhausted):
        plan_allocation([kit(1, 1)], [FRA, FXT], shelves.slots, "DE", ShortagePolicy.REJECT)


def test_short_of_whole_bundles_ships_as_many_as_one_warehouse_can_make() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 5)
    shelves.put(FRA, CABLE, 5)  # two kits (cables run out)
    shelves.put(FXT, LAMP, 1)
    shelves.put(FXT, CABLE, 2)  # one kit
    plan = plan_allocation([kit(1, 4)], [FRA, FXT], shelves.slots, "DE")
    assert plan.backordered == {1: 2}
    assert units_by(plan.picks) == {(1, FRA.warehouse_id, LAMP): 2, (1, FRA.warehouse_id, CABLE): 4}


def test_a_bundle_and_a_loose_component_split_so_that_the_bundle_stays_whole() -> None:
    """The loose lamp must not take the only lamp that lets Frankfurt make the kit."""
    shelves = Shelves()
    shelves.put(FRA, LAMP, 1)
    shelves.put(FRA, CABLE, 2)
    shelves.put(FXT, LAMP, 1)
    plan = plan_allocation([line(1, LAMP, 1), kit(2, 1)], [FRA, FXT], shelves.slots, "DE")
    assert plan.fully_allocated, plan.summary
    assert units_by(plan.picks) == {
        (2, FRA.warehouse_id, LAMP): 1,
        (2, FRA.warehouse_id, CABLE): 2,
        (1, FXT.warehouse_id, LAMP): 1,
    }


# --- batches ------------------------------------------------------------------------------------------------


def test_batches_leave_first_expiry_first_out() -> None:
    shelves = Shelves()
    loose = shelves.put(FRA, LAMP, 10)  # no batch: last
    late = shelves.put(FRA, LAMP, 3, batch=1, expires=date(2026, 6, 1), received=date(2025, 1, 1))
    soon = shelves.put(FRA, LAMP, 2, batch=2, expires=date(2026, 1, 1), received=date(2025, 5, 1))
    plan = plan_allocation([line(1, LAMP, 6)], [FRA], shelves.slots, "DE")
    assert [(p.stock_level_id, p.batch_id, p.quantity) for p in plan.picks] == [
        (soon, 2, 2),
        (late, 1, 3),
        (loose, None, 1),
    ]


def test_without_expiry_batches_leave_first_in_first_out() -> None:
    shelves = Shelves()
    newer = shelves.put(FRA, CABLE, 5, batch=7, received=date(2025, 3, 1))
    older = shelves.put(FRA, CABLE, 2, batch=8, received=date(2025, 1, 1))
    undated = shelves.put(FRA, CABLE, 5, batch=9)
    dated = shelves.put(FRA, CABLE, 1, batch=6, expires=date(2030, 1, 1), received=date(2025, 6, 1))
    plan = plan_allocation([line(1, CABLE, 9)], [FRA], shelves.slots, "DE")
    assert [(p.stock_level_id, p.quantity) for p in plan.picks] == [
        (dated, 1),  # anything with an expiry date goes before undated batches
        (older, 2),
        (newer, 5),
        (undated, 1),
    ]
    assert sorted(shelves.slots, key=batch_order)[0].stock_level_id == dated


# --- nothing (or not enough) available ---------------------------------------------------------------------


def test_shortage_under_backorder_allocates_what_exists() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 1)
    shelves.put(FXT, LAMP, 1)
    shelves.put(FRA, CABLE, 4)
    plan = plan_allocation([line(1, LAMP, 5), line(2, CABLE, 2)], [FRA, FXT], shelves.slots, "DE")
    assert not plan.fully_allocated
    assert plan.backordered == {1: 3, 2: 0}
    assert units_by(plan.picks) == {
        (1, FRA.warehouse_id, LAMP): 1,
        (2, FRA.warehouse_id, CABLE): 2,
        (1, FXT.warehouse_id, LAMP): 1,
    }
    assert [w.reason for w in plan.warehouses] == [
        "Frankfurt: 2 lines of 2 (LAMP, CABLE), 3 days to DE",
        "Felixstowe: 1 line of 2 (LAMP), 4 days to DE",
    ]
    assert plan.summary == "Backordered LAMP ×3: not in stock at any warehouse serving DE"


def test_no_stock_at_all_backorders_every_unit() -> None:
    plan = plan_allocation([line(1, LAMP, 2), line(2, CASE, 1)], [FRA], [], "FR")
    assert (plan.warehouses, plan.backordered) == ([], {1: 2, 2: 1})
    assert plan.summary == "Backordered LAMP ×2, CASE ×1: not in stock at any warehouse serving FR"


def test_shortage_under_reject_refuses_the_order_and_names_what_is_missing() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 1)
    with pytest.raises(StockExhausted) as refused:
        plan_allocation(
            [line(4, LAMP, 3), line(5, CABLE, 1)], [FRA], shelves.slots, "DE", ShortagePolicy.REJECT
        )
    assert refused.value.code == "stock_exhausted"
    assert refused.value.message == "Not enough stock in warehouses serving DE: LAMP ×2, CABLE ×1 missing."
    assert refused.value.details == {"missing": {"4": 2, "5": 1}}


def test_reject_policy_still_allocates_when_everything_is_there() -> None:
    shelves = Shelves()
    shelves.put(FRA, LAMP, 3)
    plan = plan_allocation([line(1, LAMP, 3)], [FRA], shelves.slots, "DE", ShortagePolicy.REJECT)
    assert plan.fully_allocated


def test_no_warehouse_serving_the_destination_is_bad_input() -> None:
    with pytest.raises(NoWarehouseServes) as refused:
        plan_allocation([line(1, LAMP, 1)], [], [], "JP")
    assert refused.value.message == "No warehouse ships to JP: add a lane to JP first."
    assert refused.value.field == "shipping_address.country"
    assert refused.value.code == "no_warehouse_serves"


def test_stock_in_warehouses_that_do_not_serve_the_destination_is_not_used() -> None:
    shelves = Shelves()
    shelves.put(FXT, LAMP, 10)  # Felixstowe has lamps but is not among the options for this country
    plan = plan_allocation([line(1, LAMP, 1)], [FRA], shelves.slots, "FR")
    assert plan.picks == [] and plan.backordered == {1: 1}


def test_a_plan_never_takes_more_than_a_row_has() -> None:
    shelves = Shelves()
    for warehouse in (FRA, FXT, WAW):
        for sku in (LAMP, CABLE):
            shelves.put(warehouse, sku, 2)
    order = [line(1, LAMP, 3), line(2, CABLE, 4), kit(3, 1), line(4, LAMP, 2)]
    plan = plan_allocation(order, [FRA, FXT, WAW], shelves.slots, "DE")
    taken: dict[int, int] = {}
    for pick in plan.picks:
        taken[pick.stock_level_id] = taken.get(pick.stock_level_id, 0) + pick.quantity
    free = {slot.stock_level_id: slot.available for slot in shelves.slots}
    assert all(units <= free[level] for level, units in taken.items())
    assert sum(taken.values()) == 12  # everything: 6 lamps and 6 cables were asked for and exist


def test_units_left_by_earlier_orders_stand_for_the_rows_own() -> None:
    """A batch plans order after order on what the earlier ones left (`available`): the same plan as on
    rows that held only that much."""
    shelves = Shelves()
    fra_lamps = shelves.put(FRA, LAMP, 5)
    fra_cables = shelves.put(FRA, CABLE, 5)
    waw_lamps = shelves.put(WAW, LAMP, 5)
    left = {fra_lamps: 1, fra_cables: 5, waw_lamps: 5}  # an earlier order took four of Frankfurt's lamps
    order = [line(1, LAMP, 2), line(2, CABLE, 1)]
    planned = plan_allocation(order, [FRA, WAW], shelves.slots, "DE", available=left)
    shrunk = [
        StockSlot(s.stock_level_id, s.warehouse_id, s.sku_id, left[s.stock_level_id]) for s in shelves.slots
    ]
    assert planned == plan_allocation(order, [FRA, WAW], shrunk, "DE")
    assert units_by(planned.picks) == {(1, WAW.warehouse_id, LAMP): 2, (2, FRA.warehouse_id, CABLE): 1}
