"""A local Janus started beside AfterSail: its configuration generated from the settings (bound to 127.0.0.1,
only the VideoRoom and EchoTest plugins, WebSocket for browsers and HTTP for the server, HMAC-signed tokens
required on every request) and the process supervised for the server's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

JANUS_LIB = (
    "/usr/lib/x86_64-linux-gnu/janus",
    "/usr/lib/aarch64-linux-gnu/janus",
    "/usr/lib/janus",
    "/opt/janus/lib/janus",
)
PR_SET_PDEATHSIG = 1
KEPT_PLUGINS = ("libjanus_videoroom.so", "libjanus_echotest.so")
KEPT_TRANSPORTS = ("libjanus_websockets.so", "libjanus_http.so")


@dataclass(frozen=True, slots=True)
class JanusLayout:
    """What a generated configuration needs: where Janus's modules live and the ports and secrets to use."""

    lib_dir: Path
    ws_port: int
    http_port: int
    token_secret: str
    admin_key: str
    rtp_ports: str = "20000-40000"
    bind_ip: str = "127.0.0.1"
    interfaces: tuple[str, ...] = ()  # empty: every interface but Janus's default ignore list
    public_ip: str = ""  # 1:1 NAT (a cloud host): the address put in host candidates
    stun_server: str = ""  # host:port
    turn: tuple[str, int, str, str, str] | None = None  # host, port, transport, user, password


def find_janus() -> tuple[Path, Path] | None:
    """The janus binary and its module folder, or None when Janus is not installed."""
    binary = shutil.which("janus")
    if binary is None:
        return None
    for candidate in JANUS_LIB:
        if (Path(candidate) / "plugins").is_dir():
            return Path(binary), Path(candidate)
    return None


def _modules(folder: Path, kept: tuple[str, ...]) -> str:
    names = sorted(p.name for p in folder.glob("*.so*") if not p.is_symlink() or p.suffix == ".so")
    dropped = sorted({n.split(".so")[0] + ".so" for n in names} - set(kept))
    return ", ".join(dropped)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(folder: Path, layout: JanusLayout) -> Path:
    """Write janus.jcfg and the kept modules' files into `folder`; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    lib = layout.lib_dir
    nat = [f"ice_enforce_list = {_quote(','.join(layout.interfaces))}"] if layout.interfaces else []
    if layout.stun_server:
        stun_host, _, stun_port = layout.stun_server.partition(":")
        nat += [f"stun_server = {_quote(stun_host)}", f"stun_port = {int(stun_port or 3478)}"]
    if layout.public_ip:
        nat += [f"nat_1_1_mapping = {_quote(layout.public_ip)}"]
    if layout.turn:
        host, port, transport, user, password = layout.turn
        nat += [
            f"turn_server = {_quote(host)}",
            f"turn_port = {port}",
            f"turn_type = {_quote(transport)}",
            f"turn_user = {_quote(user)}",
            f"turn_pwd = {_quote(password)}",
        ]
    (folder / "janus.jcfg").write_text(
        "general: {\n"
        f"  configs_folder = {_quote(str(folder))}\n"
        f"  plugins_folder = {_quote(str(lib / 'plugins'))}\n"
        f"  transports_folder = {_quote(str(lib / 'transports'))}\n"
        f"  events_folder = {_quote(str(lib / 'events'))}\n"
        f"  loggers_folder = {_quote(str(lib / 'loggers'))}\n"
        "  debug_level = 3\n"
        "  token_auth = true\n"
        f"  token_auth_secret = {_quote(layout.token_secret)}\n"
        "  session_timeout = 30\n"
        "  reclaim_session_timeout = 20\n"
        '  protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr"]\n'
        "}\n"
        "media: {\n"
        f"  rtp_port_range = {_quote(layout.rtp_ports)}\n"
        "}\n"
        "nat: {\n  " + "\n  ".join(["nice_debug = false", "full_trickle = true", *nat]) + "\n}\n"
        f"plugins: {{\n  disable = {_quote(_modules(lib / 'plugins', KEPT_PLUGINS))}\n}}\n"
        f"transports: {{\n  disable = {_quote(_modules(lib / 'transports', KEPT_TRANSPORTS))}\n}}\n"
        "events: {\n  broadcast = false\n}\n"
        "loggers: {\n}\n"
    )
    (folder / "janus.transport.websockets.jcfg").write_text(
        'general: {\n  json = "compact"\n  ws = true\n'
        f"  ws_port = {layout.ws_port}\n  ws_ip = {_quote(layout.bind_ip)}\n  wss = false\n}}\n"
        "admin: {\n  admin_ws = false\n  admin_wss = false\n}\n"
    )
    (folder / "janus.transport.http.jcfg").write_text(
        'general: {\n  json = "compact"\n  base_path = "/janus"\n  http = true\n'
        f"  port = {layout.http_port}\n  ip = {_quote(layout.bind_ip)}\n  https = false\n}}\n"
        "admin: {\n  admin_http = false\n  admin_https = false\n}\n"
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text(
        f"general: {{\n  admin_key = {_quote(layout.admin_key)}\n  lock_rtp_forward = true\n}}\n"
    )
    (folder / "janus.plugin.echotest.jcfg").write_text("general: {\n}\n")
    return folder


def _die_with_parent() -> None:
    """In the child before exec: Janus gets SIGTERM when the process that started it dies, even killed
    (Linux), so no Janus outlives its server holding the ports."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JanusProcess:
    """One Janus process with a generated configuration; `start` waits until its HTTP API answers."""

    def __init__(self, binary: Path, config_dir: Path, layout: JanusLayout, log_file: Path) -> None:
        self.binary, self.config_dir, self.layout, self.log_file = binary, config_dir, layout, log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.layout.bind_ip}:{self.layout.http_port}/janus"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.layout.bind_ip}:{self.layout.ws_port}/"

    async def start(self, wait_seconds: float = 15.0) -> None:
        write_config(self.config_dir, self.layout)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: ASYNC220 - returns at once, never waits
                [str(self.binary), "-F", str(self.config_dir), "-o", "-r", self.layout.rtp_ports],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = asyncio.get_running_loop().time() + wait_seconds
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"Janus exited with code {self._process.returncode}; see {self.log_file}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"{self.http_url}/info")
                    if answer.status_code == 200:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"Janus did not answer in {wait_seconds:.0f} s; see {self.log_file}")
                await asyncio.sleep(0.1)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
