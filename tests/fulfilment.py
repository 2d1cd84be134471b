"""A small fulfilment network for tests, built through the catalog services: three warehouses (Frankfurt
serves DE/FR fast, Felixstowe serves GB fast and DE slower, New Jersey serves US), their lanes, one product
with SKUs, and stock. Tests change stock with `set_stock` to set up the case they need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select

from aftersail.catalog import service as catalog
from aftersail.catalog import stock
from aftersail.catalog.models import StockLevel
from aftersail.catalog.schemas import (
    BatchCreate,
    BundleComponentIn,
    LaneCreate,
    ProductCreate,
    SkuCreate,
    StockSet,
    WarehouseCreate,
)
from aftersail.kit.db import Database
from aftersail.orders.allocation import do_place_order
from aftersail.orders.models import Allocation, AllocationLine, AllocationStatus
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants import service as tenants

# warehouse code → (name, country, time zone, {destination: (median days, p90 days, cost in cents)})
NETWORK: dict[str, tuple[str, str, str, dict[str, tuple[int, int, int]]]] = {
    "FRA": (
        "Frankfurt (Raunheim)",
        "DE",
        "Europe/Berlin",
        {"DE": (2, 3, 450), "FR": (3, 4, 650), "GB": (4, 6, 900)},
    ),
    "FXT": ("Felixstowe (Suffolk)", "GB", "Europe/London", {"GB": (1, 2, 350), "DE": (4, 6, 800)}),
    "EWR": ("New Jersey (Cranbury, NJ)", "US", "America/New_York", {"US": (3, 5, 600)}),
}


@dataclass
class Network:
    tenant_id: int
    warehouses: dict[str, int] = field(default_factory=dict)  # code → id
    skus: dict[str, int] = field(default_factory=dict)  # short name → id
    codes: dict[str, str] = field(default_factory=dict)  # short name → SKU code

    async def set_stock(
        self,
        db: Database,
        warehouse: str,
        sku: str,
        on_hand: int,
        *,
        batch_id: int | None = None,
        low_stock_threshold: int | None = None,
    ) -> int:
        async with db.transaction(tenant_id=self.tenant_id) as session:
            level = await stock.do_set_stock(
                session,
                self.tenant_id,
                StockSet(
                    warehouse_id=self.warehouses[warehouse],
                    sku_id=self.skus[sku],
                    batch_id=batch_id,
                    on_hand=on_hand,
                    low_stock_threshold=low_stock_threshold,
                ),
            )
            return level.id

    async def add_batch(
        self,
        db: Database,
        sku: str,
        code: str,
        *,
        expires_on: date | None = None,
        received_on: date | None = None,
    ) -> int:
        """A batch (lot) of `sku`; received at midnight UTC of `received_on` when given."""
        received = None if received_on is None else f"{received_on.isoformat()}T00:00:00+00:00"
        async with db.transaction(tenant_id=self.tenant_id) as session:
            batch = await stock.do_create_batch(
                session,
                self.tenant_id,
                self.skus[sku],
                BatchCreate.model_validate({"code": code, "expires_on": expires_on, "received_at": received}),
            )
            return batch.id

    async def make_bundle(self, db: Database, bundle: str, components: dict[str, int]) -> None:
        """Turn SKU `bundle` into a kit of `components` (short SKU name → units per bundle)."""
        async with db.transaction(tenant_id=self.tenant_id) as session:
            await catalog.do_set_bundle_components(
                session,
                self.tenant_id,
                self.skus[bundle],
                [
                    BundleComponentIn(sku_id=self.skus[name], quantity=units)
                    for name, units in components.items()
                ],
            )

    async def stock_levels(self, db: Database) -> dict[tuple[str, str, int | None], tuple[int, int]]:
        """(warehouse code, SKU name, batch id) → (on hand, reserved) for every stock row of the network."""
        codes = {wid: code for code, wid in self.warehouses.items()}
        names = {sid: name for name, sid in self.skus.items()}
        async with db.transaction(tenant_id=self.tenant_id, readonly=True) as session:
            rows = await session.scalars(select(StockLevel).where(StockLevel.tenant_id == self.tenant_id))
            return {
                (codes[r.warehouse_id], names[r.sku_id], r.batch_id): (r.on_hand, r.reserved)
                for r in rows.all()
                if r.warehouse_id in codes and r.sku_id in names
            }


async def place_order(
    db: Database,
    network: Network,
    lines: dict[str, int],
    *,
    country: str = "DE",
    actor: str = "test",
    **extra: Any,
) -> int:
    """Place (create and allocate) an order through `orders.allocation.do_place_order`; its id."""
    async with db.transaction(tenant_id=network.tenant_id) as session:
        data = OrderCreate.model_validate(order_body(network, lines, country=country, **extra))
        return (await do_place_order(session, network.tenant_id, data, actor=actor)).id


async def reservation_mismatches(db: Database, tenant_id: int) -> dict[int, tuple[int, int]]:
    """Stock rows whose `reserved` differs from the units their live allocations hold: id → (reserved,
    allocated). Live = reserved or released for picking (release keeps the units reserved until shipped).
    Also reports a row below zero free stock. Empty when the books balance."""
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        held = dict(
            (
                await session.execute(
                    select(AllocationLine.stock_level_id, func.sum(AllocationLine.quantity))
                    .join(Allocation, Allocation.id == AllocationLine.allocation_id)
                    .where(
                        AllocationLine.tenant_id == tenant_id,
                        Allocation.tenant_id == tenant_id,
                        Allocation.status.in_([AllocationStatus.RESERVED, AllocationStatus.RELEASED]),
                    )
                    .group_by(AllocationLine.stock_level_id)
                )
            ).all()
        )
        rows = (await session.scalars(select(StockLevel).where(StockLevel.tenant_id == tenant_id))).all()
        return {
            row.id: (row.reserved, int(held.get(row.id, 0)))
            for row in rows
            if row.reserved != int(held.get(row.id, 0)) or row.reserved > row.on_hand or row.reserved < 0
        }


async def set_order_policy(db: Database, tenant_id: int, **orders: Any) -> None:
    """Set the tenant's order settings (`tenant.settings["orders"]`, read by `OrderPolicy.from_settings`)."""
    async with db.transaction(system=True) as session:
        tenant = await tenants.access_tenant(session, tenant_id)
        tenant.settings = {
            **(tenant.settings or {}),
            "orders": {**(tenant.settings or {}).get("orders", {}), **orders},
        }


