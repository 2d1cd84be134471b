"""video: inspection calls, their seats and snapshots, and the evidence chain of every case

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 20:22:58.876800
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftersail.kit.db
from aftersail.kit.rls import disable_rls, enable_rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TENANT_TABLES = ["inspection_calls", "call_seats", "call_snapshots", "evidence_entries"]


def upgrade() -> None:
    op.create_table(
        "inspection_calls",
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "purpose",
            sa.Enum(
                "return_inspection",
                "pre_shipment",
                "usage_help",
                name="callpurpose",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "ringing",
                "connected",
                "reconnecting",
                "ended",
                name="callstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("status_since", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("media_instance", sa.String(length=64), nullable=False),
        sa.Column("room", sa.BigInteger(), nullable=False),
        sa.Column("room_pin", sa.String(length=64), nullable=False),
        sa.Column("bitrate", sa.Integer(), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("link_expires_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("connected_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "end_reason",
            sa.Enum(
                "hung_up",
                "buyer_left",
                "dropped",
                "not_answered",
                "cancelled",
                name="endreason",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "recording_status",
            sa.Enum(
                "none",
                "recording",
                "processing",
                "ready",
                "failed",
                "deleted",
                name="recordingstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("recording_error", sa.String(length=500), nullable=False),
        sa.Column("recording_ms", sa.Integer(), nullable=False),
        sa.Column("retention_until", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_inspection_calls_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_inspection_calls_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_inspection_calls_return_id_return_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inspection_calls_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_inspection_calls_ticket_id_tickets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_calls")),
        sa.UniqueConstraint("room", name=op.f("uq_inspection_calls_room")),
    )
    with op.batch_alter_table("inspection_calls", schema=None) as batch_op:
        batch_op.create_index("ix_inspection_calls_retention", ["recording_status", "ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspection_calls_return_id"), ["return_id"], unique=False)
        batch_op.create_index("ix_inspection_calls_status", ["status", "status_since"], unique=False)
        batch_op.create_index("ix_inspection_calls_tenant_ticket", ["tenant_id", "ticket_id"], unique=False)

    op.create_table(
        "call_seats",
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "seat", sa.Enum("buyer", "staff", name="seat", native_enum=False, length=32), nullable=False
        ),
        sa.Column("room_token", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("feed_id", sa.BigInteger(), nullable=True),
        sa.Column("feeds", sa.JSON(), nullable=False),
        sa.Column("joined_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("media_up", sa.Boolean(), nullable=False),
        sa.Column("network", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["inspection_calls.id"],
            name=op.f("fk_call_seats_call_id_inspection_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_call_seats_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("call_id", "seat", name=op.f("pk_call_seats")),
    )
    op.create_table(
        "call_snapshots",
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "seat", sa.Enum("buyer", "staff", name="seat", native_enum=False, length=32), nullable=False
        ),
        sa.Column("taken_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("taken_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("attachment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("offset_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=False),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_call_snapshots_attachment_id_attachments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["inspection_calls.id"],
            name=op.f("fk_call_snapshots_call_id_inspection_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["taken_by_id"],
            ["users.id"],
            name=op.f("fk_call_snapshots_taken_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_call_snapshots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_snapshots")),
    )
    with op.batch_alter_table("call_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_call_snapshots_call", ["call_id"], unique=False)

    op.create_table(
        "evidence_entries",
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "buyer_photo",
                "buyer_video",
                "grading_photo",
                "recording",
                "recording_raw",
                "snapshot",
                "annotation",
                "deletion",
                name="evidencekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attachment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("received_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("captured_by", sa.String(length=120), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_evidence_entries_attachment_id_attachments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["inspection_calls.id"],
            name=op.f("fk_evidence_entries_call_id_inspection_calls"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["return_requests.id"],
            name=op.f("fk_evidence_entries_return_id_return_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_evidence_entries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_evidence_entries_ticket_id_tickets"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_entries")),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_evidence_entries_ticket_seq"),
    )
    with op.batch_alter_table("evidence_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evidence_entries_retention", ["kind", "deleted_at", "received_at"], unique=False
        )
        batch_op.create_index("ix_evidence_entries_tenant_ticket", ["tenant_id", "ticket_id"], unique=False)
    enable_rls(TENANT_TABLES)


def downgrade() -> None:
    disable_rls(TENANT_TABLES)
    with op.batch_alter_table("evidence_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_entries_tenant_ticket")
        batch_op.drop_index("ix_evidence_entries_retention")

    op.drop_table("evidence_entries")
    with op.batch_alter_table("call_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_call_snapshots_call")

    op.drop_table("call_snapshots")
    op.drop_table("call_seats")
    with op.batch_alter_table("inspection_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inspection_calls_tenant_ticket")
        batch_op.drop_index("ix_inspection_calls_status")
        batch_op.drop_index(batch_op.f("ix_inspection_calls_return_id"))
        batch_op.drop_index("ix_inspection_calls_retention")

    op.drop_table("inspection_calls")
