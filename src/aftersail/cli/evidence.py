"""`evidence verify CASE` and `evidence export CASE --out bundle.zip`: check a case's evidence chain against
the files on this server, and write its bundle for a marketplace or payment dispute. CASE is a ticket id
(`123` or `#123`) or a return's RMA number (`RMA0000123`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.cli.common import console, err_console, load_settings, open_database, run
from aftersail.kit.errors import NotFound
from aftersail.returns.models import ReturnRequest
from aftersail.support.models import Ticket
from aftersail.video import evidence
from aftersail.video.evidence_check import ChainReport, ItemState
from aftersail.video.evidence_export import build_export

evidence_app = typer.Typer(help="The evidence chain of a case: verify it, export it.", no_args_is_help=True)
TICKET = re.compile(r"#?(\d{1,18})")
STATE_STYLE = {
    ItemState.OK: "green",
    ItemState.DELETED: "dim",
    ItemState.ALTERED: "bold red",
    ItemState.MISSING: "bold red",
}


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")


async def find_case(session: AsyncSession, case: str) -> tuple[int, int]:
    """(tenant id, ticket id) of CASE, looked up across tenants (the command runs as the operator)."""
    code = case.strip()
    if match := TICKET.fullmatch(code):
        ticket = await session.get(Ticket, int(match.group(1)))
        if ticket is not None:
            return ticket.tenant_id, ticket.id
        raise NotFound(f"No case (ticket) {code}.")
    ret = await session.scalar(select(ReturnRequest).where(ReturnRequest.rma_number == code.upper()).limit(1))
    if ret is None or ret.ticket_id is None:
        raise NotFound(f"No case has the RMA number {code.upper()}.")
    return ret.tenant_id, ret.ticket_id


def _print_report(report: ChainReport) -> None:
    table = Table("seq", "kind", "file", "sha256", "state", "problems", title=f"Case #{report.case_id}")
    for item in report.items:
        style = STATE_STYLE[item.state]
        table.add_row(
            str(item.seq),
            item.kind.value,
            item.filename,
            item.sha256[:12],
            f"[{style}]{item.state.value}[/{style}]",
            "; ".join(item.problems),
        )
    console.print(table)
    console.print(f"head hash {report.head_hash}")


@evidence_app.command("verify")
def verify_command(case: Annotated[str, typer.Argument(help="Ticket id (123, #123) or RMA number")]) -> None:
    """Recompute every entry's hash and link and re-hash every file; exits 1 naming any item altered or
    missing and any entry removed or reordered."""
    settings = load_settings()

    async def _verify() -> ChainReport:
        db = open_database(settings)
        try:
            async with db.transaction(system=True, readonly=True) as session:
                tenant_id, ticket_id = await find_case(session, case)
                return await evidence.verify_case(session, settings.data_dir, ticket_id, tenant_id=tenant_id)
        finally:
            await db.dispose()

    try:
        report = run(_verify())
    except NotFound as missing:
        err_console.print(f"[red]{missing.message}[/red]")
        raise typer.Exit(2) from None
    _print_report(report)
    if report.ok:
        console.print(f"[green]Case #{report.case_id}: {len(report.items)} entries, all intact.[/green]")
        return
    for problem in report.chain_problems:
        err_console.print(f"[red]BROKEN CHAIN: {problem}[/red]")
    for item in report.failures:
        err_console.print(
            f"[red]{item.state.value.upper()}: entry {item.seq} ({item.kind.value}, {item.filename}): "
            f"{'; '.join(item.problems)}[/red]"
        )
    raise typer.Exit(1)


@evidence_app.command("export")
def export_command(
    case: Annotated[str, typer.Argument(help="Ticket id (123, #123) or RMA number")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the zip")],
) -> None:
    """Write the case's bundle: every file still present and manifest.json (entries, hashes, verification,
    how to verify)."""
    settings = load_settings()

    async def _export() -> dict[str, Any]:
        db = open_database(settings)
        try:
            async with db.transaction(system=True, readonly=True) as session:
                tenant_id, ticket_id = await find_case(session, case)
                return await build_export(session, settings.data_dir, tenant_id, ticket_id, out)
        finally:
            await db.dispose()

    try:
        manifest = run(_export())
    except NotFound as missing:
        err_console.print(f"[red]{missing.message}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Wrote {out} ({len(manifest['entries'])} entries).")
    if not manifest["verification"]["ok"]:
        err_console.print("[red]The chain does not verify; the manifest says which items.[/red]")
