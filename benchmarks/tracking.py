"""`make bench-tracking`: carrier webhook ingest through the real HTTP API against the raw database limit.

On a fresh PostgreSQL database (dropped at the end): a tenant with the generic-webhook and AfterShip secrets,
a history of delivered parcels and the run's parcels (shipped, nothing heard yet) are seeded in bulk;
pgbench measures the allocation transaction (`allocation_raw.py`, as `make bench-allocation` does); then
`aftersail serve --workers 2 --no-access-log` takes signed webhook deliveries from an asyncio client
(`tracking_load.py`): carriers' bulk pushes of 20–50 events for different parcels and AfterShip pushes of
one parcel, shuffled (events out of order), a share of them delivered twice. Afterwards the database is
audited (`tracking_audit.py`): stored events = distinct acknowledged events, each parcel's status = its
newest event's.

The `shipping.evaluate` jobs the ingest queues are left in the outbox by default (`--dispatch` runs the
dispatcher inside the servers): the figure is the webhook path, acknowledge and store; evaluation is the
workers' job and scales with them.

The last line printed is one JSON object: events_per_s, p99_ms, raw_tx_per_s, ratio and duplicates_applied.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aftersail.kit.migrate import upgrade
from benchmarks.allocation_audit import outbox_backlog
from benchmarks.allocation_raw import RawResult, run_raw
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
    with_db,
)
from benchmarks.tracking_audit import TrackingAudit, audit_tracking
from benchmarks.tracking_load import Corpus, Sent, build_corpus, send
from benchmarks.tracking_seed import seed_history, seed_parcels, seed_world

console = Console(stderr=True)
TARGET_RATIO = 0.15


def _run_load(corpus: Corpus, port: int, connections: int, seconds: float) -> Sent:
    import uvloop  # the server's event loop too

    return uvloop.run(send(corpus, host="127.0.0.1", port=port, connections=connections, seconds=seconds))


def _report(
    *,
    deployment: str,
    corpus: Corpus,
    sent: Sent,
    window: tuple[float, float],
    raw: RawResult,
    audit: TrackingAudit,
    cpu: tuple[float, float],
    backlog: int,
    elapsed: float,
) -> dict[str, object]:
    start, end = window
    measured = [answer for answer in sent.answers if start <= answer[0] <= end]
    seconds = end - start
    applied = sum(answer[3] for answer in measured)
    stored = sum(answer[3] for answer in sent.answers)
    duplicates = sum(answer[4] for answer in measured)
    latencies = [
        latency
        for latency, answer in zip(sent.latencies_us, sent.answers, strict=True)
        if start <= answer[0] <= end
    ]
    histogram: dict[int, int] = {}
    for latency in latencies:
        histogram[latency] = histogram.get(latency, 0) + 1
    events_per_s = applied / seconds if seconds > 0 else 0.0
    kinds = {"generic": 0, "aftership": 0}
    retried = 0
    for _, index, *_ in measured:
        delivery = corpus.deliveries[index]
        kinds[delivery.kind] += 1
        retried += delivery.duplicate

    table = Table(title="Tracking webhook ingest", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("deployment", deployment),
        ("parcels (AfterShip-pushed)", f"{corpus.parcels:,} ({corpus.aftership_parcels:,})"),
        ("measured window", f"{seconds:.1f} s (after {start - sent.started:.1f} s warm-up)"),
        (
            "requests (generic / AfterShip / retries)",
            f"{len(measured):,} ({kinds['generic']:,} / {kinds['aftership']:,} / {retried:,})",
        ),
        ("requests/s", f"{len(measured) / seconds:,.1f}"),
        ("new events stored", f"{applied:,}"),
        ("events recognised as repeats", f"{duplicates:,}"),
        ("events_per_s (new, distinct)", f"{events_per_s:,.1f}"),
        (
            "p50 / p99 / max ms per request",
            f"{percentile(histogram, 50) / 1000:.1f} / {percentile(histogram, 99) / 1000:.1f}"
            f" / {max(latencies, default=0) / 1000:.1f}",
        ),
        ("statuses", ", ".join(f"{status}: {count:,}" for status, count in sorted(sent.statuses.items()))),
        ("CPU s server / PostgreSQL / generator", f"{cpu[0]:.1f} / {cpu[1]:.1f} / {sent.cpu_s:.1f}"),
        ("server CPU ms per new event (whole run)", f"{cpu[0] * 1000 / stored:.2f}" if stored else "-"),
        (
            "raw allocation tx/s (steady / hot)",
            f"{raw.tps:,.0f} ({raw.phases[0].tps:,.0f} / {raw.phases[1].tps:,.0f})",
        ),
        (
            "ratio events_per_s / raw_tx_per_s",
            f"{events_per_s / raw.tps:.3f} (target ≥ {TARGET_RATIO})" if raw.tps else "-",
        ),
        ("audit: events stored / acknowledged", f"{audit.rows:,} / {audit.acknowledged:,}"),
        (
            "audit: applied twice / missing / parcels off",
            f"{audit.duplicates_applied} / {audit.missing} / {audit.parcels_off}",
        ),
        ("audit: status ≠ newest event / count off", f"{audit.status_mismatches} / {audit.count_mismatches}"),
        ("evaluate jobs left in the outbox", f"{backlog:,}"),
        ("whole run", f"{elapsed:.0f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for error in sent.errors[:5]:
        console.print(f"[red]{error}[/red]")
    return {
        "events_per_s": round(events_per_s, 1),
        "p99_ms": round(percentile(histogram, 99) / 1000, 2),
        "raw_tx_per_s": round(raw.tps, 1),
        "ratio": round(events_per_s / raw.tps, 3) if raw.tps else 0.0,
        "duplicates_applied": audit.duplicates_applied,
        "missing": audit.missing,
        "status_mismatches": audit.status_mismatches,
        "requests_per_s": round(len(measured) / seconds, 1) if seconds else 0.0,
    }


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
    parser.add_argument("--parcels", type=int, default=40_000, help="parcels the webhooks report on")
    parser.add_argument("--history", type=int, default=20_000, help="delivered parcels seeded before")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured load")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16, help="concurrent webhook senders")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=32, help="pgbench clients (raw limit)")
    parser.add_argument("--raw-seconds", type=float, default=12.0, help="pgbench, steady + hot phase")
    parser.add_argument("--aftership-share", type=float, default=0.05)
    parser.add_argument("--duplicate-share", type=float, default=0.15)
    parser.add_argument("--dispatch", action="store_true", help="run the outbox dispatcher in the servers")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()

    with (
        temporary_database(args.admin_url, "aftersail_bench_tracking") as bench_db,
        tempfile.TemporaryDirectory(prefix="aftersail-bench-") as tmp,
    ):
        workdir = Path(tmp)
        url = bench_db.url
        console.print(f"[bold]database[/bold] {bench_db.name}: migrating and seeding")
        upgrade(url)
        world = with_db(url, lambda db: seed_world(db, parcels=args.parcels))
        with_db(url, lambda db: seed_history(db, world, parcels=args.history))
        with_db(url, lambda db: seed_parcels(db, world))

        raw_hot = max(round(args.raw_seconds / 3), 1)
        console.print(f"[bold]raw limit[/bold]: pgbench, {args.clients} clients, {args.raw_seconds:.0f}s")
        raw = run_raw(
            bench_db,
            rows=1200,
            hot_rows=6,
            clients=args.clients,
            cold_seconds=args.raw_seconds - raw_hot,
            hot_seconds=raw_hot,
        )

        port = free_port()
        shipped = datetime.now(UTC) - timedelta(days=1)
        corpus = build_corpus(
            world,
            host=f"127.0.0.1:{port}",
            shipped=shipped,
            seed=args.seed,
            aftership_share=args.aftership_share,
            duplicate_share=args.duplicate_share,
        )
        console.print(
            f"[bold]corpus[/bold]: {len(corpus.deliveries):,} deliveries, {corpus.events:,} distinct events"
        )
        redis_url = args.redis_url if redis_answers(args.redis_url) else None
        env = {
            **os.environ,
            "AFTERSAIL_ENV": "production",
            "AFTERSAIL_SECRET_KEY": secrets.token_urlsafe(48),
            "AFTERSAIL_DATABASE_URL": url,
            "AFTERSAIL_DATA_DIR": str(workdir / "data"),
            "AFTERSAIL_LOG_LEVEL": "WARNING",
            "AFTERSAIL_RUN_DISPATCHER": "true" if args.dispatch else "false",
        }
        if redis_url:
            env["AFTERSAIL_REDIS_URL"] = redis_url
        else:
            env.pop("AFTERSAIL_REDIS_URL", None)
        server = ServerProcess(
            port=port,
            env=env,
            serve_args=["--workers", str(args.workers), "--no-access-log"],
            log_path=workdir / "server.log",
        )
        deployment = (
            f"aftersail serve --workers {args.workers} --no-access-log (production settings), outbox "
            f"{'dispatched inside the servers' if args.dispatch else 'left for workers'}; "
            f"load: {args.connections} keep-alive connections"
        )
        console.print(f"[bold]API[/bold]: {deployment}")
        server.start()
        try:
            servers = [pid for process in server.processes for pid in descendants(process.pid)]
            database = postgres_backends()
            before = cpu_seconds(servers), cpu_seconds(database)
            sent = _run_load(corpus, port, args.connections, args.warmup + args.seconds)
            cpu = cpu_seconds(servers) - before[0], cpu_seconds(database) - before[1]
            backlog = with_db(url, outbox_backlog)
        finally:
            server.stop()
        if not sent.answers:
            raise SystemExit(f"no answers from the server; its log:\n{server.tail()}")
        acknowledged: set[int] = set()
        for _, index, status, *_ in sent.answers:
            if status == 202:
                acknowledged.update(corpus.deliveries[index].events)
        audit = with_db(url, lambda db: audit_tracking(db, world, acknowledged))

    window = (sent.started + args.warmup, sent.finished)
    summary = _report(
        deployment=deployment,
        corpus=corpus,
        sent=sent,
        window=window,
        raw=raw,
        audit=audit,
        cpu=cpu,
        backlog=backlog,
        elapsed=time.monotonic() - started,
    )
    sys.stdout.flush()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
