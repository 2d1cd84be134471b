"""The whole demo as plain data, drawn from one seed: per seller, its catalog, stock, customers and orders."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aftersail.demo.catalog import SkuPlan, StockPlan, expand_catalog, plan_batches, plan_stock
from aftersail.demo.customers import CustomerPlan
from aftersail.demo.orders import OrderPlan, plan_orders
from aftersail.demo.sellers import SELLERS, SellerSpec

DEFAULT_SEED = 20261115
DEFAULT_ORDERS = 5000


@dataclass(slots=True)
class SellerPlan:
    seller: SellerSpec
    skus: list[SkuPlan]
    stock: list[StockPlan]
    customers: list[CustomerPlan]
    orders: list[OrderPlan]


def build_demo(seed: int = DEFAULT_SEED, orders: int = DEFAULT_ORDERS) -> list[SellerPlan]:
    """Each seller draws from its own random streams, so its data does not shift when the other's changes."""
    plans: list[SellerPlan] = []
    remaining = orders
    for position, seller in enumerate(SELLERS):
        share = remaining if position == len(SELLERS) - 1 else round(orders * seller.order_share)
        remaining -= share
        skus = expand_catalog(seller)
        plan_batches(skus, random.Random(f"{seed}:{seller.slug}:batches"))
        stock = plan_stock(seller, skus, random.Random(f"{seed}:{seller.slug}:stock"))
        customers, seller_orders = plan_orders(
            random.Random(f"{seed}:{seller.slug}:orders"), seller, skus, share, orders
        )
        plans.append(SellerPlan(seller, skus, stock, customers, seller_orders))
    return plans
