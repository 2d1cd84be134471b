"""Tables of the shipping domain: parcels (outbound per allocation, and return parcels), their carrier events
normalized with the raw event kept, events for numbers no parcel claims yet, payloads that could not be read,
the exceptions found and the delivered-not-received claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin, TimestampMixin
from aftersail.kit.types import enum_column
from aftersail.shipping.rules import ClaimStatus, Direction, ExceptionKind, Status, SubStatus


class Shipment(IdMixin, TenantMixin, TimestampMixin, Base):
    """One parcel with its carrier and tracking number: an allocation going out to the buyer, or a return
    coming back to a warehouse. Its status is the fold of its events in event time (`rules.fold`)."""

    __tablename__ = "shipments"
    tenant_index = False  # every index below leads with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "tracking_number", name="uq_shipments_tenant_tracking"),
        Index("ix_shipments_tenant_order", "tenant_id", "order_id"),
        Index("ix_shipments_tenant_status", "tenant_id", "status", "last_event_at"),
        Index("ix_shipments_tenant_lane_delivered", "tenant_id", "warehouse_id", "country", "delivered_at"),
    )

    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    allocation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("allocations.id", ondelete="SET NULL")
    )
    return_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="RESTRICT"))
    # The warehouse it leaves (outbound) or goes back to (return), and the buyer's country: the lane.
    warehouse_id: Mapped[int] = mapped_column(BigId, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    country: Mapped[str] = mapped_column(String(2))
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64))  # normalized (`normalized.normalize_number`)
    status: Mapped[Status] = mapped_column(enum_column(Status), default=Status.PENDING)
    sub_status: Mapped[SubStatus] = mapped_column(enum_column(SubStatus), default=SubStatus.NONE)
    shipped_at: Mapped[datetime]
    last_event_at: Mapped[datetime | None]
    status_since: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    events_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first expected date the buyer saw, and today's: the gap is the ETA-slipped rule's input.
    promised_eta: Mapped[datetime | None]
    eta: Mapped[datetime | None]
    eta_latest: Mapped[datetime | None]
    # The buyer said "delivered but not here" (the claim workflow starts).
    buyer_says_missing_at: Mapped[datetime | None]
    # Exceptions open right now (kinds), for the at-risk list; the rows are in `shipment_exceptions`.
    open_exceptions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evaluated_at: Mapped[datetime | None]
    # How many events the last evaluation folded: equal to `events_count` (kept by ingest), nothing is new.
    evaluated_events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TrackingEvent(IdMixin, TenantMixin, Base):
    """One carrier event: the normalized status and sub-status, and the carrier's event exactly as it came."""

    __tablename__ = "tracking_events"
    tenant_index = False  # reached through its shipment
    tenant_foreign_key = False  # its tenant is its shipment's
    __table_args__ = (
        UniqueConstraint("shipment_id", "fingerprint", name="uq_tracking_events_shipment_fingerprint"),
        Index("ix_tracking_events_shipment_time", "shipment_id", "occurred_at"),
    )

    shipment_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipments.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[Status] = mapped_column(enum_column(Status))
    sub_status: Mapped[SubStatus] = mapped_column(enum_column(SubStatus), default=SubStatus.NONE)
    description: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ParkedEvent(IdMixin, TenantMixin, Base):
    """An event for a tracking number no parcel has yet (the webhook came before the shipment was recorded):
    kept until a shipment with that number claims it."""

    __tablename__ = "parked_tracking_events"
    tenant_index = False  # the unique key leads with tenant_id
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "tracking_number", "fingerprint", name="uq_parked_tracking_events_number_fingerprint"
        ),
    )

    tracking_number: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(32))
    carrier: Mapped[str] = mapped_column(String(64), default="")
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[Status] = mapped_column(enum_column(Status))
    sub_status: Mapped[SubStatus] = mapped_column(enum_column(SubStatus), default=SubStatus.NONE)
    description: Mapped[str] = mapped_column(String(500), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DeadLetter(IdMixin, TenantMixin, Base):
    """A tracking payload that could not be read (malformed, unknown status): kept whole so that an admin
    can see why and replay it once the cause is fixed."""

    __tablename__ = "tracking_dead_letters"
    tenant_index = False
    __table_args__ = (Index("ix_tracking_dead_letters_tenant_received", "tenant_id", "received_at"),)

    source: Mapped[str] = mapped_column(String(16))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(String(2000))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replay_result: Mapped[str] = mapped_column(String(2000), default="")


class ShipmentException(IdMixin, TenantMixin, Base):
    """An exception the rules found on a parcel: when, what the buyer was told, the ticket it opened. One row
    per kind and parcel; found again after it cleared, it reopens."""

    __tablename__ = "shipment_exceptions"
    tenant_index = False
    __table_args__ = (
        UniqueConstraint("shipment_id", "kind", name="uq_shipment_exceptions_shipment_kind"),
        Index("ix_shipment_exceptions_tenant_open", "tenant_id", "resolved_at", "opened_at"),
    )

    shipment_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipments.id", ondelete="CASCADE"))
    kind: Mapped[ExceptionKind] = mapped_column(enum_column(ExceptionKind))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[str] = mapped_column(String(4))
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    times_opened: Mapped[int] = mapped_column(Integer, default=1)
    notified_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="SET NULL"))


class DeliveryClaim(IdMixin, TenantMixin, TimestampMixin, Base):
    """Delivered, but the buyer says it is not there: the carrier's window, then a reship or a refund."""

    __tablename__ = "delivery_claims"
    tenant_index = False
    __table_args__ = (
        UniqueConstraint("shipment_id", name="uq_delivery_claims_shipment"),
        Index("ix_delivery_claims_tenant_status", "tenant_id", "status"),
    )

    shipment_id: Mapped[int] = mapped_column(BigId, ForeignKey("shipments.id", ondelete="CASCADE"))
    status: Mapped[ClaimStatus] = mapped_column(enum_column(ClaimStatus), default=ClaimStatus.WAITING_CARRIER)
    buyer_note: Mapped[str] = mapped_column(String(2000), default="")
    decide_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    outcome_note: Mapped[str] = mapped_column(String(500), default="")
    replacement_order_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="SET NULL")
    )
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="SET NULL"))
