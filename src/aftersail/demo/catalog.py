"""Expands the demo product specs into SKUs, batches (lots) and stock levels, and prices them per market.

Pure functions over the specs and a seeded `random.Random`; nothing here touches the database.
"""

from __future__ import annotations

import itertools
import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from aftersail.demo.markets import MARKETS, USD_RATES
from aftersail.demo.products import PLUG_MARKETS, BundleSpec, ProductSpec
from aftersail.demo.sellers import DEMO_NOW, SellerSpec
from aftersail.demo.warehouses import WAREHOUSES
from aftersail.kit.money import minor_exponent

ALL_MARKETS = tuple(MARKETS)
GS1_PREFIX = {"SZG": "693", "LUM": "376"}  # made-up company prefixes inside the Chinese and French GS1 ranges


@dataclass(slots=True)
class SkuPlan:
    code: str
    product_code: str
    title: str
    attributes: dict[str, str]
    category: str
    retail_usd: int
    declared_usd: int
    weight_grams: int
    hs_code: str
    barcode: str
    popularity: int
    markets: tuple[str, ...]
    is_bundle: bool = False
    components: tuple[tuple[str, int], ...] = ()
    shelf_life_months: int | None = None
    lot_tracked: bool = False
    batches: list[BatchPlan] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    code: str
    manufactured_on: date
    expires_on: date | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StockPlan:
    warehouse: str
    sku_code: str
    batch_code: str | None
    on_hand: int
    low_stock_threshold: int


def value_code(value: str) -> str:
    """A short, readable code for a variant value: 'Black' → BLA, '30 ml' → 30M, 'iPhone 15 Pro' → IPH15P."""
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    words = ["".join(ch for ch in word if ch.isalnum()) for word in ascii_value.split()]
    words = [word for word in words if word]
    if words[0].isdigit():
        return words[0] + (words[1][0] if len(words) > 1 else "")
    return words[0][:3] + "".join(word if word.isdigit() else word[0] for word in words[1:])


def ean13(prefix: str, serial: int) -> str:
    body = f"{prefix}{serial:09d}"[:12]
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _markets_for(product: ProductSpec, attributes: dict[str, str]) -> tuple[str, ...]:
    markets = product.main_markets or ALL_MARKETS
    plug = attributes.get("plug")
    if plug is not None:
        markets = tuple(market for market in markets if market in PLUG_MARKETS[plug])
    return tuple(market for market in markets if market in MARKETS)


def expand_catalog(seller: SellerSpec) -> list[SkuPlan]:
    """Every SKU of a seller, products first (one per axis combination), then the kits."""
    skus: list[SkuPlan] = []
    serial = itertools.count(1001)
    for product in seller.products:
        names = [name for name, _ in product.axes]
        for values in itertools.product(*(values for _, values in product.axes)):
            attributes = dict(zip(names, values, strict=True))
            shown = [value for value in values if len(product.axes) > 1 or len(product.axes[0][1]) > 1]
            skus.append(
                SkuPlan(
                    code="-".join((seller.prefix, product.code, *(value_code(v) for v in values))),
                    product_code=product.code,
                    title=f"{product.title} — {' / '.join(shown)}" if shown else product.title,
                    attributes=attributes,
                    category=product.category,
                    retail_usd=product.retail_usd,
                    declared_usd=product.declared_usd,
                    weight_grams=product.weight_grams,
                    hs_code=product.hs_code,
                    barcode=ean13(GS1_PREFIX[seller.prefix], next(serial)),
                    popularity=product.popularity,
                    markets=_markets_for(product, attributes),
                    shelf_life_months=product.shelf_life_months,
                    lot_tracked=product.lot_tracked,
                )
            )
    by_code = {sku.code: sku for sku in skus}
    for bundle in seller.bundles:
        skus.append(_bundle_sku(seller, bundle, by_code, next(serial)))
    return skus


def _bundle_sku(seller: SellerSpec, bundle: BundleSpec, by_code: dict[str, SkuPlan], serial: int) -> SkuPlan:
    components = tuple((f"{seller.prefix}-{code}", quantity) for code, quantity in bundle.components)
    parts = [by_code[code] for code, _ in components]  # KeyError here means a typo in products.py
    markets = tuple(m for m in ALL_MARKETS if all(m in part.markets for part in parts))
    return SkuPlan(
        code=f"{seller.prefix}-{bundle.code}",
        product_code=bundle.code,
        title=bundle.title,
        attributes={"kit": ", ".join(f"{quantity} × {code}" for code, quantity in components)},
        category=bundle.category,
        retail_usd=bundle.retail_usd,
        declared_usd=sum(
            part.declared_usd * quantity for part, (_, quantity) in zip(parts, components, strict=True)
        ),
        weight_grams=sum(
            part.weight_grams * quantity for part, (_, quantity) in zip(parts, components, strict=True)
        ),
        hs_code=parts[0].hs_code,
        barcode=ean13(GS1_PREFIX[seller.prefix], serial),
        popularity=bundle.popularity,
        markets=markets,
        is_bundle=True,
        components=components,
    )


def plan_batches(skus: list[SkuPlan], rng: random.Random) -> None:
    """Two or three lots per lot-tracked SKU; cosmetics carry an expiry date, a few of them close to it."""
    today = DEMO_NOW.date()
    for sku in skus:
        if not sku.lot_tracked:
            continue
        count = rng.choice((2, 2, 3))
        made = today - timedelta(days=rng.randint(420, 640))
        for index in range(count):
            expires = None
            if sku.shelf_life_months is not None:
                expires = made + timedelta(days=round(sku.shelf_life_months * 30.44))
            code = f"L{made:%y%m}{chr(ord('A') + index)}"
            received = datetime.combine(
                made + timedelta(days=rng.randint(25, 45)), datetime.min.time(), DEMO_NOW.tzinfo
            )
            sku.batches.append(BatchPlan(code, made, expires, received))
            made = made + timedelta(days=rng.randint(110, 200))
            if made > today - timedelta(days=50):
                break


def plan_stock(seller: SellerSpec, skus: list[SkuPlan], rng: random.Random) -> list[StockPlan]:
    """Stock of every sellable SKU in each warehouse that serves one of its markets (kits have none)."""
    rows: list[StockPlan] = []
    for code in seller.warehouses:
        served = set(WAREHOUSES[code].regions_served)
        for sku in skus:
            if sku.is_bundle or not served.intersection(sku.markets):
                continue
            base = max(10, round(sku.popularity * rng.uniform(1.5, 4.5)))
            threshold = max(5, base // 8)
            lots: list[str | None] = [batch.code for batch in sku.batches] or [None]
            for position, lot in enumerate(lots):
                newest = position == len(lots) - 1
                on_hand = base if newest else rng.randint(0, base // 4)
                if newest and rng.random() < 0.08:
                    on_hand = rng.randint(0, threshold)  # near sell-out: the allocation and restock stories
                # Older lots are being sold down; the low-stock alert watches the newest one.
                rows.append(StockPlan(code, sku.code, lot, on_hand, threshold if newest else 0))
    return rows


def market_price(retail_usd: int, currency: str) -> int:
    """A list price in the market's currency and minor units, with the local price endings (x.99, ¥x,980)."""
    amount = retail_usd / 100 * USD_RATES[currency]
    if currency == "JPY":
        return max(480, math.ceil(amount / 100) * 100 - 20)
    if currency in ("AED", "SAR"):
        return (math.ceil(amount / 5) * 5 - 1) * 100
    exponent = minor_exponent(currency)
    return math.ceil(amount) * 10**exponent - 1
