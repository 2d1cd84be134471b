"""`demo`: load the deterministic demo data (two sellers, five warehouses, catalog, 90 days of orders)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from aftersail.cli.common import console, err_console, load_settings, open_database, run

if TYPE_CHECKING:
    from aftersail.demo.loader import DemoSummary


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the demo tenants already exist")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same data)")] = None,
    orders: Annotated[
        int | None, typer.Option(min=0, max=200_000, help="How many orders in total (default 5000)")
    ] = None,
) -> None:
    """Load the demo sellers into the configured database (migrating it first)."""
    from aftersail.demo.loader import demo_present, load_demo
    from aftersail.demo.plan import DEFAULT_ORDERS, DEFAULT_SEED
    from aftersail.kit.errors import DomainError
    from aftersail.kit.migrate import upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url)

    async def _load() -> DemoSummary | None:
        db = open_database(settings)
        try:
            if if_empty and await demo_present(db):
                return None
            return await load_demo(
                db,
                seed=DEFAULT_SEED if seed is None else seed,
                orders=DEFAULT_ORDERS if orders is None else orders,
                files_dir=settings.data_dir,  # the demo returns' label PDFs
            )
        finally:
            await db.dispose()

    try:
        summary = run(_load())
    except DomainError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    # The demo sellers have the assistant on: its model is made ready here (loaded, or trained once and
    # saved), so that the server does not spend its first seconds training it while buyers wait.
    from aftersail.assistant import nlu

    nlu.base_model(settings.data_dir)
    if summary is None:
        console.print("Demo data already loaded; nothing to do.")
        return
    _print_summary(summary)


def _print_summary(summary: DemoSummary) -> None:
    from rich.table import Table

    from aftersail.demo.accounts import DEMO_LOGINS, DEMO_PASSWORD

    slugs = list(summary.counts)
    table = Table(title=f"Demo data loaded in {summary.seconds:.1f} s")
    table.add_column("")
    for slug in slugs:
        table.add_column(slug, justify="right")
    for key in summary.counts[slugs[0]]:
        table.add_row(key.replace("_", " "), *(f"{summary.counts[slug][key]:,}" for slug in slugs))
    console.print(table)
    console.print(f"Demo logins (password for all: [bold]{DEMO_PASSWORD}[/bold]):")
    for email, what in DEMO_LOGINS:
        console.print(f"  {email:<34} {what}", soft_wrap=True)
