"""Demo orders: 90 days of web-shop and marketplace orders plus live-session bursts, for one seller.

Everything is drawn from the seller's own `random.Random`, in a fixed order, against the fixed DEMO_NOW.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aftersail.demo.catalog import SkuPlan, market_price
from aftersail.demo.customers import CustomerPlan, make_customer
from aftersail.demo.markets import MARKETS
from aftersail.demo.sellers import DEMO_NOW, ORDER_WINDOW, LiveSessionSpec, SellerSpec
from aftersail.orders.models import OrderChannel, OrderStatus

# Local hour-of-day weights: quiet at night, busy at lunch and in the evening.
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 9, 10, 9, 8, 8, 9, 11, 13, 15, 16, 14, 9, 4)
REPEAT_BUYER_RATIO = 0.62  # customers per order in a market
CANCEL_RATE = 0.035
MARKETPLACE_REF = {
    "Amazon": "###-#######-#######",
    "noon": "N##########A",
    "bol.com": "A000#######",
    "Rakuten": "######-########-##########",
}


@dataclass(slots=True)
class OrderPlan:
    number: str
    customer: int  # index into the seller's customer list
    channel: OrderChannel
    status: OrderStatus
    currency: str
    lines: list[tuple[str, int, int]]  # (SKU code, quantity, unit price in minor units)
    total_minor: int
    shipping_address: dict[str, Any]
    country: str
    live_session: int | None
    external_ref: str
    placed_at: datetime
    cancelled_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class _Draft:
    country: str
    when: datetime | date  # UTC instant for live orders; a day (plus local time below) otherwise
    local_time: tuple[int, int, int]
    session: int | None


class _SkuPicker:
    """Weighted choice of SKUs sellable in a market (popular products sell more)."""

    def __init__(self, skus: list[SkuPlan]) -> None:
        self.by_code = {sku.code: sku for sku in skus}
        self._tables: dict[str, tuple[list[SkuPlan], list[float]]] = {}
        for country in MARKETS:
            eligible = [sku for sku in skus if country in sku.markets]
            self._tables[country] = (eligible, list(itertools.accumulate(sku.popularity for sku in eligible)))

    def pick(self, rng: random.Random, country: str, count: int) -> list[SkuPlan]:
        eligible, cumulative = self._tables[country]
        chosen: list[SkuPlan] = []
        for _ in range(count * 4):
            sku = rng.choices(eligible, cum_weights=cumulative)[0]
            if sku not in chosen:
                chosen.append(sku)
            if len(chosen) == count:
                break
        return chosen


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randint(0, 9)) if ch == "#" else ch for ch in pattern)


def _session_moment(rng: random.Random, spec: LiveSessionSpec) -> datetime:
    """Bursty: an opening rush, a second flash deal about 60% in, and a steady trickle in between."""
    roll = rng.random()
    if roll < 0.55:
        fraction = rng.betavariate(1.2, 5.0)
    elif roll < 0.72:
        fraction = min(0.999, max(0.0, rng.gauss(0.6, 0.04)))
    else:
        fraction = rng.random()
    return spec.starts_at + timedelta(seconds=int(spec.duration.total_seconds() * min(fraction, 0.999)))


def _status(rng: random.Random, placed_at: datetime) -> OrderStatus:
    age_days = (DEMO_NOW - placed_at).total_seconds() / 86400
    table: tuple[tuple[OrderStatus, int], ...]
    if age_days >= 14:
        table = ((OrderStatus.DELIVERED, 96), (OrderStatus.SHIPPED, 4))
    elif age_days >= 7:
        table = ((OrderStatus.DELIVERED, 70), (OrderStatus.SHIPPED, 30))
    elif age_days >= 3:
        table = ((OrderStatus.SHIPPED, 60), (OrderStatus.DELIVERED, 25), (OrderStatus.RELEASED, 15))
    elif age_days >= 1:
        table = (
            (OrderStatus.ALLOCATED, 35),
            (OrderStatus.RELEASED, 30),
            (OrderStatus.SHIPPED, 30),
            (OrderStatus.BACKORDERED, 5),
        )
    else:
        table = ((OrderStatus.PENDING, 45), (OrderStatus.ALLOCATED, 45), (OrderStatus.BACKORDERED, 10))
    return rng.choices([status for status, _ in table], weights=[weight for _, weight in table])[0]


# How long after placing an order its last status change happened, in minutes (low, high).
_PROGRESS_MINUTES = {
    OrderStatus.PENDING: (0, 0),
    OrderStatus.ALLOCATED: (1, 12),
    OrderStatus.BACKORDERED: (1, 12),
    OrderStatus.RELEASED: (120, 1200),
    OrderStatus.SHIPPED: (720, 2880),
    OrderStatus.DELIVERED: (2880, 12000),
}


def _drafts(rng: random.Random, seller: SellerSpec, regular: int, session_counts: list[int]) -> list[_Draft]:
    markets = list(seller.market_weights)
    weights = [seller.market_weights[market] for market in markets]
    first_day = (DEMO_NOW - ORDER_WINDOW).date()
    # Busier towards the November peak, and at weekends.
    day_weights = [
        (1 + 0.6 * offset / 89) * (1.25 if (first_day + timedelta(days=offset)).weekday() >= 5 else 1)
        for offset in range(90)
    ]
    drafts: list[_Draft] = []
    for _ in range(regular):
        country = rng.choices(markets, weights=weights)[0]
        day = first_day + timedelta(days=rng.choices(range(90), weights=day_weights)[0])
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        drafts.append(_Draft(country, day, (hour, rng.randrange(60), rng.randrange(60)), None))
    for index, (spec, count) in enumerate(zip(seller.live_sessions, session_counts, strict=True)):
        for _ in range(count):
            country = (
                spec.market
                if not spec.other_markets or rng.random() < 0.7
                else rng.choice(spec.other_markets)
            )
            drafts.append(_Draft(country, _session_moment(rng, spec), (0, 0, 0), index))
    return drafts


def _placed_at(draft: _Draft, customer: CustomerPlan) -> datetime:
    if isinstance(draft.when, datetime):
        return draft.when
    hour, minute, second = draft.local_time
    local = datetime(
        draft.when.year,
        draft.when.month,
        draft.when.day,
        hour,
        minute,
        second,
        tzinfo=ZoneInfo(customer.time_zone),
    )
    placed = local.astimezone(UTC)
    if placed >= DEMO_NOW:
        return placed - timedelta(days=1)
    return placed + timedelta(days=1) if placed < DEMO_NOW - ORDER_WINDOW else placed


def plan_orders(
    rng: random.Random, seller: SellerSpec, skus: list[SkuPlan], orders: int, total_orders: int
) -> tuple[list[CustomerPlan], list[OrderPlan]]:
    """Customers and orders of one seller; sessions scale with `total_orders`, the whole demo's count."""
    session_counts = [round(total_orders * spec.order_share) for spec in seller.live_sessions]
    regular = max(0, orders - sum(session_counts))
    drafts = _drafts(rng, seller, regular, session_counts)

    per_market: dict[str, int] = {}
    for draft in drafts:
        per_market[draft.country] = per_market.get(draft.country, 0) + 1
    taken: set[str] = set()
    pools: dict[str, list[int]] = {}
    customers: list[CustomerPlan] = []
    for country, count in per_market.items():
        pools[country] = []
        for _ in range(max(1, round(count * REPEAT_BUYER_RATIO))):
            pools[country].append(len(customers))
            customers.append(make_customer(rng, country, taken))

    picker = _SkuPicker(skus)
    planned: list[tuple[datetime, int, OrderPlan]] = []
    for position, draft in enumerate(drafts):
        pool = pools[draft.country]
        customer_index = pool[int(len(pool) * rng.random() ** 1.3)]  # a few loyal buyers order often
        customer = customers[customer_index]
        placed_at = _placed_at(draft, customer)
        order = _order(rng, seller, picker, draft, customer_index, customer, placed_at)
        planned.append((placed_at, position, order))

    planned.sort(key=lambda item: (item[0], item[1]))
    result: list[OrderPlan] = []
    for sequence, (_, _, order) in enumerate(planned):
        order.number = f"{seller.prefix}-{100001 + sequence}"
        result.append(order)
        customer = customers[order.customer]
        if customer.created_at is None:
            customer.created_at = order.placed_at - timedelta(
                days=rng.randint(0, 300), minutes=rng.randint(5, 600)
            )
    used = sorted({order.customer for order in result})
    renumber = {old: new for new, old in enumerate(used)}
    for order in result:
        order.customer = renumber[order.customer]
    return [customers[index] for index in used], result


