"""The `aftersail` command line (Typer + Rich)."""

from __future__ import annotations

import typer

from aftersail.cli import admin, data, demo, evidence, nlu, outbox, server

app = typer.Typer(
    help="AfterSail: after-sales service desk for cross-border sellers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
server.register(app)
demo.register(app)
data.register(app)
admin.register(app)
outbox.register(app)
nlu.register(app)
evidence.register(app)


def main() -> None:
    app()
