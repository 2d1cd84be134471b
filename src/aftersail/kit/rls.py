"""PostgreSQL row-level security for tenant tables: defence in depth behind the tenant filter that every
query already carries. See docs/subsystems/tenancy.md."""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op

POLICY = "tenant_isolation"


def predicate(column: str = "tenant_id") -> str:
    return (
        "current_setting('aftersail.system', true) = 'on' OR "
        f"{column} = NULLIF(current_setting('aftersail.tenant_id', true), '')::bigint"
    )


def enable_rls(tables: Iterable[str], column: str = "tenant_id") -> None:
    """Call from a migration after creating tenant tables; a no-op on SQLite."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FORCE: the table owner (the application role) is bound by the policy too.
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {POLICY} ON {table} USING ({predicate(column)}) WITH CHECK ({predicate(column)})"
        )


def disable_rls(tables: Iterable[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
