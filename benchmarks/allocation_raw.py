"""The raw limit: pgbench running the allocation transaction itself on the benchmark's database.

One conditional stock update (`… WHERE on_hand - reserved >= 1`) and one INSERT per transaction, 32
clients, a steady phase over as many stock rows as the API run has, then a hot phase in which a third of
the transactions hit the few hot rows (one line in three is the hot SKU in the API run), with hot stock
sized from the steady rate so that it sells out halfway through, as in the API run.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import BenchDatabase, percentile

SCHEMA = """
DROP TABLE IF EXISTS bench_raw_allocation, bench_raw_stock;
CREATE TABLE bench_raw_stock (
    id integer PRIMARY KEY,
    on_hand integer NOT NULL,
    reserved integer NOT NULL DEFAULT 0,
    CHECK (on_hand - reserved >= 0)
);
CREATE TABLE bench_raw_allocation (
    id bigserial PRIMARY KEY,
    stock_id integer NOT NULL REFERENCES bench_raw_stock (id),
    quantity integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO bench_raw_stock (id, on_hand) SELECT g, {cold_stock} FROM generate_series(1, {rows}) AS g;
"""

TRANSACTION = """\\set stock_id random({first}, {last})
{hot_choice}BEGIN;
UPDATE bench_raw_stock SET reserved = reserved + 1 WHERE id = :stock_id AND on_hand - reserved >= 1;
INSERT INTO bench_raw_allocation (stock_id, quantity) VALUES (:stock_id, 1);
END;
"""

HOT_CHOICE = """\\set line random(1, 3)
\\if :line = 1
\\set stock_id random(1, {hot_rows})
\\endif
"""


@dataclass
class RawPhase:
    name: str
    seconds: float
    transactions: int = 0
    failed: int = 0
    latencies_us: Counter[int] = field(default_factory=Counter)
    statements_ms: dict[str, float] = field(default_factory=dict)

    @property
    def tps(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


@dataclass
class RawResult:
    phases: list[RawPhase]
    hot_units: int
    hot_sold: int
    oversold: int

    @property
    def transactions(self) -> int:
        return sum(p.transactions for p in self.phases)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    @property
    def tps(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0

    def latency_ms(self, p: float) -> float:
        merged: Counter[int] = Counter()
        for phase in self.phases:
            merged.update(phase.latencies_us)
        return percentile(merged, p) / 1000


def find_pgbench() -> str:
    found = shutil.which("pgbench") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)), None
    )
    if found is None:
        raise SystemExit("pgbench not found: install the PostgreSQL client tools (postgresql-client)")
    return found


def _psql(db: BenchDatabase, sql: str) -> str:
    psql = shutil.which("psql") or find_pgbench().replace("pgbench", "psql")
    done = subprocess.run(
        [psql, *db.libpq_args(), "-d", db.name, "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-c", sql],
        env=db.libpq_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _run_phase(db: BenchDatabase, phase: RawPhase, script: str, clients: int, workdir: Path) -> RawPhase:
    script_path = workdir / f"{phase.name}.sql"
    script_path.write_text(script)
    prefix = workdir / f"log_{phase.name}"
    done = subprocess.run(
        [
            find_pgbench(),
            *db.libpq_args(),
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, os.cpu_count() or 2)),
            "-T",
            str(int(phase.seconds)),
            "-r",
            "-l",
            f"--log-prefix={prefix}",
            "-f",
            str(script_path),
            db.name,
        ],
        env=db.libpq_env(),
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stderr or done.stdout}")
    out = done.stdout
    phase.transactions = int(re.search(r"actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    phase.failed = int(failed.group(1)) if failed else 0
    for match in re.finditer(r"^\s+([\d.]+)\s+\d+\s+(UPDATE|INSERT|BEGIN|END)", out, re.MULTILINE):
        phase.statements_ms[match.group(2)] = float(match.group(1))
    for log in workdir.glob(f"{prefix.name}*"):
        for entry in log.read_text().splitlines():
            # client_id transaction_no time_us script_no epoch epoch_us
            fields = entry.split()
            if len(fields) >= 3 and fields[2].isdigit():
                phase.latencies_us[int(fields[2])] += 1
    return phase


def run_raw(
    db: BenchDatabase, *, rows: int, hot_rows: int, clients: int, cold_seconds: float, hot_seconds: float
) -> RawResult:
    """Measure both phases; the hot rows get stock for half the hot phase at the steady phase's rate."""
    total_rows = rows + hot_rows
    _psql(db, SCHEMA.format(rows=total_rows, cold_stock=10_000_000))
    with tempfile.TemporaryDirectory(prefix="aftersail-raw-") as tmp:
        workdir = Path(tmp)
        cold = _run_phase(
            db,
            RawPhase("steady", cold_seconds),
            TRANSACTION.format(first=hot_rows + 1, last=total_rows, hot_choice=""),
            clients,
            workdir,
        )
        hot_units = max(int(cold.tps * hot_seconds / 3 / 2), hot_rows)
        per_row = max(hot_units // hot_rows, 1)
        _psql(db, f"UPDATE bench_raw_stock SET on_hand = {per_row}, reserved = 0 WHERE id <= {hot_rows}")
        hot = _run_phase(
            db,
            RawPhase("hot", hot_seconds),
            TRANSACTION.format(
                first=hot_rows + 1, last=total_rows, hot_choice=HOT_CHOICE.format(hot_rows=hot_rows)
            ),
            clients,
            workdir,
        )
    sold = int(_psql(db, f"SELECT COALESCE(SUM(reserved), 0) FROM bench_raw_stock WHERE id <= {hot_rows}"))
    oversold = int(_psql(db, "SELECT COALESCE(SUM(GREATEST(reserved - on_hand, 0)), 0) FROM bench_raw_stock"))
    _psql(db, "DROP TABLE bench_raw_allocation, bench_raw_stock")
    return RawResult(phases=[cold, hot], hot_units=per_row * hot_rows, hot_sold=sold, oversold=oversold)
