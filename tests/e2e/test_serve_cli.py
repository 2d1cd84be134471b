"""The installed `aftersail` command serves a fresh data directory, as a new user would run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
AFTERSAIL = str(Path(sys.executable).with_name("aftersail"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_demo_then_serve_on_a_fresh_data_dir(tmp_path: Path) -> None:
    """`AFTERSAIL_DATA_DIR=$(mktemp -d) aftersail demo` then `aftersail serve --port P`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSAIL_")}
    env["AFTERSAIL_VIDEO_MEDIA"] = "off"  # no Janus of its own (the video tests start theirs)
    env["AFTERSAIL_DATA_DIR"] = str(tmp_path)
    env["AFTERSAIL_ASSISTANT_WARM_UP"] = "false"  # training the model (~15 s) would outlast the stop below
    subprocess.run(
        [AFTERSAIL, "demo", "--orders", "300"], env=env, check=True, capture_output=True, timeout=120
    )
    port = free_port()
    started = time.monotonic()
    server = subprocess.Popen(
        [AFTERSAIL, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        elapsed = time.monotonic() - started
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert spec["info"]["title"] == "AfterSail"
        assert any(path.startswith("/api/v1/") for path in spec["paths"])
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"]["database"] == "ok"
        assert (tmp_path / "aftersail.db").exists()
        login = httpx.get(f"http://127.0.0.1:{port}/login")
        assert login.status_code == 200 and 'type="password"' in login.text
        assert elapsed < 20
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}/login" in output
    assert "demo-pass-2026" in output
    assert "admin@shenzhen-gadgets.demo" in output
