"""`make bench-ceiling`: how fast could ANY Python order intake be on this machine?

The allocation target (`make bench-allocation`: orders/s ≥ 0.20 × the raw pgbench rate, p99 ≤ 5 × raw p99)
asks a Python web server, PostgreSQL and the load generator to share this machine's cores. This benchmark
measures the ceiling of that setup in one run: pgbench's raw rate (the same script as the allocation
benchmark), then `benchmarks/ceiling_app.py` — the same HTTP stack and order schema with group commit
and one SQL statement per batch, and none of AfterSail's other duties — under the same wrk load
(steady phase). If the ceiling's ratio is below 0.20, no implementation of the product in this stack can
meet the target here; docs/performance.md records the figures.

The last line printed is one JSON object: orders_per_s, p50_ms, p99_ms, raw_tx_per_s, raw_p99_ms, ratio,
cpu_ms_per_order (server processes + PostgreSQL backends, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table

from benchmarks.allocation import ensure_wrk, run_wrk
from benchmarks.allocation_raw import run_raw
from benchmarks.allocation_report import LoadPhase
from benchmarks.allocation_seed import COUNTRIES
from benchmarks.ceiling_app import SCHEMA
from benchmarks.harness import (
    DEFAULT_ADMIN_URL,
    BenchDatabase,
    cpu_seconds,
    descendants,
    free_port,
    postgres_backends,
    temporary_database,
    venv_tool,
    wait_for_http,
)

console = Console(stderr=True)
WAREHOUSES = 6


def _dsn(db: BenchDatabase) -> str:
    return db.url.replace("postgresql+asyncpg://", "postgresql://")


async def _seed(dsn: str, skus: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
        await conn.execute(
            "INSERT INTO ceiling_stock (id, warehouse_id, sku_id, on_hand)"
            " SELECT (w - 1) * $1 + s, w, s, 10000000 FROM generate_series(1, $2) AS w,"
            " generate_series(1, $1) AS s",
            skus,
            WAREHOUSES,
        )
    finally:
        await conn.close()


async def _oversold(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ceiling_stock WHERE reserved > on_hand"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("AFTERSAIL_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=14.0)
    parser.add_argument("--raw-seconds", type=float, default=12.0)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    ensure_wrk()
    with (
        temporary_database(args.admin_url, "aftersail_ceiling") as db,
        tempfile.TemporaryDirectory(prefix="aftersail-ceiling-") as tmp,
    ):
        workdir = Path(tmp)
        dsn = _dsn(db)
        asyncio.run(_seed(dsn, args.skus))
        rows = args.skus * WAREHOUSES
        console.print(f"[bold]raw limit[/bold]: pgbench, {args.clients} clients, {args.raw_seconds:.0f}s")
        raw_hot = max(round(args.raw_seconds / 3), 1)
        raw = run_raw(
            db,
            rows=rows,
            hot_rows=6,
            clients=args.clients,
            cold_seconds=args.raw_seconds - raw_hot,
            hot_seconds=raw_hot,
        )
        port = free_port()
        log = (workdir / "server.log").open("ab")
        server = subprocess.Popen(
            [
                venv_tool("uvicorn"),
                "benchmarks.ceiling_app:app",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--log-level",
                "warning",
            ],
            env={**os.environ, "CEILING_DSN": dsn},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            if not wait_for_http(f"{base_url}/openapi.json", [server], timeout=30):
                raise SystemExit("the ceiling server did not start")
            settings = {
                "key": "none",
                "live_session": "null",
                "phase": "cold",
                "cold": ",".join(str(s) for s in range(1, args.skus + 1)),
                "hot": "",
                "countries": ",".join(COUNTRIES),
                "hot_countries": ",".join(COUNTRIES),
            }
            run_wrk(base_url, settings, "warmup", 2, args.clients, workdir)
            pids = descendants(server.pid) + postgres_backends()
            cpu_before = cpu_seconds(pids)
            load = run_wrk(base_url, settings, "steady", args.seconds, args.clients, workdir)
            cpu = cpu_seconds(pids) - cpu_before
        finally:
            server.terminate()
            server.wait(timeout=20)
        oversold = asyncio.run(_oversold(dsn))

    p50, p99 = LoadPhase.merged_latency_ms([load], 50), LoadPhase.merged_latency_ms([load], 99)
    table = Table(title="Order intake ceiling (minimal batched server) vs raw pgbench, same run")
    for column in ("", "per s", "p50 ms", "p99 ms", "errors", "CPU ms/order"):
        table.add_column(column, justify="right")
    table.add_row(
        "ceiling server",
        f"{load.orders_per_s:.0f}",
        f"{p50:.1f}",
        f"{p99:.1f}",
        str(load.not_2xx + load.socket_errors),
        f"{cpu * 1000 / max(load.created, 1):.2f}",
    )
    table.add_row(
        "raw pgbench", f"{raw.tps:.0f}", f"{raw.latency_ms(50):.1f}", f"{raw.latency_ms(99):.1f}", "", ""
    )
    console.print(table)
    if load.samples:
        console.print("non-2xx samples:", *load.samples)
    summary = {
        "orders_per_s": round(load.orders_per_s, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "raw_tx_per_s": round(raw.tps, 1),
        "raw_p99_ms": round(raw.latency_ms(99), 2),
        "ratio": round(load.orders_per_s / raw.tps, 3) if raw.tps else 0.0,
        "cpu_ms_per_order": round(cpu * 1000 / max(load.created, 1), 3),
        "oversold": oversold,
    }
    sys.stdout.flush()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
