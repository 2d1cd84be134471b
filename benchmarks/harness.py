"""Plumbing shared by benchmarks: a throw-away PostgreSQL database, free ports, the server as a subprocess,
and percentiles from latency histograms."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from aftersail.kit.db import Database

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


@dataclass(frozen=True)
class BenchDatabase:
    """A database made for one run: its SQLAlchemy URL and how command-line clients reach it."""

    url: str
    name: str

    @property
    def parsed(self) -> URL:
        return make_url(self.url)

    def libpq_args(self) -> list[str]:
        url = self.parsed
        return ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]

    def libpq_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.parsed.password:
            env["PGPASSWORD"] = self.parsed.password
        return env


async def _admin_execute(admin_url: str, statement: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def temporary_database(admin_url: str, prefix: str) -> Iterator[BenchDatabase]:
    """CREATE DATABASE for the run, DROP it afterwards (also when the run fails).

    With AFTERSAIL_BENCH_KEEP_DATABASE=1 the database is kept for a look at its rows and plans.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin_execute(admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield BenchDatabase(url=url, name=name)
    finally:
        if os.environ.get("AFTERSAIL_BENCH_KEEP_DATABASE") == "1":
            print(f"kept database {name}", file=sys.stderr)
        else:
            asyncio.run(_admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on a short-lived Database of the benchmark's own (the servers have theirs)."""

    async def _run() -> T:
        db = Database(url, pool_size=2)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (the project's virtual env), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: run `make install` first")
    return found


@dataclass
class ServerProcess:
    """`aftersail serve` (and optional `aftersail worker`s) started for the run; stopped with SIGTERM."""

    port: int
    env: Mapping[str, str]
    serve_args: list[str]
    log_path: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        command = [
            venv_tool("aftersail"),
            "serve",
            "--no-migrate",
            "--port",
            str(self.port),
            *self.serve_args,
        ]
        self.processes.append(
            subprocess.Popen(command, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT)
        )
        if not wait_for_http(f"{self.base_url}/readyz", self.processes, timeout=timeout):
            raise SystemExit(f"the server did not become ready; see {self.log_path}:\n{self.tail()}")

    def start_worker(self, concurrency: int) -> None:
        log = self.log_path.open("ab")
        command = [venv_tool("aftersail"), "worker", "--concurrency", str(concurrency)]
        self.processes.append(
            subprocess.Popen(command, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT)
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for_http(url: str, processes: Iterable[subprocess.Popen[bytes]], *, timeout: float) -> bool:
    """Whether `url` answered 200 within `timeout` seconds (False at once if one of `processes` exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (clock ticks → seconds)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def descendants(root: int) -> list[int]:
    found, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        found += [int(c) for c in children]
        frontier += [int(c) for c in children]
    return found


def postgres_backends() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def percentile(histogram: Mapping[int, int] | Iterable[tuple[int, int]], p: float) -> float:
    """The `p`-th percentile (0–100) of a histogram {value: count}, nearest-rank."""
    items = sorted(histogram.items() if isinstance(histogram, Mapping) else histogram)
    total = sum(count for _, count in items)
    if total == 0:
        return 0.0
    rank = max(1, -(-total * p // 100))  # ceil(total * p / 100)
    seen = 0
    for value, count in items:
        seen += count
        if seen >= rank:
            return float(value)
    return float(items[-1][0])


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers at `url` (a phase that needs one is skipped with a reason)."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
