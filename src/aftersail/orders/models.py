"""Tables of the orders domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
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


class OrderChannel(StrEnum):
    WEB_SHOP = "web_shop"
    MARKETPLACE = "marketplace"
    LIVE_SESSION = "live_session"
    API = "api"


class OrderStatus(StrEnum):
    PENDING = "pending"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    RELEASED = "released"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Customer(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    tenant_index = False  # ix_customers_tenant_email leads with tenant_id

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(2))
    preferred_language: Mapped[str] = mapped_column(String(8))
    time_zone: Mapped[str] = mapped_column(String(64))


# Buyers are found by their e-mail address whatever its case (intake, buyer links, search).
Index("ix_customers_tenant_email", Customer.tenant_id, func.lower(Customer.email))


class LiveSession(IdMixin, TenantMixin, TimestampMixin, Base):
    """A live-stream sale (直播场次); its orders arrive in bursts."""

    __tablename__ = "live_sessions"

    title: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(120))
    market: Mapped[str] = mapped_column(String(2))
    platform: Mapped[str] = mapped_column(String(64), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]


class Order(IdMixin, TenantMixin, TimestampMixin, Base):
    __tablename__ = "orders"
    tenant_index = False  # uq_orders_tenant_number and ix_orders_tenant_placed lead with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", name="uq_orders_tenant_number"),
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        Index("ix_orders_tenant_placed", "tenant_id", "placed_at"),
    )

    number: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    channel: Mapped[OrderChannel] = mapped_column(enum_column(OrderChannel))
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus), default=OrderStatus.PENDING)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    country: Mapped[str] = mapped_column(String(2), index=True)
    live_session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("live_sessions.id", ondelete="SET NULL")
    )
    external_ref: Mapped[str] = mapped_column(String(120), default="")
    placed_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    # When the last parcel of the order was delivered (carrier tracking; the return window runs from it).
    delivered_at: Mapped[datetime | None]
    host: Mapped[str] = mapped_column(String(120), default="")


class OrderLine(IdMixin, TenantMixin, Base):
    __tablename__ = "order_lines"
    tenant_index = False  # reached through its order
    tenant_foreign_key = False  # its tenant is its parent's
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_not_negative"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    backordered_quantity: Mapped[int] = mapped_column(Integer, default=0)


class AllocationStatus(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class ShipmentGroup(IdMixin, TenantMixin, TimestampMixin, Base):
    """One parcel-to-be from one warehouse to one buyer's address; unpicked orders of the same buyer to the
    same address within the tenant's merge window share it (co-hosted streams, repeat buys)."""

    __tablename__ = "shipment_groups"
    tenant_index = False  # ix_shipment_groups_merge leads with tenant_id
    __table_args__ = (
        Index("ix_shipment_groups_merge", "tenant_id", "customer_id", "warehouse_id", "address_key"),
    )

    warehouse_id: Mapped[int] = mapped_column(BigId, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="RESTRICT"))
    address_key: Mapped[str] = mapped_column(String(64))
    is_open: Mapped[bool] = mapped_column(default=True)
    closes_at: Mapped[datetime]


class Allocation(IdMixin, TenantMixin, TimestampMixin, Base):
    """The part of an order one warehouse ships, with the reason it was chosen."""

    __tablename__ = "allocations"
    tenant_index = False  # reached through its order
    tenant_foreign_key = False  # its tenant is its parent's

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    warehouse_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("warehouses.id", ondelete="RESTRICT"), index=True
    )
    shipment_group_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("shipment_groups.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[AllocationStatus] = mapped_column(
        enum_column(AllocationStatus), default=AllocationStatus.RESERVED
    )
    reason: Mapped[str] = mapped_column(String(500))
    transit_days: Mapped[int | None] = mapped_column(Integer)


class AllocationLine(IdMixin, TenantMixin, Base):
    """Units of one SKU (and batch) reserved from one stock row for one order line. A bundle line has one
    allocation line per component."""

    __tablename__ = "allocation_lines"
    tenant_index = False  # reached through its allocation
    tenant_foreign_key = False  # its tenant is its parent's
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    allocation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("allocations.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    stock_level_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stock_levels.id", ondelete="RESTRICT"), index=True
    )
    # The stock row's SKU, copied for reports; the stock row's foreign key already holds the SKU in place.
    sku_id: Mapped[int] = mapped_column(BigId)
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("batches.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)


class OrderEvent(IdMixin, TenantMixin, Base):
    """The audit trail of an order: who did what, when, with the before/after in `details`."""

    __tablename__ = "order_events"
    tenant_index = False  # reached through its order
    tenant_foreign_key = False  # its tenant is its parent's

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(IdMixin, TenantMixin, Base):
    """A client's `Idempotency-Key` for one route: the same key and body give the same result."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "scope", "key", name="uq_idempotency_keys_scope_key"),)

    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
