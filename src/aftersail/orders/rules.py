"""Pure rules of the orders domain: where an order ships from, what may change when, and the order state
machine. Plain data in, plain data out; no I/O (unit-tested in tests/unit/test_orders_rules_*.py)."""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aftersail.catalog.rules import StockSlot, WarehouseOption, batch_order
from aftersail.kit.errors import Conflict, IllegalTransition, InvalidInput
from aftersail.orders.models import OrderStatus

# --- errors -------------------------------------------------------------------------------------------------


class NoWarehouseServes(InvalidInput):
    code = "no_warehouse_serves"

    def __init__(self, country: str) -> None:
        super().__init__(
            f"No warehouse ships to {country}: add a lane to {country} first.",
            field="shipping_address.country",
        )


class StockExhausted(Conflict):
    code = "stock_exhausted"


class ChangeWindowClosed(Conflict):
    code = "change_window_closed"


# --- the order state machine --------------------------------------------------------------------------------

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.CANCELLED}),
    OrderStatus.ALLOCATED: frozenset(
        {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.RELEASED, OrderStatus.CANCELLED}
    ),
    OrderStatus.BACKORDERED: frozenset(
        {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.RELEASED, OrderStatus.CANCELLED}
    ),
    OrderStatus.RELEASED: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}

CHANGEABLE = frozenset({OrderStatus.PENDING, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED})


def check_transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("order", current.value, target.value)
    return target


def check_changeable(status: OrderStatus, what: str) -> None:
    """Cooling-off (冷静期): an order may change until it is released for picking."""
    if status is OrderStatus.CANCELLED:
        raise ChangeWindowClosed(f"This order is cancelled; it cannot {what}.")
    if status not in CHANGEABLE:
        raise ChangeWindowClosed(
            f"This order is already {status.value} and can no longer {what}; "
            "ask for a return or an exchange instead.",
            status=status.value,
        )


# --- tenant policy ------------------------------------------------------------------------------------------


class ShortagePolicy(StrEnum):
    BACKORDER = "backorder"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """The tenant's order settings (`tenant.settings["orders"]`)."""

    on_shortage: ShortagePolicy = ShortagePolicy.BACKORDER
    # None: the cooling-off window lasts until picking starts (the warehouse releases the order).
    release_after_minutes: int | None = None
    # 0: never merge. Otherwise unpicked orders of one buyer to one address within this window share a parcel.
    merge_window_minutes: int = 120
    low_stock_default: int = 5

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> OrderPolicy:
        orders = dict((settings or {}).get("orders") or {})
        release = orders.get("release_after_minutes")
        return cls(
            on_shortage=ShortagePolicy(orders.get("on_shortage", ShortagePolicy.BACKORDER)),
            release_after_minutes=None if release is None else int(release),
            merge_window_minutes=int(orders.get("merge_window_minutes", 120)),
            low_stock_default=int(orders.get("low_stock_default", 5)),
        )

    def as_settings(self) -> dict[str, Any]:
        return {
            "on_shortage": self.on_shortage.value,
            "release_after_minutes": self.release_after_minutes,
            "merge_window_minutes": self.merge_window_minutes,
            "low_stock_default": self.low_stock_default,
        }

    def release_due_at(self, placed_at: datetime) -> datetime | None:
        if self.release_after_minutes is None:
            return None
        return placed_at + timedelta(minutes=self.release_after_minutes)


RELEASE_TOPIC = "orders.release"  # the job that releases an order when its window has passed


def release_job_key(tenant_id: int, order_id: int) -> str:
    return f"orders.release:{tenant_id}:{order_id}"


