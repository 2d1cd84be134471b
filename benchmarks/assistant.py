"""`make bench-assistant`: how fast the assistant understands buyers, and how soon a buyer in a chat gets its
first automated reply, with no model provider (issue 5: ≥ 2,000 messages/s classified on one core; first
reply p99 ≤ 100 ms with 1,000 concurrent buyers).

Three phases in one run:

1. `classify` (`assistant_classify.py`, a process pinned to one CPU): `classify_many` over the shipped
   held-out texts in batches of several sizes and one message at a time. `classify_per_s` is the figure for
   batches of `--batch` (32: the order of a chat-writer batch under load, when the assistant gets a whole
   batch in one job; the reply phase prints how many messages its jobs actually held).
2. `echo`: the chat benchmark's bare WebSocket echo on the product's server stack (`chat_echo.py`, driven by
   `chat_load.py`), 1,000 sockets at one message a second: the raw limit of a round trip on this machine.
3. `replies`: on a fresh PostgreSQL database (dropped at the end) `assistant_seed.py` builds a tenant with
   the assistant switched on and 1,000 buyers, each with an open chat case and a placed order; one
   `aftersail serve` (production settings, dispatcher inside, intent model trained beforehand and loaded at
   start-up) answers them. Each buyer (`assistant_load.py`) sends a line the assistant answers itself (the
   status of their order, a greeting, thanks), waits for the reply on its `/chat/ws` socket, reads it and
   types the next line at a person's pace (`--think` 5 s on average, each pause drawn from ±50 %;
   `--think 1 --think-jitter 0` is the stress case) and writes again. First-reply latency: the buyer's
   send → the assistant's message on that buyer's socket. The database says, per answered message, where
   the server's part of it went.

The last line printed is one JSON object: classify_per_s, classify_single_per_s, first_reply_p50_ms,
first_reply_p99_ms, echo_p99_ms, ratio (first_reply_p99_ms ÷ echo_p99_ms), replies, unanswered, and more;
plus error when the run itself failed (the model not trained, a migration or the seeding refused, a server
that did not start or died, sockets that did not open, an assistant that decided nothing); then the exit
status is 1. Missed targets, unanswered messages and sockets the server closed do not fail it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from sqlalchemy import text

from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade
from aftersail.support.chat_channel import chat_token
from aftersail.tenants.links import BuyerLinkSigner
from benchmarks import chat
from benchmarks.assistant_load import ConversationConfig, ConversationResult
from benchmarks.assistant_report import print_report, summary_of
from benchmarks.assistant_seed import AssistantWorld, seed_assistant
from benchmarks.chat_load import raise_file_limit
from benchmarks.harness import (
    DEFAULT_ADMIN_URL,
    ServerProcess,
    cpu_seconds,
    descendants,
    free_port,
    postgres_backends,
    temporary_database,
    venv_tool,
    with_db,
)

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
HANDLER = "assistant.answer_buyers"
QUICK = {
    "buyers": 50, "consoles": 2, "seconds": 10.0, "warmup": 2.0, "reply_timeout": 15.0, "echo_seconds": 5.0,
    "classify_seconds": 2.0,
}  # fmt: skip
progress = Console(stderr=True)


@dataclass
class ReplyPhase:
    load: ConversationResult
    deployment: str = ""
    backlog_turns: int = 0  # the seeded first messages, answered before the load (one message a job)
    backlog_s: float | None = None
    window_turns: int = 0  # turns the assistant decided during the measured window (and the drain)
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    outbox_after: int | None = None
    server_side: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # segment → µs histogram
    job_sizes: Counter[int] = field(default_factory=Counter)  # buyer messages per assistant job
    decisions: Counter[str] = field(default_factory=Counter)  # what became of the window's buyer messages
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def others_cpu_s(self) -> float:
        ours = self.server_cpu_s + self.database_cpu_s + self.load.cpu_s
        return max(0.0, self.machine_cpu_s - ours)


# -- classification on one core ----------------------------------------------------------------------------


def train_model(data_dir: Path) -> float:
    """`aftersail nlu train` into the data directory the server will use: its first replies load the model,
    they do not train it. Returns the seconds it took."""
    started = time.monotonic()
    subprocess.run(
        [venv_tool("aftersail"), "nlu", "train"],
        env={**os.environ, "AFTERSAIL_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def classify_phase(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    sizes = sorted({1, 16, args.batch, 64, 256})
    command = [
        sys.executable, "-m", "benchmarks.assistant_classify", "--data-dir", str(data_dir),
        "--sizes", ",".join(map(str, sizes)), "--seconds", str(args.classify_seconds),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": f"the classification run failed:\n{done.stderr[-2000:]}"}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "batch": args.batch}


# -- first replies through the chat socket ----------------------------------------------------------------


def run_conversations(
    config: ConversationConfig, workdir: Path, server_pids: list[int]
) -> tuple[ConversationResult, dict[str, float]]:
    """Run `assistant_load.py`; the server's, PostgreSQL's and the machine's CPU are read when it says the
    measured window starts (`measuring`) and when every buyer got its last answer (`drained`)."""
    config_path, out_path = workdir / "replies.load.json", workdir / "replies.result.json"
    log_path = workdir / "replies.load.log"
    config_path.write_text(json.dumps(asdict(config)))
    probes: dict[str, Callable[[], float]] = {
        "server": lambda: cpu_seconds(server_pids),
        "database": lambda: cpu_seconds(postgres_backends()),
        "machine": chat.machine_cpu_seconds,
    }
    before: dict[str, float] = {}
    spent: dict[str, float] = {}
    started = time.monotonic()
    with log_path.open("w") as log:
        generator = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.assistant_load", str(config_path), str(out_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert generator.stdout is not None
        for line in generator.stdout:
            word = line.strip()
            if word == "measuring":
                before = {key: probe() for key, probe in probes.items()}
            elif word == "drained" and before:
                spent = {key: probe() - before[key] for key, probe in probes.items()}
            progress.print(f"  replies: {word} ({time.monotonic() - started:.1f} s)")
        generator.wait()
    if not out_path.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        return ConversationResult(error=f"the load generator failed:\n{tail}"), spent
    return ConversationResult(**json.loads(out_path.read_text())), spent


async def turns_decided(db: Database, since: float = 0.0, until: float | None = None) -> int:
    """The assistant's decisions (one per turn) taken between two instants (unix seconds)."""
    until_at = datetime.fromtimestamp(until, UTC) if until is not None else datetime.now(UTC)
    async with db.transaction(system=True, readonly=True) as session:
        found = await session.scalar(
            text(
                "SELECT COUNT(*) FROM assistant_decisions WHERE created_at >= :since AND created_at < :until"
            ),
            {"since": datetime.fromtimestamp(since, UTC), "until": until_at},
        )
    return int(found or 0)


