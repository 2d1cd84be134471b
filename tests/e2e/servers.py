"""A real AfterSail server in its own process on a migrated SQLite file, for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def sqlite_server(data_dir: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """Migrate a database in `data_dir`, serve it with uvicorn, yield (base URL, database URL).

    `settings` are extra AFTERSAIL_* variables without the prefix, e.g. RUN_DISPATCHER="true"."""
    url = f"sqlite+aiosqlite:///{data_dir / 'aftersail.db'}"
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
