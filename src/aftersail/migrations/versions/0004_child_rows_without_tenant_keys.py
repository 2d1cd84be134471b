"""child rows of an order without their own tenant foreign key; allocation lines' SKU is a copy

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 20:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Rows that always belong to a parent of the same tenant; a tenant's deletion reaches them through it
# (ADR 0009).
CHILD_TABLES = ["order_lines", "allocations", "allocation_lines", "order_events"]
# SQLite rebuilds each table from its reflection; the tables its keys point at need not be reflected too
# (their expression indexes cannot be, and each would warn).
_REFLECT = {"resolve_fks": False}


def upgrade() -> None:
    for table in CHILD_TABLES:
        with op.batch_alter_table(table, schema=None, reflect_kwargs=_REFLECT) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_tenant_id_tenants", type_="foreignkey")
    with op.batch_alter_table("allocation_lines", schema=None, reflect_kwargs=_REFLECT) as batch_op:
        batch_op.drop_constraint("fk_allocation_lines_sku_id_skus", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("allocation_lines", schema=None, reflect_kwargs=_REFLECT) as batch_op:
        batch_op.create_foreign_key(
            "fk_allocation_lines_sku_id_skus", "skus", ["sku_id"], ["id"], ondelete="RESTRICT"
        )
    for table in CHILD_TABLES:
        with op.batch_alter_table(table, schema=None, reflect_kwargs=_REFLECT) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
            )
