"""`aftersail users create` and `aftersail api-keys create` on a fresh database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from aftersail.cli import app as cli
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade_async
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role

runner = CliRunner()


async def _make_tenant(url: str) -> None:
    await upgrade_async(url)
    db = Database(url)
    async with db.transaction(system=True) as session:
        await tenants.do_create_tenant(session, slug="acme", name="Acme Cross-Border")
    await db.dispose()


async def _check(url: str, email: str, password: str, key: str) -> tuple[Role, Role]:
    db = Database(url)
    async with db.transaction(system=True) as session:
        user = await tenants.check_login(session, email=email, password=password)
        api_key = await tenants.access_api_key(session, key)
        roles = (user.role, api_key.role)
    await db.dispose()
    return roles


def test_create_a_user_and_an_api_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    asyncio.run(_make_tenant(url))
    env = {"AFTERSAIL_DATABASE_URL": url}
    created = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            "Li.Na@acme.test",
            "--name",
            "李娜",
            "--role",
            "warehouse",
            "--password",
            "a-long-password",
        ],
        env=env,
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.stdout
    assert "li.na@acme.test" in created.stdout

    issued = runner.invoke(
        cli,
        ["api-keys", "create", "--tenant", "acme", "--name", "shop", "--role", "agent"],
        env=env,
        catch_exceptions=False,
    )
    assert issued.exit_code == 0
    key = issued.stdout.strip().splitlines()[-1]
    assert key.startswith("ask_") and "." in key
    assert asyncio.run(_check(url, "li.na@acme.test", "a-long-password", key)) == (Role.WAREHOUSE, Role.AGENT)


def test_refusals_are_clear_and_exit_non_zero(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    asyncio.run(_make_tenant(url))
    env = {"AFTERSAIL_DATABASE_URL": url}
    unknown = runner.invoke(cli, ["api-keys", "create", "--tenant", "nope", "--name", "x"], env=env)
    assert unknown.exit_code == 1 and "no tenant 'nope'" in unknown.stdout + unknown.stderr
    weak = runner.invoke(
        cli,
        [
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            "a@acme.test",
            "--name",
            "A",
            "--password",
            "short",
        ],
        env=env,
    )
    assert weak.exit_code == 1 and "at least 8 characters" in weak.stdout + weak.stderr
