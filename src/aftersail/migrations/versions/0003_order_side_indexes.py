"""order-side indexes: customers by lower(email); no lone tenant_id index where another serves

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tables whose lone tenant_id index serves no query (ADR 0007).
UNINDEXED_TENANT = [
    "customers",
    "orders",
    "order_lines",
    "shipment_groups",
    "allocations",
    "allocation_lines",
    "order_events",
    "skus",
]


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_email")
        batch_op.create_index(
            "ix_customers_tenant_email", ["tenant_id", sa.text("lower(email)")], unique=False
        )
    for table in UNINDEXED_TENANT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_tenant_id")


def downgrade() -> None:
    for table in UNINDEXED_TENANT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_tenant_id", ["tenant_id"], unique=False)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_tenant_email")
        batch_op.create_index("ix_customers_tenant_email", ["tenant_id", "email"], unique=False)
