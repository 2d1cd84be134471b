"""photo checks: buyer photos' fingerprints, reuse across cases and capture-date findings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aftersail.kit.db
from aftersail.kit.rls import disable_rls, enable_rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TENANT_TABLES = ["photo_checks"]


def upgrade() -> None:
    op.create_table(
        "photo_checks",
        sa.Column("attachment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("phash", sa.String(length=16), nullable=False),
        sa.Column("dhash", sa.String(length=16), nullable=False),
        sa.Column("taken_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("camera", sa.String(length=200), nullable=False),
        sa.Column("date_finding", sa.String(length=20), nullable=False),
        sa.Column("reused", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=False),
        sa.Column("model_reading", sa.JSON(), nullable=False),
        sa.Column("created_at", aftersail.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_photo_checks_attachment_id_attachments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_photo_checks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_photo_checks_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_photo_checks")),
    )
    with op.batch_alter_table("photo_checks", schema=None) as batch_op:
        batch_op.create_index("ix_photo_checks_tenant_ticket", ["tenant_id", "ticket_id"], unique=False)
    enable_rls(TENANT_TABLES)


def downgrade() -> None:
    disable_rls(TENANT_TABLES)
    with op.batch_alter_table("photo_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_checks_tenant_ticket")
    op.drop_table("photo_checks")