# Per buyer message the server received in the window, on the server's clock: received (the writer took
# it; the row keeps that time) → stored with its assistant job queued → the assistant's decision (the
# lane's batch began; or, for turns the lane leaves to the service, the job's handler started → decided).
# A message whose job was not handled by the end has no later times.
WINDOW_SQL = """
WITH jobs AS (
    SELECT e.created_at AS queued_at, h.handled_at, json_array_length(ids.list) AS size,
           x.value::bigint AS message_id
    FROM outbox_events e
    LEFT JOIN handled_events h ON h.event_id = e.id AND h.handler = :handler
    CROSS JOIN LATERAL (SELECT COALESCE(e.payload -> 'message_ids',
                                        json_build_array(e.payload -> 'message_id')) AS list) AS ids
    CROSS JOIN LATERAL json_array_elements_text(ids.list) AS x(value)
    WHERE e.topic = 'support.translate' AND e.created_at >= :since
)
SELECT EXTRACT(EPOCH FROM j.queued_at - m.created_at), EXTRACT(EPOCH FROM d.created_at - j.queued_at),
       EXTRACT(EPOCH FROM j.handled_at - j.queued_at), EXTRACT(EPOCH FROM d.created_at - j.handled_at),
       EXTRACT(EPOCH FROM d.created_at - m.created_at),
       j.size, j.handled_at IS NOT NULL, d.outcome, d.situation
FROM ticket_messages m
LEFT JOIN jobs j ON j.message_id = m.id
LEFT JOIN assistant_decisions d ON d.message_id = m.id
WHERE m.author_kind = 'customer' AND m.created_at >= :since AND m.created_at < :until
"""
SEGMENTS = (
    "received → stored (job queued)",
    "stored → decision",  # the lane's batch began (or the job's handler decided)
    "job queued → handler",  # the job's path only: turns the lane left to the service
    "handler → decision",
    "received → decision",
)


