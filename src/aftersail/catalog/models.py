"""Tables of the catalog domain."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin, TimestampMixin
from aftersail.kit.types import enum_column


class WarehouseCapability(StrEnum):
    FULFILMENT = "fulfilment"
    RETURNS = "returns"
    VIDEO_INSPECTION = "video_inspection"
    REFURBISHMENT = "refurbishment"


class Product(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "handle", name="uq_products_tenant_handle"),)

    handle: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(80))
    brand: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(String(4000), default="")


class Sku(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "skus"
    tenant_index = False  # uq_skus_tenant_code leads with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_skus_tenant_code"),
        CheckConstraint("declared_value_minor >= 0", name="declared_value_not_negative"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    category: Mapped[str] = mapped_column(String(80))
    declared_value_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    hs_code: Mapped[str] = mapped_column(String(16), default="")
    is_bundle: Mapped[bool] = mapped_column(default=False)
    barcode: Mapped[str] = mapped_column(String(64), default="")


class BundleComponent(TenantMixin, Base):
    """A kit: selling `bundle_sku_id` ships `quantity` of each component SKU."""

    __tablename__ = "bundle_components"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    bundle_sku_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True
    )
    component_sku_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("skus.id", ondelete="RESTRICT"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(Integer)


class Batch(IdMixin, TenantMixin, TimestampMixin, Base):
    """A production lot of one SKU; returns and complaints are counted per batch."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("sku_id", "code", name="uq_batches_sku_code"),)

    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    manufactured_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime | None]


class Warehouse(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "warehouses"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_warehouses_tenant_code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    regions_served: Mapped[list[Any]] = mapped_column(JSON, default=list)
    time_zone: Mapped[str] = mapped_column(String(64))
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    capabilities: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)


class Lane(IdMixin, TenantMixin, TimestampMixin, Base):
    """A shipping lane from a warehouse to a destination country, with transit and cost figures."""

    __tablename__ = "lanes"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "country", name="uq_lanes_warehouse_country"),
        CheckConstraint("transit_days_median > 0", name="median_positive"),
        CheckConstraint("transit_days_p90 >= transit_days_median", name="p90_not_below_median"),
        CheckConstraint("cost_minor >= 0", name="cost_not_negative"),
    )

    warehouse_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("warehouses.id", ondelete="CASCADE"), index=True
    )
    country: Mapped[str] = mapped_column(String(2))
    carrier: Mapped[str] = mapped_column(String(64), default="")
    transit_days_median: Mapped[int] = mapped_column(Integer)
    transit_days_p90: Mapped[int] = mapped_column(Integer)
    cost_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class StockLevel(IdMixin, TenantMixin, Base):
    """On-hand and reserved units of one SKU (and batch, when lot-tracked) in one warehouse.

    The CHECK constraints are the last line of defence against overselling: a conditional UPDATE that
    would take `available` below zero fails instead of writing.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("on_hand - reserved >= 0", name="available_not_negative"),
    )

    warehouse_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("warehouses.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("batches.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None]


class StockMovementKind(StrEnum):
    SNAPSHOT = "snapshot"
    ADJUSTMENT = "adjustment"
    RESERVED = "reserved"
    UNRESERVED = "unreserved"
    SHIPPED = "shipped"


class StockMovement(IdMixin, TenantMixin, Base):
    """Why on-hand or reserved changed: warehouse snapshots and adjustments, reservations and their release.
    Reconciliation reads this to explain a difference."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_level_created", "stock_level_id", "created_at"),)

    stock_level_id: Mapped[int] = mapped_column(BigId, ForeignKey("stock_levels.id", ondelete="CASCADE"))
    kind: Mapped[StockMovementKind] = mapped_column(enum_column(StockMovementKind))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reserved_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# One row per warehouse/SKU/batch slot; NULL batch counts as one slot (NULLs are distinct in a plain UNIQUE).
Index(
    "uq_stock_levels_slot",
    StockLevel.warehouse_id,
    StockLevel.sku_id,
    func.coalesce(StockLevel.batch_id, 0),
    unique=True,
)
