"""Row-level security on PostgreSQL: the database itself refuses cross-tenant reads and writes, even for
a query that forgot its tenant filter. Runs as a non-superuser role (superusers bypass RLS)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from aftersail.kit.db import Database, set_rls_context
from aftersail.orders.models import Customer
from aftersail.tenants.models import User
from tests.factories import make_tenant

pytestmark = pytest.mark.postgres
APP_ROLE = "aftersail_rls_probe"


@pytest.fixture(scope="module")
async def pg(postgres_url: str) -> Database:
    db = Database(postgres_url)
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') "
                f"THEN CREATE ROLE {APP_ROLE} NOLOGIN; END IF; END $$"
            )
        )
        await conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
        await conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
        )
        await conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}"))
    return db


async def test_policies_hide_other_tenants_rows(pg: Database) -> None:
    first = await make_tenant(pg)
    second = await make_tenant(pg)
    async with pg.transaction(tenant_id=second.tenant_id) as session:
        await session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        emails = set((await session.scalars(select(User.email))).all())  # no tenant filter on purpose
    assert second.admin_email in emails
    assert first.admin_email not in emails


async def test_no_tenant_context_sees_nothing(pg: Database) -> None:
    await make_tenant(pg)
    async with pg.transaction() as session:
        await session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_system_context_sees_every_tenant(pg: Database) -> None:
    first = await make_tenant(pg)
    second = await make_tenant(pg)
    async with pg.transaction(system=True) as session:
        await session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        emails = set((await session.scalars(select(User.email))).all())
    assert {first.admin_email, second.admin_email} <= emails


async def test_writing_into_another_tenant_is_refused(pg: Database) -> None:
    first = await make_tenant(pg)
    second = await make_tenant(pg)
    with pytest.raises(DBAPIError, match="row-level security"):
        async with pg.transaction(tenant_id=second.tenant_id) as session:
            await session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            session.add(
                Customer(
                    tenant_id=first.tenant_id,
                    name="Intruder",
                    email="x@example.com",
                    country="DE",
                    preferred_language="de",
                    time_zone="Europe/Berlin",
                )
            )
            await session.flush()


async def test_context_is_local_to_the_transaction(pg: Database) -> None:
    tenant = await make_tenant(pg)
    async with pg.transaction(tenant_id=tenant.tenant_id) as session:
        assert await session.scalar(text("SELECT current_setting('aftersail.tenant_id', true)")) == str(
            tenant.tenant_id
        )
        await set_rls_context(session, tenant_id=None, system=False)
        assert await session.scalar(text("SELECT current_setting('aftersail.tenant_id', true)")) == ""
    async with pg.transaction() as session:
        assert await session.scalar(text("SELECT current_setting('aftersail.tenant_id', true)")) in ("", None)
