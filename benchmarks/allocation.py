"""`make bench-allocation`: orders per second through the real API against the raw database limit.

On a fresh PostgreSQL database (dropped at the end): pgbench measures the allocation transaction itself,
then `aftersail serve` takes 3-line orders from 32 concurrent wrk connections — a steady phase over the
long tail of SKUs, then a live-stream phase where every order holds one of the hot SKUs until they sell
out — while its outbox dispatchers deliver the events. Finally the stock is audited: nothing oversold,
every reserved unit backed by an allocation line, every ordered unit allocated or backordered.

The last line printed is one JSON object: orders_per_s, p50_ms, p99_ms, raw_tx_per_s, raw_p99_ms, ratio
and oversold.
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
from pathlib import Path

from rich.console import Console

from aftersail.kit.migrate import upgrade
from benchmarks.allocation_audit import audit_stock, outbox_backlog, wait_for_outbox
from benchmarks.allocation_raw import run_raw
from benchmarks.allocation_report import LoadPhase, print_report
from benchmarks.allocation_seed import (
    COUNTRIES,
    HOT_COUNTRIES,
    World,
    seed_history,
    seed_world,
    set_hot_stock,
)
from benchmarks.harness import (
    DEFAULT_ADMIN_URL,
    ServerProcess,
    cpu_seconds,
    descendants,
    free_port,
    postgres_backends,
    redis_answers,
    temporary_database,
    with_db,
)

LUA_SCRIPT = Path(__file__).with_name("allocation_orders.lua")
console = Console(stderr=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        console.print("wrk is missing: installing the Debian package")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed as the load generator: apt-get install wrk")
    return found


def wrk_settings(world: World, phase: str) -> dict[str, str]:
    """The Lua script's settings for one phase against the seeded world."""
    return {
        "key": world.api_key,
        "live_session": str(world.live_session_id),
        "phase": "hot" if phase == "hot" else "cold",
        "cold": ",".join(map(str, world.cold_skus)),
        "hot": ",".join(map(str, world.hot_skus)),
        "countries": ",".join(COUNTRIES),
        "hot_countries": ",".join(HOT_COUNTRIES),
    }