async def make_network(
    db: Database, tenant_id: int, skus: tuple[str, ...] = ("lamp", "cable", "case")
) -> Network:
    """Warehouses and lanes of NETWORK and one product with the given SKUs (no stock yet)."""
    network = Network(tenant_id)
    suffix = uuid.uuid4().hex[:6].upper()
    async with db.transaction(tenant_id=tenant_id) as session:
        for code, (name, country, zone, lanes) in NETWORK.items():
            warehouse = await catalog.do_create_warehouse(
                session,
                tenant_id,
                WarehouseCreate(
                    code=code,
                    name=name,
                    country=country,
                    time_zone=zone,
                    regions_served=list(lanes),
                    capabilities=["fulfilment", "returns"],
                ),
            )
            network.warehouses[code] = warehouse.id
            for destination, (median, p90, cost) in lanes.items():
                await catalog.do_create_lane(
                    session,
                    tenant_id,
                    LaneCreate(
                        warehouse_id=warehouse.id,
                        country=destination,
                        transit_days_median=median,
                        transit_days_p90=p90,
                        cost_minor=cost,
                        currency="EUR",
                    ),
                )
        _, created = await catalog.do_create_product(
            session,
            tenant_id,
            ProductCreate(
                handle=f"desk-kit-{suffix.lower()}",
                title="Desk kit",
                category="electronics/lighting",
                skus=[
                    SkuCreate(
                        code=f"{name.upper()}-{suffix}",
                        title=name.title(),
                        declared_value_minor=2500,
                        currency="USD",
                        weight_grams=400,
                    )
                    for name in skus
                ],
            ),
        )
        for name, sku in zip(skus, created, strict=True):
            network.skus[name] = sku.id
            network.codes[name] = sku.code
    return network


def order_body(
    network: Network,
    lines: dict[str, int],
    *,
    country: str = "DE",
    email: str | None = None,
    currency: str = "EUR",
    **extra: object,
) -> dict[str, object]:
    """An API order body for `lines` (short SKU name → quantity) shipped to `country`."""
    return {
        "customer": {
            "name": "Lena Vogel",
            "email": email or f"lena-{uuid.uuid4().hex[:8]}@example.com",
            "country": country,
        },
        "currency": currency,
        "shipping_address": {
            "name": "Lena Vogel",
            "line1": "Hauptstraße 5",
            "city": "Berlin",
            "postal_code": "10115",
            "country": country,
        },
        "lines": [
            {"sku_id": network.skus[name], "quantity": qty, "unit_price_minor": 1999}
            for name, qty in lines.items()
        ],
        **extra,
    }
