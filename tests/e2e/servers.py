"""A real AfterSail server in its own process on a migrated database (a SQLite file, or a PostgreSQL database
of its own), for browser tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import make_url, text

from aftersail.kit.db import create_engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def sqlite_server(data_dir: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """Migrate a database in `data_dir`, serve it with uvicorn, yield (base URL, database URL).

    `settings` are extra AFTERSAIL_* variables without the prefix, e.g. RUN_DISPATCHER="true"."""
    with database_server(f"sqlite+aiosqlite:///{data_dir / 'aftersail.db'}", data_dir, **settings) as served:
        yield served


@contextmanager
def postgres_server(admin_url: str, data_dir: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """As `sqlite_server`, on a PostgreSQL database of its own (created from `admin_url`, dropped after):
    a server with a dispatcher must not run other tests' jobs in the shared test database."""
    name = f"aftersail_server_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url)
    _autocommit(admin_url, f'CREATE DATABASE "{name}"')
    try:
        with database_server(
            admin.set(database=name).render_as_string(hide_password=False), data_dir, **settings
        ) as served:
            yield served
    finally:
        _autocommit(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _autocommit(admin_url: str, statement: str) -> None:
    """One statement outside any transaction, on a loop of its own (callers may run inside another loop)."""

    async def run() -> None:
        engine = create_engine(admin_url)
        try:
            async with engine.connect() as connection:
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@contextmanager
def database_server(url: str, data_dir: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """Migrate the database at `url`, serve it with uvicorn, yield (base URL, database URL)."""
    port = free_port()
    env = {
        **os.environ,
        "AFTERSAIL_ENV": "test",
        "AFTERSAIL_DATABASE_URL": url,
        "AFTERSAIL_DATA_DIR": str(data_dir),
        "AFTERSAIL_PORT": str(port),
        "AFTERSAIL_SECRET_KEY": "browser-test-secret-key-that-is-long-enough",
        **{f"AFTERSAIL_{name}": value for name, value in settings.items()},
    }
    # Migrate before the server starts (the server only serves).
    subprocess.run(
        [sys.executable, "-c", f"from aftersail.kit.migrate import upgrade; upgrade({url!r})"],
        check=True,
        env=env,
    )
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "aftersail.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url, url
    finally:
        process.terminate()
        process.wait(timeout=15)