async def window_breakdown(db: Database, phase: ReplyPhase, since: float, until: float) -> None:
    async with db.transaction(system=True, readonly=True) as session:
        rows = (
            await session.execute(
                text(WINDOW_SQL),
                {
                    "handler": HANDLER,
                    "since": datetime.fromtimestamp(since, UTC),
                    "until": datetime.fromtimestamp(until, UTC),
                },
            )
        ).all()
    histograms: list[Counter[int]] = [Counter() for _ in SEGMENTS]
    for *seconds, size, handled, outcome, situation in rows:
        for histogram, value in zip(histograms, seconds, strict=True):
            if value is not None:
                histogram[round(float(value) * 1e6)] += 1
        if size is not None:
            phase.job_sizes[int(size)] += 1
        if outcome is not None:
            phase.decisions[f"{outcome} {situation or ''}".strip()] += 1
        else:
            phase.decisions[
                "no job" if size is None else "job handled, no decision" if handled else "job waiting"
            ] += 1
    phase.server_side = {name: sorted(h.items()) for name, h in zip(SEGMENTS, histograms, strict=True)}


def reply_phase(args: argparse.Namespace, db_url: str, world: AssistantWorld, workdir: Path) -> ReplyPhase:
    secret = secrets.token_urlsafe(48)
    env = chat.server_env(args, db_url, secret, workdir, redis=False)
    env.update(
        AFTERSAIL_ASSISTANT_ENABLED="true",
        AFTERSAIL_ASSISTANT_WARM_UP="true",
        AFTERSAIL_TRANSLATION_PROVIDER="",  # no model of any kind: the built-in assistant alone
    )
    server = ServerProcess(free_port(), env, ["--no-access-log"], workdir / "replies-server.log")
    signer = BuyerLinkSigner(secret, Settings.model_fields["buyer_link_max_age_seconds"].default)
    tenant_id = world.chat.tenant_id
    buyer_urls = [
        f"ws://127.0.0.1:{server.port}/chat/ws?token={quote(chat_token(signer, tenant_id, customer))}"
        for customer in world.chat.customer_ids
    ]
    agent_urls = [f"ws://127.0.0.1:{server.port}/ws?api_key={quote(world.chat.api_key)}"] * args.consoles
    phase = ReplyPhase(
        load=ConversationResult(),
        deployment=(
            "aftersail serve --no-access-log (production settings, outbox dispatcher inside, in-process "
            "bus), PostgreSQL; assistant on for the tenant, no model provider; "
            f"{args.consoles} agent consoles"
        ),
    )
    try:
        server.start()
        # The seeded first messages are answered first (one job each): the model is loaded by then.
        settled = with_db(db_url, lambda db: chat.wait_for_outbox(db, within=args.settle))
        phase.backlog_s = settled
        phase.backlog_turns = with_db(db_url, turns_decided)
        if settled is None:
            progress.print(f"  replies: the outbox still had due events after {args.settle:g} s; starting")
        pids = [pid for process in server.processes for pid in descendants(process.pid)]
        config = ConversationConfig(
            buyer_urls=buyer_urls,
            agent_urls=agent_urls,
            turns=[world.turns(index) for index in range(len(buyer_urls))],
            think_s=args.think,
            think_jitter=args.think_jitter,
            warmup_s=args.warmup,
            seconds=args.seconds,
            reply_timeout_s=args.reply_timeout,
        )
        phase.load, spent = run_conversations(config, workdir, pids)
        phase.server_cpu_s = spent.get("server", 0.0)
        phase.database_cpu_s = spent.get("database", 0.0)
        phase.machine_cpu_s = spent.get("machine", 0.0)
        phase.outbox_after = with_db(db_url, chat.outbox_due)
        if phase.load.measure_start_unix:
            since = phase.load.measure_start_unix
            with_db(db_url, lambda db: window_breakdown(db, phase, since, since + args.seconds))
            phase.window_turns = with_db(
                db_url, lambda db: turns_decided(db, since, since + phase.load.window_s)
            )
        phase.errors += chat.server_exits([server])
    except SystemExit as error:  # ServerProcess.start: the server did not become ready
        phase.errors.append(str(error))
    finally:
        server.stop()
    phase.warnings += chat.server_warnings([server])
    if phase.load.error:
        phase.errors.append(phase.load.error)
    elif phase.load.sent and not phase.load.answered and not phase.window_turns:
        phase.errors.append("the assistant answered nothing during the run (is it on?)")
    return phase


