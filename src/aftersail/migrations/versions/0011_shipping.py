"""shipping: shipments, tracking events (normalized + raw), parked events, dead letters, exceptions, claims

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:47:59.519701
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftersail.kit.db
from aftersail.kit.rls import disable_rls, enable_rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TENANT_TABLES = [
    "shipments",
    "tracking_events",
    "parked_tracking_events",
    "tracking_dead_letters",
    "shipment_exceptions",
    "delivery_claims",
]


def upgrade() -> None:
    op.create_table(
        "parked_tracking_events",
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "info_received",
                "in_transit",
                "customs",
                "out_for_delivery",
                "attempt_failed",
                "available_for_pickup",
                "delivered",
                "exception",
                "expired",
                name="status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "sub_status",
            sa.Enum(
                "",
                "held",
                "documents_required",
                "duties_due",
                "released",
                "lost",
                "damaged",
                "returned_to_sender",
                "address_issue",
                name="substatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_parked_tracking_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_tracking_events")),
        sa.UniqueConstraint(
            "tenant_id", "tracking_number", "fingerprint", name="uq_parked_tracking_events_number_fingerprint"
        ),
    )
    op.create_table(
        "tracking_dead_letters",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=False),
        sa.Column("received_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("replay_result", sa.String(length=2000), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracking_dead_letters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_dead_letters")),
    )
    with op.batch_alter_table("tracking_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracking_dead_letters_tenant_received", ["tenant_id", "received_at"], unique=False
        )

    op.create_table(
        "shipments",
        sa.Column(
            "direction",
            sa.Enum("outbound", "return", name="direction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("allocation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "info_received",
                "in_transit",
                "customs",
                "out_for_delivery",
                "attempt_failed",
                "available_for_pickup",
                "delivered",
                "exception",
                "expired",
                name="status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "sub_status",
            sa.Enum(
                "",
                "held",
                "documents_required",
                "duties_due",
                "released",
                "lost",
                "damaged",
                "returned_to_sender",
                "address_issue",
                name="substatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("shipped_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_since", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("events_count", sa.Integer(), nullable=False),
        sa.Column("promised_eta", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("eta", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("eta_latest", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("buyer_says_missing_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("open_exceptions", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("evaluated_events", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_shipments_allocation_id_allocations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_shipments_customer_id_customers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_shipments_return_id_return_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_shipments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name=op.f("fk_shipments_warehouse_id_warehouses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("tenant_id", "tracking_number", name="uq_shipments_tenant_tracking"),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_return_id"), ["return_id"], unique=False)
        batch_op.create_index(
            "ix_shipments_tenant_lane_delivered",
            ["tenant_id", "warehouse_id", "country", "delivered_at"],
            unique=False,
        )
        batch_op.create_index("ix_shipments_tenant_order", ["tenant_id", "order_id"], unique=False)
        batch_op.create_index(
            "ix_shipments_tenant_status", ["tenant_id", "status", "last_event_at"], unique=False
        )

    op.create_table(
        "delivery_claims",
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting_carrier",
                "found",
                "reshipped",
                "refunded",
                "needs_person",
                name="claimstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("buyer_note", sa.String(length=2000), nullable=False),
        sa.Column("decide_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome_note", sa.String(length=500), nullable=False),
        sa.Column(
            "replacement_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["replacement_order_id"],
            ["orders.id"],
            name=op.f("fk_delivery_claims_replacement_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_delivery_claims_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_delivery_claims_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_delivery_claims_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_claims")),
        sa.UniqueConstraint("shipment_id", name="uq_delivery_claims_shipment"),
    )
    with op.batch_alter_table("delivery_claims", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_claims_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "shipment_exceptions",
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "stalled",
                "customs_hold",
                "duties_due",
                "failed_attempts",
                "returned_to_sender",
                "lost",
                "damaged",
                "address_issue",
                "eta_slipped",
                "not_received",
                name="exceptionkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=4), nullable=False),
        sa.Column("opened_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("times_opened", sa.Integer(), nullable=False),
        sa.Column("notified_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_exceptions_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_shipment_exceptions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_shipment_exceptions_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_exceptions")),
        sa.UniqueConstraint("shipment_id", "kind", name="uq_shipment_exceptions_shipment_kind"),
    )
    with op.batch_alter_table("shipment_exceptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_shipment_exceptions_tenant_open", ["tenant_id", "resolved_at", "opened_at"], unique=False
        )

    op.create_table(
        "tracking_events",
        sa.Column("shipment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "info_received",
                "in_transit",
                "customs",
                "out_for_delivery",
                "attempt_failed",
                "available_for_pickup",
                "delivered",
                "exception",
                "expired",
                name="status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "sub_status",
            sa.Enum(
                "",
                "held",
                "documents_required",
                "duties_due",
                "released",
                "lost",
                "damaged",
                "returned_to_sender",
                "address_issue",
                name="substatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_tracking_events_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
        sa.UniqueConstraint("shipment_id", "fingerprint", name="uq_tracking_events_shipment_fingerprint"),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracking_events_shipment_time", ["shipment_id", "occurred_at"], unique=False
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivered_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True)
        )

    enable_rls(TENANT_TABLES)


def downgrade() -> None:
    disable_rls(TENANT_TABLES)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("delivered_at")

    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_events_shipment_time")

    op.drop_table("tracking_events")
    with op.batch_alter_table("shipment_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_shipment_exceptions_tenant_open")

    op.drop_table("shipment_exceptions")
    with op.batch_alter_table("delivery_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_claims_tenant_status")

    op.drop_table("delivery_claims")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_tenant_status")
        batch_op.drop_index("ix_shipments_tenant_order")
        batch_op.drop_index("ix_shipments_tenant_lane_delivered")
        batch_op.drop_index(batch_op.f("ix_shipments_return_id"))

    op.drop_table("shipments")
    with op.batch_alter_table("tracking_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_dead_letters_tenant_received")

    op.drop_table("tracking_dead_letters")
    op.drop_table("parked_tracking_events")
