"""`aftersail serve --workers N` (web/serving.py): N server processes on one address, each accepting on a
socket of its own so that the kernel spreads connections across them; a worker that dies is replaced;
SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aftersail.web.serving import listening_socket

AFTERSAIL = str(Path(sys.executable).with_name("aftersail"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sockets_of_one_address_share_its_connections() -> None:
    """Connections made before anyone accepts wait in the sockets' queues, spread across them."""
    port = free_port()
    first, second = listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port)
    clients = []
    try:
        for sock in (first, second):
            sock.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        time.sleep(0.1)
        accepted = []
        for sock in (first, second):
            count = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                count += 1
            accepted.append(count)
        assert sum(accepted) == 40
        assert min(accepted) > 0, f"one socket took every connection: {accepted}"
    finally:
        for client in clients:
            client.close()
        first.close()
        second.close()


def _servers(pid: int) -> list[int]:
    """The server workers under the supervisor (the spawn machinery's resource tracker is not one)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_text(errors="replace")
            if "spawn_main" in command and "resource_tracker" not in command:
                found.append(int(child))
    return found


def _sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except FileNotFoundError:  # closed between the listing and the look (a file the worker just read)
            continue
    return count


def _wait(check: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {within} s")


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_share_connections_are_replaced_and_stop_together(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSAIL_")}
    env["AFTERSAIL_VIDEO_MEDIA"] = "off"  # no Janus of its own (the video tests start theirs)
    env |= {
        "AFTERSAIL_DATABASE_URL": postgres_url,
        "AFTERSAIL_DATA_DIR": str(tmp_path),
        "AFTERSAIL_LOG_LEVEL": "WARNING",
        "AFTERSAIL_RUN_DISPATCHER": "false",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [AFTERSAIL, "serve", "--no-migrate", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/healthz"

    def serving() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200 and len(_servers(server.pid)) == 2
        except httpx.TransportError:
            return False

    clients: list[httpx.Client] = []
    try:
        _wait(serving, 60, "two workers serving")
        workers = _servers(server.pid)
        before = {pid: _sockets(pid) for pid in workers}
        clients = [httpx.Client() for _ in range(24)]  # 24 keep-alive connections
        for client in clients:
            assert client.get(url).status_code == 200
        gained = {pid: _sockets(pid) - before[pid] for pid in workers}
        assert sum(gained.values()) >= 20 and min(gained.values()) > 0, f"connections per worker: {gained}"

        os.kill(workers[0], signal.SIGKILL)
        _wait(
            lambda: serving() and workers[0] not in _servers(server.pid),
            30,
            "a replacement for the killed worker",
        )
    finally:
        for client in clients:
            client.close()
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=40)
        log.close()
    assert status == 0, (tmp_path / "serve.log").read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=1)
