"""The connection a long-lived task owns (kit/owned_connection.py): each transaction scoped to its tenant by
row-level security and to nothing after it, a session scoped to every tenant for the dispatcher, a
rollback on error, and a new connection when the old one died while idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aftersail.kit.db import Database
from aftersail.kit.owned_connection import OwnedConnection
from tests.factories import make_tenant

pytestmark = pytest.mark.postgres
APP_ROLE = "aftersail_owned_probe"


@pytest.fixture(scope="module")
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    """The test database, with a role that row-level security binds (superusers bypass it)."""
    probe = OwnedConnection(postgres_url)
    async with probe.run() as driver:
        await driver.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') "
            f"THEN CREATE ROLE {APP_ROLE} NOLOGIN; END IF; END $$"
        )
        await driver.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        await driver.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"
        )
    await probe.close()
    db = Database(postgres_url)
    yield db
    await db.dispose()


async def test_a_transaction_sees_its_tenant_only_and_the_scope_ends_with_it(pg: Database) -> None:
    first = await make_tenant(pg)
    second = await make_tenant(pg)
    owned = OwnedConnection(pg.url)
    try:
        async with owned.transaction(tenant_id=second.tenant_id) as driver:
            await driver.execute(f"SET LOCAL ROLE {APP_ROLE}")
            emails = {row["email"] for row in await driver.fetch("SELECT email FROM users")}
        assert second.admin_email in emails
        assert first.admin_email not in emails
        async with owned.run() as driver:
            assert await driver.fetchval("SELECT current_setting('aftersail.tenant_id', true)") in ("", None)
        async with owned.transaction(tenant_id=first.tenant_id) as driver:
            await driver.execute(f"SET LOCAL ROLE {APP_ROLE}")
            emails = {row["email"] for row in await driver.fetch("SELECT email FROM users")}
        assert first.admin_email in emails
        assert second.admin_email not in emails
    finally:
        await owned.close()


async def test_a_system_connection_sees_every_tenant(pg: Database) -> None:
    first = await make_tenant(pg)
    second = await make_tenant(pg)
    owned = OwnedConnection(pg.url, system=True)
    try:
        async with owned.transaction() as driver:
            await driver.execute(f"SET LOCAL ROLE {APP_ROLE}")
            emails = {row["email"] for row in await driver.fetch("SELECT email FROM users")}
        assert {first.admin_email, second.admin_email} <= emails
    finally:
        await owned.close()


async def test_an_error_rolls_the_transaction_back(pg: Database) -> None:
    tenant = await make_tenant(pg)
    owned = OwnedConnection(pg.url)
    try:
        with pytest.raises(RuntimeError):
            async with owned.transaction(tenant_id=tenant.tenant_id) as driver:
                await driver.execute("UPDATE tenants SET name = 'Renamed' WHERE id = $1", tenant.tenant_id)
                raise RuntimeError("the unit of work failed")
        async with owned.transaction(tenant_id=tenant.tenant_id) as driver:
            name = await driver.fetchval("SELECT name FROM tenants WHERE id = $1", tenant.tenant_id)
        assert name != "Renamed"
    finally:
        await owned.close()


async def test_a_connection_that_died_while_idle_is_replaced(pg: Database) -> None:
    tenant = await make_tenant(pg)
    owned = OwnedConnection(pg.url)
    killer = OwnedConnection(pg.url)
    try:
        async with owned.run() as driver:
            pid = await driver.fetchval("SELECT pg_backend_pid()")
        async with killer.run() as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.1)
        async with owned.transaction(tenant_id=tenant.tenant_id) as driver:
            assert await driver.fetchval("SELECT pg_backend_pid()") != pid
            assert await driver.fetchval("SELECT current_setting('aftersail.tenant_id')") == str(
                tenant.tenant_id
            )
    finally:
        await owned.close()
        await killer.close()


async def test_tasks_sharing_it_take_turns(pg: Database) -> None:
    tenant = await make_tenant(pg)
    owned = OwnedConnection(pg.url)

    async def one(n: int) -> int:
        async with owned.transaction(tenant_id=tenant.tenant_id) as driver:
            await driver.execute("SELECT pg_sleep(0.01)")
            return int(await driver.fetchval("SELECT $1::int", n))

    try:
        assert await asyncio.gather(*(one(n) for n in range(8))) == list(range(8))
    finally:
        await owned.close()