def _order(
    rng: random.Random,
    seller: SellerSpec,
    picker: _SkuPicker,
    draft: _Draft,
    customer_index: int,
    customer: CustomerPlan,
    placed_at: datetime,
) -> OrderPlan:
    market = MARKETS[draft.country]
    currency = market.currency
    if draft.session is not None:
        spec = seller.live_sessions[draft.session]
        featured = [picker.by_code[f"{seller.prefix}-{code}"] for code in spec.featured]
        featured = [sku for sku in featured if draft.country in sku.markets] or featured
        chosen = rng.sample(featured, k=1 if rng.random() < 0.8 else min(2, len(featured)))
        discount = spec.discount_percent
        channel = OrderChannel.LIVE_SESSION
        platform_code = "".join(word[0] for word in spec.platform.split()).upper()
        external_ref = f"{platform_code}-{_digits(rng, '#' * 16)}"
    else:
        chosen = picker.pick(rng, draft.country, rng.choices((1, 2, 3), weights=(70, 22, 8))[0])
        discount = 0
        if rng.random() < 0.58:
            channel = OrderChannel.MARKETPLACE
            pattern = next(p for name, p in MARKETPLACE_REF.items() if market.marketplace.startswith(name))
            external_ref = f"{market.marketplace}:{_digits(rng, pattern)}"
        else:
            channel, external_ref = OrderChannel.WEB_SHOP, ""
    lines = []
    for sku in chosen:
        quantity = rng.choices((1, 2, 3), weights=(85, 12, 3))[0]
        unit = market_price(sku.retail_usd, currency)
        if discount:
            unit = round(unit * (100 - discount) / 100)
        lines.append((sku.code, quantity, unit))

    cancelled_at = None
    if rng.random() < CANCEL_RATE:
        status = OrderStatus.CANCELLED
        cancelled_at = min(placed_at + timedelta(minutes=rng.randint(6, 1800)), DEMO_NOW)
        updated_at = cancelled_at
    else:
        status = _status(rng, placed_at)
        low, high = _PROGRESS_MINUTES[status]
        updated_at = min(placed_at + timedelta(minutes=rng.randint(low, high)), DEMO_NOW)
    return OrderPlan(
        number="",
        customer=customer_index,
        channel=channel,
        status=status,
        currency=currency,
        lines=lines,
        total_minor=sum(quantity * unit for _, quantity, unit in lines),
        shipping_address=dict(customer.address),
        country=draft.country,
        live_session=draft.session,
        external_ref=external_ref,
        placed_at=placed_at,
        cancelled_at=cancelled_at,
        updated_at=updated_at,
    )
