"""Support for the outbox and worker tests (this module holds no tests itself).

- `isolated_database`: a freshly migrated database of the same backend as `db_url`. Dispatchers claim
  every due event of their database, so these tests must not share one with other tests (whose events,
  or whose in-server dispatchers, would otherwise mix with theirs).
- The `test.effect` handler, imported by `aftersail worker` subprocesses through
  `AFTERSAIL_WORKER_IMPORTS`: a slow, observable, idempotent write into `outbox_test_effects`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade_async
from aftersail.kit.outbox import Delivery, register
from tests.conftest import POSTGRES_URL, _create_postgres_database, _drop_postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]
EFFECT_TOPIC = "test.effect"
EFFECT_SLEEP_ENV = "AFTERSAIL_TEST_EFFECT_SLEEP"
EFFECT_LOG_ENV = "AFTERSAIL_TEST_EFFECT_LOG"
T = TypeVar("T")

EFFECT_TABLES = (
    # No unique constraint on purpose: a handler applied twice shows up as two rows.
    "CREATE TABLE outbox_test_effects (event_id BIGINT NOT NULL, worker VARCHAR(40) NOT NULL, "
    "started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE outbox_test_counter (id INTEGER PRIMARY KEY, applied INTEGER NOT NULL)",
    "INSERT INTO outbox_test_counter (id, applied) VALUES (1, 0)",
)


def is_postgres_url(url: str) -> bool:
    return url.startswith("postgresql")


@asynccontextmanager
async def isolated_database(like_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A new, migrated database on the backend of `like_url`, dropped afterwards."""
    if is_postgres_url(like_url):
        name = f"aftersail_outbox_{uuid.uuid4().hex[:10]}"
        url = await _create_postgres_database(POSTGRES_URL, name)
    else:
        name = ""
        url = f"sqlite+aiosqlite:///{tmp_path / f'outbox-{uuid.uuid4().hex[:8]}.db'}"
    await upgrade_async(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
        if name:
            await _drop_postgres_database(POSTGRES_URL, name)


async def create_effect_tables(db: Database) -> None:
    async with db.transaction(system=True) as session:
        for statement in EFFECT_TABLES:
            await session.execute(text(statement))


@register(EFFECT_TOPIC, name="test.effect.record")
async def record_effect(session: AsyncSession, delivery: Delivery) -> None:
    """Logs its start outside the transaction (so a kill mid-handler is visible), then writes one effect
    row and bumps the counter, slowly, in the handler's transaction."""
    started = time.time()
    log_path = os.environ.get(EFFECT_LOG_ENV)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as log:  # noqa: ASYNC230 - a tiny append in a test
            log.write(f"start {delivery.event_id} {os.getpid()} {started}\n")
    await asyncio.sleep(float(os.environ.get(EFFECT_SLEEP_ENV, "0.2")))
    await session.execute(
        text("UPDATE outbox_test_counter SET applied = applied + 1 WHERE id = 1"),
    )
    await session.execute(
        text(
            "INSERT INTO outbox_test_effects (event_id, worker, started_at, ended_at) VALUES (:e, :w, :s, :t)"
        ),
        {"e": delivery.event_id, "w": str(os.getpid()), "s": started, "t": time.time()},
    )


# --- subprocesses ------------------------------------------------------------------------------------------


def read_starts(log_path: Path) -> list[tuple[int, str, float]]:
    """(event id, worker pid, time) of every handler start logged by `record_effect`."""
    if not log_path.exists():
        return []
    lines = log_path.read_text(encoding="utf-8").splitlines()
    return [(int(p[1]), p[2], float(p[3])) for p in (line.split() for line in lines) if p[0] == "start"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subprocess_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AFTERSAIL_")}
    env["AFTERSAIL_VIDEO_MEDIA"] = "off"  # no Janus of its own (the video tests start theirs)
    env.update(
        {
            "AFTERSAIL_ENV": "test",
            "AFTERSAIL_DATABASE_URL": database_url,
            "AFTERSAIL_DATA_DIR": str(data_dir),
            "AFTERSAIL_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
        }
    )
    env.update(extra)
    return env


def start_cli(args: list[str], env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    """`aftersail <args>` as a child process, its output going to `log_file`."""
    with log_file.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", "from aftersail.cli import main; main()", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for(
    predicate: Callable[[], Awaitable[T]],
    *,
    within: float,
    interval: float = 0.05,
    what: str = "condition",
    logs: Sequence[Path] = (),
    processes: Sequence[subprocess.Popen[bytes]] = (),
) -> T:
    """Poll the async `predicate` until it returns something truthy; fail after `within` seconds, or as
    soon as one of `processes` exits, showing the end of the subprocess `logs`."""
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        exited = [p.args for p in processes if p.poll() is not None]
        if exited or time.monotonic() > deadline:
            tails = "\n".join(f"--- {path.name}\n{tail(path)}" for path in logs)
            problem = f"{exited} exited" if exited else f"timed out after {within}s"
            raise AssertionError(f"{problem} waiting for {what}\n{tails}")
        await asyncio.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
