"""Tables of the returns domain: a return request (RMA) with its lines, its audit trail, the buyer's evidence
and the money that went back."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin, TimestampMixin
from aftersail.kit.types import enum_column
from aftersail.returns.economics import Grade
from aftersail.returns.rules import Outcome, Payer, Reason, Resolution, ReturnStatus


class Disposition(StrEnum):
    RESTOCK = "restock"  # back on the shelf of the receiving warehouse, batch kept
    REFURBISH = "refurbish"
    LIQUIDATE = "liquidate"  # sold off locally
    RETURN_TO_SUPPLIER = "return_to_supplier"
    DESTROY = "destroy"


class RefundKind(StrEnum):
    REFUND = "refund"  # to the original payment
    STORE_CREDIT = "store_credit"
    KEEP_REFUND = "keep_refund"  # returnless: the buyer keeps the item


class RefundStatus(StrEnum):
    REQUESTED = "requested"  # stored with its idempotency key, not yet sent to the provider
    PENDING = "pending"  # the provider took it; money on its way (or a manual payout to make)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ReturnRequest(IdMixin, TenantMixin, TimestampMixin, Base):
    """One RMA: what the buyer asked, what the policy decided (rule and reason kept), where the parcel goes,
    what came back, and what it cost."""

    __tablename__ = "return_requests"
    tenant_index = False  # the unique keys below lead with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "rma_number", name="uq_return_requests_tenant_rma"),
        UniqueConstraint("tenant_id", "submission_key", name="uq_return_requests_tenant_submission"),
        Index("ix_return_requests_tenant_status", "tenant_id", "status", "requested_at"),
        Index("ix_return_requests_tenant_customer", "tenant_id", "customer_id", "requested_at"),
        Index("ix_return_requests_tenant_order", "tenant_id", "order_id"),
        Index("ix_return_requests_tenant_tracking", "tenant_id", "tracking_number"),
    )

    rma_number: Mapped[str] = mapped_column(String(32))
    # The buyer page's form token (or an API Idempotency-Key): the same submission never makes two returns.
    submission_key: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="RESTRICT"))
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="SET NULL"))
    status: Mapped[ReturnStatus] = mapped_column(enum_column(ReturnStatus), default=ReturnStatus.REQUESTED)
    reason: Mapped[Reason] = mapped_column(enum_column(Reason))
    sub_reason: Mapped[str] = mapped_column(String(40), default="")
    resolution: Mapped[Resolution] = mapped_column(enum_column(Resolution))
    buyer_note: Mapped[str] = mapped_column(String(2000), default="")
    market: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    # The decision (rules.decide_return), kept as made.
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome))
    rule: Mapped[str] = mapped_column(String(40))
    decision_reason: Mapped[str] = mapped_column(String(300))
    window_ends_at: Mapped[datetime | None]
    freight_payer: Mapped[Payer] = mapped_column(enum_column(Payer))
    keep_item: Mapped[bool] = mapped_column(default=False)  # returnless refund (仅退款)
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # fraud signals for agents
    # Where it goes back, and the parcel.
    warehouse_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("warehouses.id", ondelete="RESTRICT"))
    routing_reason: Mapped[str] = mapped_column(String(300), default="")
    carrier: Mapped[str] = mapped_column(String(40), default="")
    tracking_number: Mapped[str] = mapped_column(String(64), default="")
    label_sha256: Mapped[str] = mapped_column(String(64), default="")
    # The exchange or replacement order, reserved through allocation when decided.
    replacement_order_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="SET NULL")
    )
    instant_exchange: Mapped[bool] = mapped_column(default=False)
    # Money, in the order's currency (minor units).
    refund_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # what the decision refunds
    restocking_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reverse_freight_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    handling_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    restock_value_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Times: the cycle runs from request to money back (or the exchange shipped), due by `due_at`.
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    received_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]

    @property
    def loss_minor(self) -> int:
        """What the return cost the seller: money back and the way back, less what the goods are worth."""
        return (
            self.refunded_minor + self.reverse_freight_minor + self.handling_minor - self.restock_value_minor
        )


class ReturnLine(IdMixin, TenantMixin, Base):
    """One order line asked back: the policy's say, the return-or-keep figures, what the warehouse found."""

    __tablename__ = "return_lines"
    tenant_index = False  # reached through its return
    tenant_foreign_key = False  # its tenant is its parent's
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_quantity >= 0", name="received_not_negative"),
    )

    return_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("order_lines.id", ondelete="RESTRICT"))
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("skus.id", ondelete="RESTRICT"), index=True)
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("batches.id", ondelete="SET NULL"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    eligible: Mapped[bool] = mapped_column(default=True)
    why: Mapped[str] = mapped_column(String(200), default="")
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    restocking_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    exchange_sku_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("skus.id", ondelete="RESTRICT"))
    # Return or keep (economics.return_or_keep), per line.
    keep: Mapped[bool] = mapped_column(default=False)
    cost_back_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    worth_back_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Receiving and grading.
    received_quantity: Mapped[int] = mapped_column(Integer, default=0)
    grade: Mapped[Grade | None] = mapped_column(enum_column(Grade))
    disposition: Mapped[Disposition | None] = mapped_column(enum_column(Disposition))
    grading_note: Mapped[str] = mapped_column(String(1000), default="")
    graded_by: Mapped[str] = mapped_column(String(80), default="")
    graded_at: Mapped[datetime | None]


class ReturnEvent(IdMixin, TenantMixin, Base):
    """The audit of a return: every decision and step, who or what made it, with the rule and figures."""

    __tablename__ = "return_events"
    tenant_index = False  # reached through its return
    tenant_foreign_key = False  # its tenant is its parent's

    return_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReturnEvidence(TenantMixin, Base):
    """A photo or video the buyer (or the warehouse, grading) attached; the bytes are a ticket attachment."""

    __tablename__ = "return_evidence"
    tenant_index = False  # reached through its return
    tenant_foreign_key = False

    attachment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    return_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="CASCADE"), index=True
    )
    return_line_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("return_lines.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(20))  # buyer | warehouse
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(IdMixin, TenantMixin, Base):
    """Money back for a return. Stored with its idempotency key before the provider is called, so that a
    retried or double-clicked refund finds this row instead of paying twice."""

    __tablename__ = "refunds"
    tenant_index = False  # the unique key leads with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_refunds_tenant_key"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    return_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="RESTRICT"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[RefundKind] = mapped_column(enum_column(RefundKind))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus), default=RefundStatus.REQUESTED)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(40), default="")
    provider_refund_id: Mapped[str] = mapped_column(String(120), default="")
    store_credit_code: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]