def echo_phase(args: argparse.Namespace, workdir: Path) -> chat.Phase:
    """The chat benchmark's echo phase, as `make bench-chat` runs it, at this run's buyer count."""
    echo_args = argparse.Namespace(
        buyers=args.buyers,
        rate=1.0,
        warmup=min(args.warmup, 2.0),
        seconds=args.echo_seconds,
        grace=5.0,
        no_deflate=False,
    )
    return chat.echo_phase(echo_args, workdir)


# -- the run ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("AFTERSAIL_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=5, help="agents of the chat team (seeded)")
    parser.add_argument("--consoles", type=int, default=5, help="agent consoles connected during the run")
    parser.add_argument(
        "--think", type=float, default=5.0, help="seconds from a reply to the next message, on average"
    )
    parser.add_argument(
        "--think-jitter", type=float, default=0.5, help="each pause drawn evenly from think × (1 ± this)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured conversation time")
    parser.add_argument("--warmup", type=float, default=5.0, help="conversation before the measured window")
    parser.add_argument("--reply-timeout", type=float, default=20.0, help="a message unanswered after this")
    parser.add_argument("--settle", type=float, default=180.0, help="wait for the seeded backlog at most")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the headline classify_per_s")
    parser.add_argument("--classify-seconds", type=float, default=6.0, help="per batch size")
    parser.add_argument("--echo-seconds", type=float, default=20.0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 50 buyers, 2 consoles, 2 s warm-up + 10 s measured, reply timeout 15 s "
        "(options given win)",
    )
    parser.add_argument("--phases", default="classify,echo,replies", help="comma-separated subset")
    parser.add_argument("--logs", type=Path, help="keep the servers' and generators' logs and results here")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    unknown = phases - {"classify", "echo", "replies"}
    if unknown:
        raise SystemExit(f"unknown phases {', '.join(sorted(unknown))}: classify, echo or replies")
    raise_file_limit(args.buyers + args.consoles + 512)  # the servers inherit it
    started = time.monotonic()
    classified: dict[str, Any] = {}
    echo: chat.Phase | None = None
    replies: ReplyPhase | None = None
    with tempfile.TemporaryDirectory(prefix="aftersail-bench-assistant-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        if phases & {"classify", "replies"}:
            progress.print("[bold]model[/bold]: aftersail nlu train")
            try:
                classified["train_s"] = round(train_model(data_dir), 1)
            except subprocess.CalledProcessError as error:
                classified["error"] = f"aftersail nlu train failed:\n{(error.stderr or b'').decode()[-2000:]}"
        if "classify" in phases and "error" not in classified:
            progress.print(f"[bold]classify[/bold] ({time.monotonic() - started:.0f} s into the run)")
            classified.update(classify_phase(args, data_dir))
        if "echo" in phases:
            progress.print(f"[bold]echo[/bold] ({time.monotonic() - started:.0f} s into the run)")
            echo = echo_phase(args, workdir)
        if "replies" in phases:
            with temporary_database(args.admin_url, "aftersail_bench_assistant") as bench_db:
                progress.print(
                    f"[bold]replies[/bold]: database {bench_db.name}, seeding {args.buyers} buyers "
                    f"({time.monotonic() - started:.0f} s into the run)"
                )
                try:
                    upgrade(bench_db.url)
                    world = with_db(
                        bench_db.url, lambda db: seed_assistant(db, buyers=args.buyers, agents=args.agents)
                    )
                except Exception as error:  # a migration or the services refused: no run, say why
                    failed = f"migrating or seeding failed: {type(error).__name__}: {error}"
                    replies = ReplyPhase(load=ConversationResult(), errors=[failed[:2000]])
                else:
                    replies = reply_phase(args, bench_db.url, world, workdir)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in [*workdir.glob("*.log"), *workdir.glob("*.result.json")]:
                shutil.copy(log, args.logs / log.name)
    summary = summary_of(classified, echo, replies)
    print_report(args, classified, echo, replies, summary, time.monotonic() - started)
    sys.stdout.flush()
    print(json.dumps(summary), flush=True)
    if "error" in summary:
        sys.exit(1)


if __name__ == "__main__":
    main()