def address_key(address: Mapping[str, Any]) -> str:
    """Addresses that differ only in case, spacing or commas are the same parcel stop."""
    parts = []
    for name in ("name", "company", "line1", "line2", "city", "region", "postal_code", "country"):
        value = str(address.get(name) or "")
        parts.append(" ".join(value.lower().replace(",", " ").split()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# --- allocation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """One order line. A bundle lists its components as (component SKU id, units per bundle)."""

    order_line_id: int
    sku_id: int
    quantity: int
    label: str
    components: tuple[tuple[int, int], ...] = ()

    def demand(self, units: int | None = None) -> dict[int, int]:
        """Units per physical SKU for `units` of this line (all of it by default)."""
        units = self.quantity if units is None else units
        if not self.components:
            return {self.sku_id: units}
        return {sku_id: per * units for sku_id, per in self.components}


@dataclass(frozen=True, slots=True)
class Pick:
    order_line_id: int
    warehouse_id: int
    stock_level_id: int
    sku_id: int
    batch_id: int | None
    quantity: int


@dataclass(slots=True)
class WarehousePlan:
    warehouse_id: int
    transit_days: int
    reason: str
    picks: list[Pick] = field(default_factory=list)


@dataclass(slots=True)
class AllocationPlan:
    warehouses: list[WarehousePlan]
    backordered: dict[int, int]  # order line id → units not allocated
    summary: str

    @property
    def fully_allocated(self) -> bool:
        return not any(self.backordered.values())

    @property
    def picks(self) -> list[Pick]:
        return [pick for plan in self.warehouses for pick in plan.picks]


class _Stock:
    """Free units per warehouse and SKU, consumed as picks are planned."""

    def __init__(self, slots: Iterable[StockSlot], available: Mapping[int, int] | None = None) -> None:
        self.slots: dict[tuple[int, int], list[StockSlot]] = defaultdict(list)
        self.left: dict[int, int] = {}
        for slot in slots:
            units = slot.available if available is None else available[slot.stock_level_id]
            if units > 0:
                self.slots[(slot.warehouse_id, slot.sku_id)].append(slot)
                self.left[slot.stock_level_id] = units
        for group in self.slots.values():
            group.sort(key=batch_order)

    def free(self, warehouse_id: int, sku_id: int) -> int:
        return sum(self.left[s.stock_level_id] for s in self.slots.get((warehouse_id, sku_id), ()))

    def can_cover(self, warehouse_id: int, demand: Mapping[int, int]) -> bool:
        return all(self.free(warehouse_id, sku) >= units for sku, units in demand.items())

    def take(self, warehouse_id: int, sku_id: int, units: int, order_line_id: int) -> list[Pick]:
        picks = []
        for slot in self.slots.get((warehouse_id, sku_id), ()):
            if units == 0:
                break
            taken = min(units, self.left[slot.stock_level_id])
            if taken:
                self.left[slot.stock_level_id] -= taken
                units -= taken
                picks.append(
                    Pick(order_line_id, warehouse_id, slot.stock_level_id, sku_id, slot.batch_id, taken)
                )
        if units:
            raise AssertionError("took more than was free")  # callers check can_cover first
        return picks


def _total_demand(requirements: Sequence[Requirement]) -> dict[int, int]:
    total: dict[int, int] = defaultdict(int)
    for requirement in requirements:
        for sku, units in requirement.demand().items():
            total[sku] += units
    return dict(total)


def _rank(
    options: Sequence[WarehouseOption], stock: _Stock, demand: Mapping[int, int]
) -> list[WarehouseOption]:
    """Fastest lane first, then cheapest, then the warehouse with the most of what the order needs."""
    return sorted(
        options,
        key=lambda o: (
            o.transit_days,
            o.cost_minor,
            -sum(stock.free(o.warehouse_id, s) for s in demand),
            o.warehouse_id,
        ),
    )


def _lines(count: int) -> str:
    return "1 line" if count == 1 else f"{count} lines"


def _assign(
    requirements: Sequence[Requirement], combo: Sequence[WarehouseOption], stock: _Stock, *, partial: bool
) -> tuple[dict[int, list[Pick]], dict[int, int]]:
    """Picks per warehouse for `combo` (in preference order) and what is left over per order line.

    A bundle line comes whole from one warehouse; a plain line fills from the first warehouse that has
    stock, then the next. Without `partial`, leftovers mean the combo does not work (caller discards).
    """
    picks: dict[int, list[Pick]] = defaultdict(list)
    left: dict[int, int] = {}
    # Bundles first: a loose line must not take the component units that let a warehouse make a kit.
    for requirement in sorted(requirements, key=lambda r: not r.components):
        if requirement.components:
            home = next((o for o in combo if stock.can_cover(o.warehouse_id, requirement.demand())), None)
            units = requirement.quantity
            if home is None and partial:
                # As many whole bundles as the best single warehouse can make.
                best = max(
                    combo, key=lambda o: _bundles_possible(requirement, stock, o.warehouse_id), default=None
                )
                units = _bundles_possible(requirement, stock, best.warehouse_id) if best else 0
                home = best if units else None
            if home is None:
                left[requirement.order_line_id] = requirement.quantity
                continue
            for sku, needed in requirement.demand(units).items():
                picks[home.warehouse_id] += stock.take(
                    home.warehouse_id, sku, needed, requirement.order_line_id
                )
            left[requirement.order_line_id] = requirement.quantity - units
            continue
        remaining = requirement.quantity
        for option in combo:
            taken = min(remaining, stock.free(option.warehouse_id, requirement.sku_id))
            if taken:
                picks[option.warehouse_id] += stock.take(
                    option.warehouse_id, requirement.sku_id, taken, requirement.order_line_id
                )
                remaining -= taken
        left[requirement.order_line_id] = remaining
    return dict(picks), left


def _bundles_possible(requirement: Requirement, stock: _Stock, warehouse_id: int) -> int:
    return min(
        (stock.free(warehouse_id, sku) // per for sku, per in requirement.components),
        default=0,
    )


def _plans(
    picks: Mapping[int, list[Pick]],
    combo: Sequence[WarehouseOption],
    requirements: Sequence[Requirement],
    country: str,
    *,
    single: bool,
) -> list[WarehousePlan]:
    labels = {r.order_line_id: r.label for r in requirements}
    plans = []
    for option in combo:
        mine = picks.get(option.warehouse_id)
        if not mine:
            continue
        lines = sorted({p.order_line_id for p in mine})
        if single:
            what = "in stock" if len(requirements) == 1 else f"all {len(requirements)} lines in stock"
        else:
            what = f"{_lines(len(lines))} of {len(requirements)} ({', '.join(labels[i] for i in lines)})"
        days = "1 day" if option.transit_days == 1 else f"{option.transit_days} days"
        plans.append(
            WarehousePlan(
                option.warehouse_id, option.transit_days, f"{option.name}: {what}, {days} to {country}", mine
            )
        )
    return plans


def plan_allocation(
    requirements: Sequence[Requirement],
    options: Sequence[WarehouseOption],
    slots: Iterable[StockSlot],
    country: str,
    policy: ShortagePolicy = ShortagePolicy.BACKORDER,
    *,
    max_combinations: int = 2000,
    available: Mapping[int, int] | None = None,
) -> AllocationPlan:
    """Choose where each unit of an order ships from. `available` (stock row id → units), when given,
    stands for the slots' own `available` (a batch planning order after order on what the earlier
    orders left).

    1. One warehouse that serves `country` and can ship every line: fastest lane, then cheapest, then most
       stock. 2. Otherwise the fewest warehouses that together can (a bundle whole from one of them), the
       combination with the fastest slowest lane, then the lowest cost. 3. Otherwise, by `policy`: allocate
       what exists and backorder the rest, or refuse the order (StockExhausted). Batches leave
       first-expiry-first-out, else first-in-first-out.
    """
    if not options:
        raise NoWarehouseServes(country)
    demand = _total_demand(requirements)
    probe = _Stock(slots, available)
    ranked = _rank(options, probe, demand)

    for option in ranked:
        if probe.can_cover(option.warehouse_id, demand):
            picks, _ = _assign(requirements, [option], probe, partial=False)
            plans = _plans(picks, [option], requirements, country, single=True)
            return AllocationPlan(plans, {r.order_line_id: 0 for r in requirements}, plans[0].reason)

    budget = max_combinations
    for size in range(2, len(ranked) + 1):
        best: tuple[tuple[int, int], list[WarehouseOption]] | None = None
        for combo in itertools.combinations(ranked, size):
            budget -= 1
            if budget < 0:
                break
            trial = _Stock(slots, available)
            _, left = _assign(requirements, combo, trial, partial=False)
            if any(left.values()):
                continue
            score = (max(o.transit_days for o in combo), sum(o.cost_minor for o in combo))
            if best is None or score < best[0]:
                best = (score, list(combo))
        if best is not None:
            stock = _Stock(slots, available)
            picks, _ = _assign(requirements, best[1], stock, partial=False)
            plans = _plans(picks, best[1], requirements, country, single=False)
            summary = (
                f"Split across {len(plans)} warehouses: no single warehouse serving {country} had every line"
            )
            return AllocationPlan(plans, {r.order_line_id: 0 for r in requirements}, summary)

    stock = _Stock(slots, available)
    picks, left = _assign(requirements, ranked, stock, partial=True)
    short = {line_id: units for line_id, units in left.items() if units}
    labels = {r.order_line_id: r.label for r in requirements}
    missing = ", ".join(f"{labels[line_id]} ×{units}" for line_id, units in short.items())
    if policy is ShortagePolicy.REJECT:
        raise StockExhausted(
            f"Not enough stock in warehouses serving {country}: {missing} missing.",
            missing={str(k): v for k, v in short.items()},
        )
    plans = _plans(picks, ranked, requirements, country, single=False)
    summary = f"Backordered {missing}: not in stock at any warehouse serving {country}"
    return AllocationPlan(plans, left, summary)