def run_wrk(
    base_url: str, settings: dict[str, str], phase: str, seconds: float, connections: int, workdir: Path
) -> LoadPhase:
    """POST orders with `allocation_orders.lua` for `seconds`; the phase's counts and latency histogram."""
    out = workdir / f"wrk_{phase}_{time.monotonic_ns()}.txt"
    config = workdir / f"wrk_{phase}.cfg"
    lines = {**settings, "buyers": "20000", "seed": str(secrets.randbelow(1_000_000)), "out": str(out)}
    config.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
    threads = min(2, connections)
    done = subprocess.run(
        [
            ensure_wrk(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            f"{base_url}/api/v1/orders",
        ],
        env={**os.environ, "AFTERSAIL_BENCH_WRK_CONFIG": str(config)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed:\n{done.stderr or done.stdout}")
    return LoadPhase.parse(phase, out.read_text())


def run_wrk_measured(
    server: ServerProcess,
    settings: dict[str, str],
    phase: str,
    seconds: float,
    connections: int,
    workdir: Path,
) -> LoadPhase:
    """`run_wrk` with the CPU time the server processes and PostgreSQL spent during the phase."""
    servers = [pid for process in server.processes for pid in descendants(process.pid)]
    database = postgres_backends()
    before = cpu_seconds(servers), cpu_seconds(database)
    load = run_wrk(server.base_url, settings, phase, seconds, connections, workdir)
    load.cpu_server_s = cpu_seconds(servers) - before[0]
    load.cpu_database_s = cpu_seconds(database) - before[1]
    return load


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
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=21.0, help="API load, steady + hot phase")
    parser.add_argument("--raw-seconds", type=float, default=12.0, help="pgbench, steady + hot phase")
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--hot-skus", type=int, default=3)
    parser.add_argument("--history", type=int, default=30_000, help="past orders seeded before the run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--outbox-workers",
        type=int,
        default=0,
        help="`aftersail worker` processes for the outbox (0: a dispatcher inside each server worker)",
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    ensure_wrk()
    hot_seconds = max(round(args.seconds / 3), 1)
    cold_seconds = max(round(args.seconds - hot_seconds), 1)
    raw_hot = max(round(args.raw_seconds / 3), 1)
    started = time.monotonic()

    with (
        temporary_database(args.admin_url, "aftersail_bench") as bench_db,
        tempfile.TemporaryDirectory(prefix="aftersail-bench-") as tmp,
    ):
        workdir = Path(tmp)
        console.print(f"[bold]database[/bold] {bench_db.name}: migrating and seeding")
        upgrade(bench_db.url)
        url = bench_db.url
        world = with_db(url, lambda db: seed_world(db, skus=args.skus, hot=args.hot_skus))
        with_db(url, lambda db: seed_history(db, world, orders=args.history))

        console.print(f"[bold]raw limit[/bold]: pgbench, {args.clients} clients, {args.raw_seconds:.0f}s")
        raw = run_raw(
            bench_db,
            rows=world.stock_rows,
            hot_rows=args.hot_skus * 2,
            clients=args.clients,
            cold_seconds=args.raw_seconds - raw_hot,
            hot_seconds=raw_hot,
        )

        redis_url = args.redis_url if redis_answers(args.redis_url) else None
        env = {
            **os.environ,
            "AFTERSAIL_ENV": "production",
            "AFTERSAIL_SECRET_KEY": secrets.token_urlsafe(48),
            "AFTERSAIL_DATABASE_URL": bench_db.url,
            "AFTERSAIL_DATA_DIR": str(workdir / "data"),
            "AFTERSAIL_LOG_LEVEL": "WARNING",
            "AFTERSAIL_RUN_DISPATCHER": "false" if args.outbox_workers else "true",
        }
        if redis_url:
            env["AFTERSAIL_REDIS_URL"] = redis_url
        else:
            env.pop("AFTERSAIL_REDIS_URL", None)
        server = ServerProcess(
            port=free_port(),
            env=env,
            serve_args=["--workers", str(args.workers), "--no-access-log"],
            log_path=workdir / "server.log",
        )
        outbox = (
            f"{args.outbox_workers} `aftersail worker` process(es) for the outbox"
            if args.outbox_workers
            else "outbox dispatcher inside each server worker"
        )
        deployment = (
            f"aftersail serve --workers {args.workers} --no-access-log (production settings), {outbox}, "
            f"realtime over {'Redis' if redis_url else 'the in-process bus'}; "
            f"load: wrk -t2 -c{args.clients} with a Lua order script"
        )
        console.print(f"[bold]API[/bold]: {deployment}")
        server.start()
        for _ in range(args.outbox_workers):
            server.start_worker(concurrency=4)
        try:
            warmed = 0
            if args.warmup > 0:
                warmed = run_wrk(
                    server.base_url,
                    wrk_settings(world, "warmup"),
                    "warmup",
                    args.warmup,
                    args.clients,
                    workdir,
                ).created
            cold = run_wrk_measured(
                server, wrk_settings(world, "steady"), "steady", cold_seconds, args.clients, workdir
            )
            hot_units = max(int(cold.orders_per_s * hot_seconds / 2), args.hot_skus)
            with_db(url, lambda db: set_hot_stock(db, world, hot_units))
            hot = run_wrk_measured(
                server, wrk_settings(world, "hot"), "hot", hot_seconds, args.clients, workdir
            )
            backlog = with_db(url, outbox_backlog)
            drained_in = with_db(url, lambda db: wait_for_outbox(db, within=60))
        finally:
            server.stop()
        audit = with_db(
            url,
            lambda db: audit_stock(
                db, world.tenant_id, after=world.history_until, outbox_after=world.outbox_until
            ),
        )

    print_report(
        deployment=deployment,
        phases=[cold, hot],
        raw=raw,
        audit=audit,
        hot_units=hot_units,
        warmup_orders=warmed,
        backlog=backlog,
        drained_in=drained_in,
        elapsed=time.monotonic() - started,
    )
    orders_per_s = (cold.created + hot.created) / (cold.seconds + hot.seconds)
    p50, p99 = LoadPhase.merged_latency_ms([cold, hot], 50), LoadPhase.merged_latency_ms([cold, hot], 99)
    summary = {
        "orders_per_s": round(orders_per_s, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "raw_tx_per_s": round(raw.tps, 1),
        "raw_p99_ms": round(raw.latency_ms(99), 2),
        "ratio": round(orders_per_s / raw.tps, 3) if raw.tps else 0.0,
        "oversold": audit.oversold,
    }
    sys.stdout.flush()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
