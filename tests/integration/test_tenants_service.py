"""Users, console sessions and API keys on a migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput, Unauthenticated
from aftersail.tenants import service as tenants
from aftersail.tenants.models import ApiKey, Role, User
from tests.factories import PASSWORD, make_tenant


async def test_password_is_stored_as_argon2_and_login_works(database: Database) -> None:
    fixture = await make_tenant(database)
    async with database.transaction(system=True) as session:
        user = await session.scalar(select(User).where(User.email == fixture.admin_email))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        logged_in = await tenants.check_login(session, email=fixture.admin_email.upper(), password=PASSWORD)
        assert logged_in.id == fixture.admin_user_id
        with pytest.raises(Unauthenticated, match="Wrong email or password"):
            await tenants.check_login(session, email=fixture.admin_email, password="wrong-password")


async def test_duplicate_email_and_weak_password_are_refused(database: Database) -> None:
    fixture = await make_tenant(database)
    with pytest.raises(Conflict):
        async with database.transaction(system=True) as session:
            await tenants.do_create_user(
                session,
                tenant_id=fixture.tenant_id,
                email=fixture.admin_email,
                name="Again",
                password=PASSWORD,
                role=Role.AGENT,
            )
    with pytest.raises(InvalidInput, match="at least 8"):
        async with database.transaction(system=True) as session:
            await tenants.do_create_user(
                session,
                tenant_id=fixture.tenant_id,
                email="new@example.com",
                name="Weak",
                password="short",
                role=Role.AGENT,
            )


async def test_api_key_is_hashed_shown_once_and_revocable(database: Database) -> None:
    fixture = await make_tenant(database)
    async with database.transaction(system=True) as session:
        full, key = await tenants.do_create_api_key(
            session, tenant_id=fixture.tenant_id, name="shop", role=Role.AGENT
        )
    prefix, _, secret = full.partition(".")
    assert prefix == key.prefix and secret
    async with database.transaction(system=True) as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert stored is not None and secret not in stored.secret_hash
        assert (await tenants.access_api_key(session, full)).id == key.id
        with pytest.raises(Unauthenticated):
            await tenants.access_api_key(session, f"{prefix}.wrong")
        await tenants.do_revoke_api_key(session, tenant_id=fixture.tenant_id, api_key_id=key.id)
    async with database.transaction(system=True) as session:
        with pytest.raises(Unauthenticated, match="revoked"):
            await tenants.access_api_key(session, full)


async def test_console_session_expires_and_ends(database: Database) -> None:
    fixture = await make_tenant(database)
    async with database.transaction(system=True) as session:
        user = await tenants.check_login(session, email=fixture.admin_email, password=PASSWORD)
        token, _ = await tenants.do_start_session(session, user=user, max_age=timedelta(hours=1))
        expired_token, _ = await tenants.do_start_session(session, user=user, max_age=timedelta(seconds=-1))
    async with database.transaction(system=True) as session:
        _, found = await tenants.access_session(session, token)
        assert found.id == user.id
        with pytest.raises(Unauthenticated, match="ended"):
            await tenants.access_session(session, expired_token)
        await tenants.do_end_session(session, token)
    async with database.transaction(system=True) as session:
        with pytest.raises(Unauthenticated):
            await tenants.access_session(session, token)
