"""`aftersail nlu train | classify | eval`: the assistant's offline understanding from the command line.

`classify` is a filter: JSON Lines in (`{"text": ...}`, other fields ignored), one JSON line out per line in,
in order (`{"intent", "lang", "confidence"}`); it classifies whatever has arrived as one batch, so a pipe of
a million lines runs at batch speed and an interactive line is answered at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aftersail.assistant import corrections, nlu
from aftersail.assistant.classify import classify_many
from aftersail.assistant.nlu_eval import evaluate
from aftersail.cli.common import console, err_console, load_settings, open_database, run
from aftersail.kit.config import Settings
from aftersail.kit.errors import NotFound
from aftersail.tenants import service as tenants

nlu_app = typer.Typer(help="Intent and language understanding (offline model).", no_args_is_help=True)

_READ_BYTES = 1 << 16


def register(app: typer.Typer) -> None:
    app.add_typer(nlu_app, name="nlu")


def _model() -> nlu.IntentModel:
    return nlu.base_model(load_settings().data_dir)


@nlu_app.command("train")
def train(
    tenant: Annotated[
        str | None,
        typer.Option(help="A tenant's slug: train its own model from its agents' corrections as well."),
    ] = None,
) -> None:
    """Train the model on the shipped data (data/train and the concept lexicon) and keep it in the data
    directory, where the server and the other commands find it. With --tenant, the tenant's model: the
    shipped data plus the intents its agents corrected on resolved tickets."""
    settings = load_settings()
    started = time.perf_counter()
    if tenant is None:
        examples = nlu.shipped_examples()
        model = nlu.IntentModel(examples)
        path = nlu.model_path(settings.data_dir)
        nlu.save_model(model, path)
        extra = ""
    else:
        tenant_id, corrected = run(_tenant_corrections(settings, tenant))
        model = corrections.train_tenant_model(settings.data_dir, tenant_id, corrected)
        path = nlu.model_path(settings.data_dir, corrections.model_name(tenant_id))
        examples = nlu.shipped_examples()
        extra = f" and {len(corrected):,} corrections by {tenant}'s agents"
    elapsed = time.perf_counter() - started
    languages = len({example.lang for example in examples})
    console.print(
        f"Trained on {len(examples):,} messages in {languages} languages{extra} in {elapsed:.1f} s; "
        f"saved to {path}."
    )


async def _tenant_corrections(settings: Settings, slug: str) -> tuple[int, list[nlu.Example]]:
    db = open_database(settings)
    try:
        async with db.transaction(system=True, readonly=True) as session:
            try:
                tenant = await tenants.find_tenant_by_slug(session, slug)
            except NotFound:
                err_console.print(f"[red]No tenant {slug!r}.[/red]")
                raise typer.Exit(2) from None
            return tenant.id, await corrections.tenant_examples(session, tenant.id)
    finally:
        await db.dispose()


@nlu_app.command("classify")
def classify_lines() -> None:
    """Read JSON Lines {"text": ...} on stdin; write {"intent", "lang", "confidence"} per line."""
    model = _model()
    stdin = sys.stdin.buffer.fileno()
    pending = b""
    number = 0
    while True:
        chunk = os.read(stdin, _READ_BYTES)
        if chunk:
            pending += chunk
            *complete, pending = pending.split(b"\n")
        else:
            complete, pending = ([pending] if pending.strip() else []), b""
        if complete:
            number = _classify_batch(model, complete, number)
        if not chunk:
            break


def _classify_batch(model: nlu.IntentModel, lines: list[bytes], number: int) -> int:
    texts: list[str] = []
    errors: dict[int, str] = {}
    for offset, raw in enumerate(lines):
        text, error = _text_of(raw, number + offset + 1)
        texts.append(text)
        if error:
            errors[offset] = error
    results = classify_many(model, texts)
    out = []
    for offset, result in enumerate(results):
        line = result.as_json()
        if offset in errors:
            line = {"intent": "other", "lang": "en", "confidence": 0.0, "error": errors[offset]}
        out.append(json.dumps(line, ensure_ascii=False))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()
    return number + len(lines)


def _text_of(raw: bytes, number: int) -> tuple[str, str | None]:
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "", f"line {number}: not a JSON object"
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        return "", f'line {number}: expected {{"text": "..."}}'
    return row["text"], None


@nlu_app.command("eval")
def eval_file(
    files: Annotated[list[Path], typer.Argument(help="JSON Lines files with text, intent and lang.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many confusions to list.")] = 10,
) -> None:
    """Accuracy, macro-F1 per language and the top confusions of the model on FILES (e.g. the shipped
    held-out set: src/aftersail/assistant/data/heldout/*.jsonl)."""
    examples: list[nlu.Example] = []
    try:
        for file in files:
            examples.extend(
                nlu.read_examples(file.read_text(encoding="utf-8").splitlines(), source=str(file))
            )
    except (OSError, ValueError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if not examples:
        err_console.print("[red]no examples in the files given[/red]")
        raise typer.Exit(2)
    model = _model()
    report = evaluate(examples, classify_many(model, [example.text for example in examples]), top=top)
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    console.print(
        f"{report.count:,} messages · intent accuracy {report.intent_accuracy:.3f} · "
        f"macro-F1 {report.macro_f1:.3f} · language accuracy {report.lang_accuracy:.3f}"
    )
    table = Table("language", "messages", "intent accuracy", "macro-F1", "language accuracy")
    for figures in report.per_language:
        table.add_row(
            figures.lang,
            str(figures.count),
            f"{figures.intent_accuracy:.3f}",
            f"{figures.macro_f1:.3f}",
            f"{figures.lang_accuracy:.3f}",
        )
    console.print(table)
    confusions = Table("expected", "predicted", "count", title="Top confusions")
    for expected, predicted, count in report.confusions:
        confusions.add_row(expected, predicted, str(count))
    console.print(confusions)
