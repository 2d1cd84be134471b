"""`serve`, `worker` and `migrate`."""

from __future__ import annotations

from typing import Annotated

import typer

from aftersail.cli.common import console, load_settings, open_database, run
from aftersail.kit.config import Settings


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(migrate)
    app.command()(worker)


def migrate() -> None:
    """Bring the database schema up to date (SQLite file or PostgreSQL)."""
    from aftersail.kit.migrate import upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url)
    console.print(f"[green]Database is up to date[/green] ({_redact(settings.resolved_database_url)})")


def serve(
    port: Annotated[int | None, typer.Option(help="Port (default AFTERSAIL_PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate before serving")
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes sharing the port (PostgreSQL; Redis for realtime)")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request (off behind a proxy)")
    ] = True,
) -> None:
    """Serve the API, the console and the buyer pages."""
    import os

    import uvicorn

    from aftersail.app import create_app
    from aftersail.kit.migrate import upgrade
    from aftersail.web.serving import PROTOCOL_OPTIONS, serve_workers, tune_collector

    settings = load_settings()
    if port is not None:
        settings.port = port
    if host is not None:
        settings.host = host
    if migrate_first:
        upgrade(settings.resolved_database_url)
    console.print(
        f"[bold]AfterSail[/bold] console: [link]{settings.base_url}/login[/link]   "
        f"API docs: {settings.base_url}/docs"
    )
    if run(_has_demo_tenant(settings)):
        _print_demo_logins()
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": access_log,
        "proxy_headers": True,
        **PROTOCOL_OPTIONS,
    }
    if workers == 1:
        app = create_app(settings)
        tune_collector()
        uvicorn.run(app, **options)
        return
    if settings.is_sqlite:
        raise typer.BadParameter("SQLite has one writer: serve it with one worker", param_hint="--workers")
    # Each worker process builds its own app from the environment, so the options given here go there too.
    os.environ["AFTERSAIL_HOST"], os.environ["AFTERSAIL_PORT"] = settings.host, str(settings.port)
    raise typer.Exit(serve_workers(options, workers))


def worker(
    concurrency: Annotated[int, typer.Option(help="Events handled at once")] = 4,
) -> None:
    """Run an outbox dispatcher as its own process (any number of them, on PostgreSQL)."""
    from aftersail.kit.worker import run_worker

    run_worker(load_settings(), concurrency=concurrency)


async def _has_demo_tenant(settings: Settings) -> bool:
    from sqlalchemy import select

    from aftersail.demo.accounts import DEMO_TENANT_SLUGS
    from aftersail.tenants.models import Tenant

    db = open_database(settings)
    try:
        async with db.transaction(system=True) as session:
            found = await session.scalar(select(Tenant.id).where(Tenant.slug.in_(DEMO_TENANT_SLUGS)).limit(1))
            return found is not None
    finally:
        await db.dispose()


def _print_demo_logins() -> None:
    from aftersail.demo.accounts import DEMO_LOGINS

    console.print("Demo logins (password for all: [bold]demo-pass-2026[/bold]):")
    for email, what in DEMO_LOGINS:
        console.print(f"  {email:<34} {what}")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
