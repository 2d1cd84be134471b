"""`outbox dead` and `outbox retry`: look at and revive events that exhausted their attempts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aftersail.cli.common import console, err_console, load_settings, open_database, run
from aftersail.kit import outbox

outbox_app = typer.Typer(help="The transactional outbox: dead letters.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


@outbox_app.command("dead")
def list_dead_events(limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """Events that exhausted their attempts, newest first, with their last error."""

    async def _list() -> list[tuple[int, int | None, str, int, str, str]]:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                events = await outbox.list_dead(session, limit=limit)
                return [
                    (
                        e.id,
                        e.tenant_id,
                        e.topic,
                        e.attempts,
                        f"{e.finished_at:%Y-%m-%d %H:%M:%S}" if e.finished_at else "",
                        (e.last_error or "").splitlines()[-1:][0] if e.last_error else "",
                    )
                    for e in events
                ]
        finally:
            await db.dispose()

    rows = run(_list())
    if not rows:
        console.print("No dead events.")
        return
    table = Table("id", "tenant", "topic", "attempts", "died (UTC)", "last error")
    for event_id, tenant_id, topic, attempts, died, error in rows:
        table.add_row(str(event_id), str(tenant_id or "-"), topic, str(attempts), died, error[:120])
    console.print(table)


@outbox_app.command("retry")
def retry_dead_event(event_id: int) -> None:
    """Give a dead event a fresh set of attempts (handlers that already applied it stay skipped)."""

    async def _retry() -> bool:
        db = open_database(load_settings())
        try:
            async with db.transaction(system=True) as session:
                return await outbox.do_retry_dead(session, event_id)
        finally:
            await db.dispose()

    if not run(_retry()):
        err_console.print(f"[red]Event {event_id} is not dead (or does not exist).[/red]")
        raise typer.Exit(1)
    console.print(f"Event {event_id} is pending again.")
