"""`users create` and `api-keys create`."""

from __future__ import annotations

from typing import Annotated

import typer

from aftersail.cli.common import console, err_console, load_settings, open_database, run
from aftersail.kit.errors import DomainError
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role

users_app = typer.Typer(help="Console users.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="api-keys")


@users_app.command("create")
def create_user(
    tenant: Annotated[str, typer.Option(help="Tenant slug")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()] = Role.AGENT,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
    locale: Annotated[str, typer.Option(help="Console language: zh or en")] = "zh",
) -> None:
    """Create a console user in a tenant."""

    async def _create() -> tuple[int, str]:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                found = await tenants.find_tenant_by_slug(session, tenant)
                user = await tenants.do_create_user(
                    session,
                    tenant_id=found.id,
                    email=email,
                    name=name,
                    password=password,
                    role=role,
                    locale=locale,
                )
                return user.id, user.email
        finally:
            await db.dispose()

    try:
        user_id, stored_email = run(_create())
    except DomainError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Created user {stored_email} (id {user_id}, role {role.value}).")


@keys_app.command("create")
def create_api_key(
    tenant: Annotated[str, typer.Option(help="Tenant slug")],
    name: Annotated[str, typer.Option(help="What the key is for")],
    role: Annotated[Role, typer.Option()] = Role.ADMIN,
) -> None:
    """Create an API key. The full key is printed once; only its prefix is kept readable."""

    async def _create() -> tuple[str, str]:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                found = await tenants.find_tenant_by_slug(session, tenant)
                full, key = await tenants.do_create_api_key(session, tenant_id=found.id, name=name, role=role)
                return full, key.prefix
        finally:
            await db.dispose()

    try:
        full, prefix = run(_create())
    except DomainError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"API key [bold]{prefix}[/bold] created. Copy it now; it will not be shown again:")
    print(full)
