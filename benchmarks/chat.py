"""`make bench-chat`: how fast a buyer's chat message reaches the agents' consoles, against a bare echo.

On a fresh PostgreSQL database (dropped at the end), 1,000 buyers with an open chat case each write one
message a second over `/chat/ws` while five agent consoles listen on `/ws`; a message's latency is the time
from the buyer's send to the first console receiving it — shown as arriving, the moment an agent can read
it (ADR 0014) — and its stored latency the time until a console hears it is stored. A message no console
heard was stored is lost. Three phases, each with the same load generator
(`chat_load.py`, one process of its own): a bare WebSocket echo on the product's server stack
(`chat_echo.py`: the raw limit), one `aftersail serve` process with the in-process bus, and two of them
sharing Redis (buyers on one, agents on the other).

The last line printed is one JSON object: p99_ms_single, p99_ms_redis, echo_p99_ms, ratio_single,
ratio_redis and lost (messages no console heard were stored within the grace period), then the stored
latencies (stored_p99_ms_single, stored_p99_ms_redis), plus error when the run
itself failed (sockets that did not open, a server that died); then the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade
from aftersail.support.chat_channel import chat_token
from aftersail.tenants.links import BuyerLinkSigner
from aftersail.web.serving import PROTOCOL_OPTIONS
from benchmarks.chat_load import LoadConfig, LoadResult, raise_file_limit
from benchmarks.chat_seed import LINES, ChatWorld, buyer_lines, seed_chat
from benchmarks.harness import (
    DEFAULT_ADMIN_URL,
    ServerProcess,
    cpu_seconds,
    descendants,
    free_port,
    percentile,
    postgres_backends,
    redis_answers,
    temporary_database,
    wait_for_http,
    with_db,
)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ratio_single": 5.0, "ratio_redis": 15.0}
CPUS = os.cpu_count() or 1
LEGEND = (
    "CPU figures cover the measured window (sending and the drain).",
    "msg/s: messages the server stored in the window (echo: echoed), in time for a console or not.",
    "PG: every postgres process. others': the machine's busy time ({cpus} CPUs) not spent by the run;",
    "busy %: of all CPUs. p99 sched: counted from the schedule. lag: how late the generator sent.",
    "acks: measured messages the server acknowledged by the end of the drain (in brackets: of them,",
    "no console received). error frames: sent to buyers. outbox due: events due, not yet handled, after.",
)
BUSY_MACHINE = 0.10  # others' share of all CPUs above which a phase is flagged as disturbed
progress = Console(stderr=True)
DELIVERY_COLUMNS = (
    "phase", "conns", "sent", "delivered", "lost", "p50 ms", "p90 ms", "p99 ms", "max ms",
    "stored p50 ms", "stored p99 ms", "server CPU s", "loadgen CPU s",
)  # fmt: skip
DETAIL_COLUMNS = (
    "phase", "window s", "msg/s", "server CPU ms/msg", "PG CPU s", "Redis CPU s", "others' CPU s",
    "busy %", "p99 sched ms", "lag p99 ms", "acks (not deliv.)", "error frames", "outbox due",
)  # fmt: skip


@dataclass
class Phase:
    name: str
    deployment: str
    load: LoadResult
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0
    redis_cpu_s: float | None = None
    outbox_after: int | None = None
    machine_cpu_s: float = 0.0  # every process on the machine, ours or not
    stored: int | None = None  # buyer messages the server wrote during the window (warm-up backlog too)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def others_cpu_s(self) -> float:
        """CPU of processes outside the run (others' work on a shared machine)."""
        ours = self.server_cpu_s + self.database_cpu_s + (self.redis_cpu_s or 0.0) + self.load.cpu_s
        return max(0.0, self.machine_cpu_s - ours)

    def ms(self, p: float, histogram: str = "latency_us") -> float | None:
        values = getattr(self.load, histogram)
        return percentile(values, p) / 1000 if values else None

    @property
    def connections(self) -> str:
        agents = f"+{self.load.agents}" if self.load.agents else ""
        return f"{self.load.buyers}{agents}"


async def outbox_due(db: Database) -> int:
    """Events due now and not yet delivered (SLA checks scheduled for later do not count)."""
    async with db.transaction(system=True, readonly=True) as session:
        count = await session.scalar(
            text(
                "SELECT COUNT(*) FROM outbox_events"
                " WHERE status IN ('pending', 'running') AND due_at <= now()"
            )
        )
    return int(count or 0)


async def buyer_messages(db: Database) -> float:
    """Buyer messages stored so far: what the servers wrote, whether or not a console got it in time."""
    async with db.transaction(system=True, readonly=True) as session:
        count = await session.scalar(
            text("SELECT COUNT(*) FROM ticket_messages WHERE author_kind = 'customer'")
        )
    return float(count or 0)


async def wait_for_outbox(db: Database, *, within: float) -> float | None:
    """Seconds until the dispatchers caught up with the due events, or None if not `within` that long."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await outbox_due(db) == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    return None


def machine_cpu_seconds() -> float:
    """Busy time of all CPUs since boot (everything but idle and iowait), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_load(
    config: LoadConfig,
    workdir: Path,
    name: str,
    server_pids: list[int],
    stored: Callable[[], float] | None = None,
) -> Phase:
    """Run `chat_load.py` on `config`; the server's, PostgreSQL's and Redis's CPU (and the messages
    `stored` so far) are read when the generator says the measured window starts (`measuring`) and ends
    (`drained`)."""
    config_path, out_path = workdir / f"{name}.load.json", workdir / f"{name}.result.json"
    log_path = workdir / f"{name}.load.log"
    config_path.write_text(json.dumps(asdict(config)))
    probes: dict[str, Callable[[], float]] = {
        "server": lambda: cpu_seconds(server_pids),
        "database": lambda: cpu_seconds(postgres_backends()),
        "redis": lambda: cpu_seconds(processes_named("redis-server")),
        "machine": machine_cpu_seconds,
        "stored": stored or (lambda: 0.0),
    }
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    started = time.monotonic()
    with log_path.open("w") as log:
        generator = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.chat_load", str(config_path), str(out_path)],
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
            elif word == "drained":
                after = {key: probe() for key, probe in probes.items()}
            progress.print(f"  {name}: {word} ({time.monotonic() - started:.1f} s)")
        generator.wait()
    if not out_path.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        load = LoadResult(mode=config.mode, error=f"the load generator failed:\n{tail}")
    else:
        load = LoadResult(**json.loads(out_path.read_text()))
    phase = Phase(name=name, deployment="", load=load)
    if before and after:
        phase.server_cpu_s = after["server"] - before["server"]
        phase.database_cpu_s = after["database"] - before["database"]
        phase.redis_cpu_s = after["redis"] - before["redis"]
        phase.machine_cpu_s = after["machine"] - before["machine"]
        phase.stored = round(after["stored"] - before["stored"]) if stored else None
    if load.error:
        phase.errors.append(load.error)
    return phase


def load_config(
    args: argparse.Namespace, mode: str, buyer_urls: list[str], agent_urls: list[str]
) -> LoadConfig:
    languages = [language for language, _, _ in LINES]
    return LoadConfig(
        mode=mode,
        buyer_urls=buyer_urls,
        agent_urls=agent_urls,
        languages=languages,
        lines={language: buyer_lines(language) for language in set(languages)},
        rate=args.rate,
        warmup_s=args.warmup,
        seconds=args.seconds,
        grace_s=args.grace,
        deflate=not args.no_deflate,
    )


def echo_phase(args: argparse.Namespace, workdir: Path) -> Phase:
    port = free_port()
    log_path = workdir / "echo.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.chat_echo", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        if not wait_for_http(f"http://127.0.0.1:{port}/readyz", [server], timeout=30):
            load = LoadResult(mode="echo", error="the echo server did not start")
            return Phase("echo", "", load, errors=[f"{load.error}:\n{log_path.read_text()[-2000:]}"])
        stack = httpx.get(f"http://127.0.0.1:{port}/stack").json()
        url = f"ws://127.0.0.1:{port}/echo"
        phase = run_load(load_config(args, "echo", [url] * args.buyers, []), workdir, "echo", [server.pid])
        phase.deployment = (
            f"bare echo (benchmarks/chat_echo.py): uvicorn {stack['uvicorn']}, ws={stack['ws']}, "
            f"permessage-deflate {'on' if stack['deflate'] else 'off'} "
            f"(websockets {stack['websockets']}), loop {stack['loop']}, Starlette {stack['starlette']}, "
            f"Python {stack['python']}"
        )
        if server.poll() is not None:
            phase.errors.append(f"the echo server exited with {server.returncode}")
        return phase
    finally:
        server.terminate()
        server.wait(timeout=20)


def server_env(
    args: argparse.Namespace, db_url: str, secret: str, workdir: Path, redis: bool
) -> dict[str, str]:
    env = {
        **os.environ,
        "AFTERSAIL_ENV": "production",
        "AFTERSAIL_SECRET_KEY": secret,
        "AFTERSAIL_DATABASE_URL": db_url,
        "AFTERSAIL_DATA_DIR": str(workdir / "data"),
        "AFTERSAIL_LOG_LEVEL": "WARNING",
    }
    env.pop("AFTERSAIL_REDIS_URL", None)
    if redis:
        env["AFTERSAIL_REDIS_URL"] = args.redis_url
    return env


def server_exits(servers: list[ServerProcess]) -> list[str]:
    return [
        f"{server.log_path.name}: the server exited with {process.returncode}"
        for server in servers
        for process in server.processes
        if process.poll() is not None
    ]


def tracebacks(log: str) -> Counter[str]:
    """Each traceback in a server log as its innermost AfterSail frame and its exception line."""
    found: Counter[str] = Counter()
    ours, inside = "", False
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            ours, inside = "", True
        elif inside and line.startswith("  File ") and "/aftersail/" in line:
            ours = line.strip()
        elif inside and line and not line.startswith(" "):
            found[f"{line.strip()[:200]}  ← {ours or 'no AfterSail frame'}"] += 1
            inside = False
    return found


def server_warnings(servers: list[ServerProcess]) -> list[str]:
    """Tracebacks in the servers' logs, counted by kind: a server bug to look at, not a failed run."""
    warnings = []
    for server in servers:
        log = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        for kind, count in tracebacks(log).most_common():
            warnings.append(f"{server.log_path.name}: {count} × {kind}")
    return warnings


def product_phase(
    args: argparse.Namespace, name: str, db_url: str, world: ChatWorld, workdir: Path, *, redis: bool
) -> Phase:
    secret = secrets.token_urlsafe(48)
    env = server_env(args, db_url, secret, workdir, redis)
    count = 2 if redis else 1
    servers = [
        ServerProcess(free_port(), env, ["--no-access-log"], workdir / f"{name}-{n}.log")
        for n in range(count)
    ]
    signer = BuyerLinkSigner(secret, Settings.model_fields["buyer_link_max_age_seconds"].default)
    buyers_to, agents_to = servers[0], servers[-1]
    buyer_urls = [
        f"ws://127.0.0.1:{buyers_to.port}/chat/ws?token={quote(chat_token(signer, world.tenant_id, c))}"
        for c in world.customer_ids
    ]
    agent_urls = [f"ws://127.0.0.1:{agents_to.port}/ws?api_key={quote(world.api_key)}"] * args.agents
    deployment = (
        f"aftersail serve --no-access-log (uvicorn ws={PROTOCOL_OPTIONS['ws']}, permessage-deflate "
        f"{'on' if PROTOCOL_OPTIONS['ws_per_message_deflate'] else 'off'}, production settings, "
        "outbox dispatcher inside), PostgreSQL, "
        + ("two processes sharing Redis: buyers on one, agents on the other" if redis else "in-process bus")
    )
    try:
        for server in servers:
            server.start()
        settled = with_db(db_url, lambda db: wait_for_outbox(db, within=60))
        if settled is None:
            progress.print(f"  {name}: the outbox still had due events after 60 s; starting anyway")
        pids = [pid for server in servers for process in server.processes for pid in descendants(process.pid)]
        config = load_config(args, "chat", buyer_urls, agent_urls)
        phase = run_load(config, workdir, name, pids, lambda: with_db(db_url, buyer_messages))
        phase.outbox_after = with_db(db_url, outbox_due)
        phase.errors += server_exits(servers)
    except SystemExit as error:  # ServerProcess.start: the server did not become ready
        phase = Phase(name, deployment, LoadResult(mode="chat"), errors=[str(error)])
    finally:
        for server in servers:
            server.stop()
    phase.warnings += server_warnings(servers)  # once stopped: sockets closed at the end log there too
    phase.deployment = deployment
    return phase


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(
    phases: list[Phase], summary: dict[str, object], elapsed: float, args: argparse.Namespace
) -> None:
    console = Console(width=max(Console().width, 160))
    for phase in phases:
        console.print(f"[bold]{phase.name}[/bold]: {phase.deployment}")
    console.print(
        f"load: {args.buyers} buyer sockets × {args.rate:g} msg/s (starts spread over the first second), "
        f"{args.agents} agent consoles, {args.warmup:g} s warm-up + {args.seconds:g} s measured, grace "
        f"{args.grace:g} s; permessage-deflate {'not offered' if args.no_deflate else 'offered'}; "
        "one generator process "
        f"({next((p.load.loop for p in phases if p.load.loop), '?')}, websockets client)"
    )
    table = Table(
        title="Chat delivery: buyer send → first agent console, arriving or stored (echo: round trip); "
        "stored: → first console told it is stored",
        title_justify="left",
    )
    for column in DELIVERY_COLUMNS:
        table.add_column(column, justify="left" if column == "phase" else "right")
    for phase in phases:
        load = phase.load
        table.add_row(
            phase.name,
            phase.connections,
            str(load.sent),
            str(load.delivered),
            str(load.lost),
            *(fmt(phase.ms(p), 2) for p in (50, 90, 99, 100)),
            *((fmt(phase.ms(p, "stored_us"), 2) for p in (50, 99)) if load.mode == "chat" else ("-", "-")),
            fmt(phase.server_cpu_s, 2),
            fmt(load.cpu_s, 2),
        )
    console.print(table)
    detail = Table(title="Where the time went", title_justify="left")
    for column in DETAIL_COLUMNS:
        detail.add_column(column, justify="left" if column == "phase" else "right")
    for phase in phases:
        load = phase.load
        done = load.delivered if phase.stored is None else phase.stored
        detail.add_row(
            phase.name,
            fmt(load.window_s),
            fmt(done / load.window_s if load.window_s else None, 0),
            fmt(phase.server_cpu_s * 1000 / done if done else None, 2),
            fmt(phase.database_cpu_s, 2),
            fmt(phase.redis_cpu_s, 2) if phase.name == "redis" else "-",
            fmt(phase.others_cpu_s, 2),
            fmt(100 * phase.machine_cpu_s / (load.window_s * CPUS) if load.window_s else None, 0),
            fmt(phase.ms(99, "latency_due_us"), 2),
            fmt(phase.ms(99, "send_lag_us"), 2),
            f"{load.acks} ({load.acked_not_delivered})" if load.mode == "chat" else "-",
            ", ".join(f"{code} {n}" for code, n in load.error_frames.items()) or "0",
            "-" if phase.outbox_after is None else str(phase.outbox_after),
        )
    console.print(detail)
    console.print(" ".join(LEGEND).replace("{cpus}", str(CPUS)))
    for phase in phases:
        capacity = phase.load.window_s * CPUS
        if capacity and phase.others_cpu_s > BUSY_MACHINE * capacity:
            share = 100 * phase.others_cpu_s / capacity
            console.print(
                f"[yellow]{phase.name}: other processes took {share:.0f}% of the machine's CPU during the "
                "window: its figures are not comparable with a quiet run[/yellow]"
            )
    for key, limit in TARGETS.items():
        value = summary.get(key)
        verdict = "-" if not isinstance(value, float) else ("met" if value <= limit else "[red]missed[/red]")
        console.print(f"{key} = {value} (target ≤ {limit:g}): {verdict}")
    console.print(f"lost = {summary.get('lost')} (target 0); run took {elapsed:.0f} s")
    for phase in phases:
        for warning in phase.warnings:
            console.print(f"[yellow]{phase.name} server log:[/yellow] {warning}", highlight=False)
        for error in phase.errors:
            console.print(f"[red]{phase.name}:[/red] {error}", highlight=False)


def summarize(phases: dict[str, Phase]) -> dict[str, object]:
    def p99(name: str) -> float | None:
        phase = phases.get(name)
        value = phase.ms(99) if phase else None
        return None if value is None else round(value, 3)

    echo, single, redis = p99("echo"), p99("single"), p99("redis")
    summary: dict[str, object] = {
        "p99_ms_single": single,
        "p99_ms_redis": redis,
        "echo_p99_ms": echo,
        "ratio_single": round(single / echo, 2) if single is not None and echo else None,
        "ratio_redis": round(redis / echo, 2) if redis is not None and echo else None,
        "lost": sum(phases[name].load.lost for name in ("single", "redis") if name in phases),
    }
    for name in ("single", "redis"):
        phase = phases.get(name)
        stored = phase.ms(99, "stored_us") if phase else None
        summary[f"stored_p99_ms_{name}"] = None if stored is None else round(stored, 3)
    errors = [f"{phase.name}: {error.splitlines()[0]}" for phase in phases.values() for error in phase.errors]
    if errors:
        summary["error"] = "; ".join(errors)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("AFTERSAIL_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("AFTERSAIL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per buyer")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="load before the measured window")
    parser.add_argument("--grace", type=float, default=10.0, help="wait for late messages before `lost`")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 s measured, 1 s warm-up")
    parser.add_argument(
        "--no-deflate", action="store_true", help="the generator offers no permessage-deflate (browsers do)"
    )
    parser.add_argument("--phases", default="echo,single,redis", help="comma-separated subset, in order")
    parser.add_argument(
        "--logs", type=Path, help="keep the servers' and generator's logs and results in this directory"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.grace = 5.0, 1.0, 5.0
    raise_file_limit(args.buyers + args.agents + 512)  # the servers inherit it: a socket each, and more
    started = time.monotonic()
    phases: dict[str, Phase] = {}
    with (
        temporary_database(args.admin_url, "aftersail_bench_chat") as bench_db,
        tempfile.TemporaryDirectory(prefix="aftersail-bench-chat-") as tmp,
    ):
        workdir = Path(tmp)
        progress.print(f"[bold]database[/bold] {bench_db.name}: migrating and seeding {args.buyers} buyers")
        upgrade(bench_db.url)
        world = with_db(bench_db.url, lambda db: seed_chat(db, buyers=args.buyers, agents=args.agents))
        for name in args.phases.split(","):
            progress.print(f"[bold]{name}[/bold] ({time.monotonic() - started:.0f} s into the run)")
            if name == "echo":
                phases[name] = echo_phase(args, workdir)
            elif name in ("single", "redis"):
                if name == "redis" and not redis_answers(args.redis_url):
                    error = f"Redis at {args.redis_url} does not answer"
                    phases[name] = Phase(name, "", LoadResult(mode="chat"), errors=[error])
                    continue
                phases[name] = product_phase(args, name, bench_db.url, world, workdir, redis=name == "redis")
            else:
                raise SystemExit(f"unknown phase {name!r}: echo, single or redis")
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in [*workdir.glob("*.log"), *workdir.glob("*.result.json")]:
                shutil.copy(log, args.logs / log.name)
    summary = summarize(phases)
    print_report(list(phases.values()), summary, time.monotonic() - started, args)
    sys.stdout.flush()
    print(json.dumps(summary), flush=True)
    if "error" in summary:
        sys.exit(1)


if __name__ == "__main__":
    main()
