"""returns: return requests (RMA), their lines, audit events, evidence and refunds

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftersail.kit.db
from aftersail.kit.rls import disable_rls, enable_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TENANT_TABLES = ["return_requests", "return_lines", "return_events", "return_evidence", "refunds"]


def upgrade() -> None:
    op.create_table(
        "return_requests",
        sa.Column("rma_number", sa.String(length=32), nullable=False),
        sa.Column("submission_key", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "rejected",
                "keep_refunded",
                "in_transit",
                "received",
                "graded",
                "refunded",
                "exchanged",
                "closed",
                "cancelled",
                name="returnstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "does_not_fit",
                "not_as_described",
                "damaged",
                "defective",
                "wrong_item",
                "missing_parts",
                "changed_mind",
                "arrived_late",
                "other",
                name="reason",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sub_reason", sa.String(length=40), nullable=False),
        sa.Column(
            "resolution",
            sa.Enum(
                "refund",
                "exchange",
                "store_credit",
                "replacement",
                "repair",
                name="resolution",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("buyer_note", sa.String(length=2000), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "auto_approved", "manual_review", "rejected", name="outcome", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("decision_reason", sa.String(length=300), nullable=False),
        sa.Column("window_ends_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "freight_payer",
            sa.Enum("seller", "buyer", name="payer", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("keep_item", sa.Boolean(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("routing_reason", sa.String(length=300), nullable=False),
        sa.Column("carrier", sa.String(length=40), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("label_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "replacement_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("instant_exchange", sa.Boolean(), nullable=False),
        sa.Column("refund_due_minor", sa.BigInteger(), nullable=False),
        sa.Column("restocking_fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("reverse_freight_minor", sa.BigInteger(), nullable=False),
        sa.Column("handling_minor", sa.BigInteger(), nullable=False),
        sa.Column("restock_value_minor", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_return_requests_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_return_requests_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["replacement_order_id"],
            ["orders.id"],
            name=op.f("fk_return_requests_replacement_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_return_requests_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_return_requests_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_return_requests_warehouse_id_warehouses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_requests")),
        sa.UniqueConstraint("tenant_id", "rma_number", name="uq_return_requests_tenant_rma"),
        sa.UniqueConstraint("tenant_id", "submission_key", name="uq_return_requests_tenant_submission"),
    )
    with op.batch_alter_table("return_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_return_requests_tenant_customer", ["tenant_id", "customer_id", "requested_at"], unique=False
        )
        batch_op.create_index("ix_return_requests_tenant_order", ["tenant_id", "order_id"], unique=False)
        batch_op.create_index(
            "ix_return_requests_tenant_status", ["tenant_id", "status", "requested_at"], unique=False
        )
        batch_op.create_index(
            "ix_return_requests_tenant_tracking", ["tenant_id", "tracking_number"], unique=False
        )

    op.create_table(
        "refunds",
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("refund", "store_credit", "keep_refund", name="refundkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "pending",
                "succeeded",
                "failed",
                name="refundstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=120), nullable=False),
        sa.Column("store_credit_code", sa.String(length=40), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_refunds_return_id_return_requests"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_refunds_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_refunds_tenant_key"),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_return_id"), ["return_id"], unique=False)

    op.create_table(
        "return_events",
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_return_events_return_id_return_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_events")),
    )
    with op.batch_alter_table("return_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_events_return_id"), ["return_id"], unique=False)

    op.create_table(
        "return_lines",
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("why", sa.String(length=200), nullable=False),
        sa.Column("refund_minor", sa.BigInteger(), nullable=False),
        sa.Column("restocking_fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("exchange_sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("keep", sa.Boolean(), nullable=False),
        sa.Column("cost_back_minor", sa.BigInteger(), nullable=False),
        sa.Column("worth_back_minor", sa.BigInteger(), nullable=False),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "grade", sa.Enum("A", "B", "C", "D", name="grade", native_enum=False, length=32), nullable=True
        ),
        sa.Column(
            "disposition",
            sa.Enum(
                "restock",
                "refurbish",
                "liquidate",
                "return_to_supplier",
                "destroy",
                name="disposition",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("grading_note", sa.String(length=1000), nullable=False),
        sa.Column("graded_by", sa.String(length=80), nullable=False),
        sa.Column("graded_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_lines_quantity_positive")),
        sa.CheckConstraint("received_quantity >= 0", name=op.f("ck_return_lines_received_not_negative")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_return_lines_batch_id_batches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["exchange_sku_id"],
            ["skus.id"],
            name=op.f("fk_return_lines_exchange_sku_id_skus"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_return_lines_order_line_id_order_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_return_lines_return_id_return_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_return_lines_sku_id_skus"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_lines")),
    )
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_lines_return_id"), ["return_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_return_lines_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "return_evidence",
        sa.Column("attachment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("return_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_return_evidence_attachment_id_attachments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_return_evidence_return_id_return_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name=op.f("fk_return_evidence_return_line_id_return_lines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_return_evidence")),
    )
    with op.batch_alter_table("return_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_evidence_return_id"), ["return_id"], unique=False)

    enable_rls(TENANT_TABLES)


def downgrade() -> None:
    disable_rls(TENANT_TABLES)
    with op.batch_alter_table("return_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_evidence_return_id"))

    op.drop_table("return_evidence")
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_lines_sku_id"))
        batch_op.drop_index(batch_op.f("ix_return_lines_return_id"))

    op.drop_table("return_lines")
    with op.batch_alter_table("return_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_return_events_return_id"))

    op.drop_table("return_events")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_return_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("return_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_return_requests_tenant_tracking")
        batch_op.drop_index("ix_return_requests_tenant_status")
        batch_op.drop_index("ix_return_requests_tenant_order")
        batch_op.drop_index("ix_return_requests_tenant_customer")

    op.drop_table("return_requests")
