"""How `aftersail serve` runs the app: the HTTP protocol it gives uvicorn, the garbage collector's settings
for a long-lived process, and several server processes sharing one address.

Measured under the order-intake benchmark (docs/performance.md), a server process spent a fifth of its
CPU in `write` system calls and a twentieth in the garbage collector. uvicorn writes a response's head
and its body in two calls; here the writes of one turn of the event loop go out together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any, cast

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

# Young objects collected after this many more allocations than deallocations (the default is 700: a
# collection every few requests). Long-lived objects are frozen out of the collections after startup.
GC_THRESHOLDS = (20_000, 20, 20)


class _CoalescingTransport:
    """A transport whose writes made in one turn of the event loop reach the socket in one call."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    @property
    def inner(self) -> asyncio.Transport:
        return self._transport

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response (head and body) in one system call."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, but have the same methods.
        coalescing = _CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket writes straight to its socket: it writes a frame at a time anyway, and a pushed frame
        must not wait for the next turn of the loop."""
        if isinstance(self.transport, _CoalescingTransport):
            self.transport.flush()
            self.transport = self.transport.inner
        super().handle_websocket_upgrade()


# What every server process gives uvicorn besides its address (the chat benchmark's bare echo uses the
# same). No permessage-deflate: chat frames are a few hundred bytes, and each compressed socket keeps a zlib
# context (hundreds of KB with context takeover) and pays CPU at both ends for every frame (ADR 0014).
PROTOCOL_OPTIONS: dict[str, Any] = {
    "ws": "websockets-sansio",
    "ws_per_message_deflate": False,
    "http": CoalescingHttpToolsProtocol,
}


def tune_collector() -> None:
    """Freeze what exists now (modules, the app) out of future collections and collect young objects
    less often: call once the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_served_app() -> FastAPI:
    """The app factory of each server process when `serve` runs several (settings from the environment)."""
    from aftersail.app import create_app

    app = create_app()
    tune_collector()
    return app


# --- several server processes ---------------------------------------------------------------------------

LISTEN_BACKLOG = 2048  # uvicorn's own default
RESTART_DELAY_SECONDS = 1.0
GIVE_UP_AFTER_QUICK_DEATHS = 5  # a worker that keeps dying within its first seconds: stop trying
QUICK_DEATH_SECONDS = 10.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT: every worker binds its own to the same address, and the kernel
    spreads new connections across them (one socket shared by all workers goes to whichever is awake
    first: measured, 21 of 32 connections, or 28, to one of two workers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)  # listening from now on: connections wait here for a worker still starting
    sock.set_inheritable(True)
    return sock


def _serve_one(options: dict[str, Any], sock: socket.socket) -> None:
    """A worker process: the app from the environment's settings on its own socket, until SIGTERM."""
    import uvicorn

    config = uvicorn.Config("aftersail.web.serving:create_served_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(options: dict[str, Any], workers: int) -> int:
    """Run `workers` server processes until SIGTERM or SIGINT, each stopped gracefully then; a worker
    that dies is started again. Returns the exit status.

    Every worker's socket is bound here before any worker starts, so that connections made while a
    worker is still starting wait in its socket's queue and go to it, instead of all going to the
    workers that happened to be up first (they would then carry the load while the late one idles). This
    process keeps each socket open for as long as its worker lives."""
    import multiprocessing

    host, port = options["host"], options["port"]
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    def start(sock: socket.socket) -> tuple[BaseProcess, socket.socket, float]:
        process = context.Process(target=_serve_one, args=(options, sock), name="aftersail-server")
        process.start()
        return process, sock, time.monotonic()

    running = [start(listening_socket(host, port)) for _ in range(workers)]
    quick_deaths = 0
    status = 0
    while not stopping.wait(0.5):
        for slot, (process, sock, started) in enumerate(running):
            if process.is_alive():
                continue
            sock.close()  # its queue goes with it; the new worker gets a socket of its own
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0
            if quick_deaths >= GIVE_UP_AFTER_QUICK_DEATHS:
                log.error("server workers keep dying on start; stopping")
                stopping.set()
                status = 1
                break
            log.warning("server worker %s exited with %s; starting another", process.pid, process.exitcode)
            time.sleep(RESTART_DELAY_SECONDS)
            running[slot] = start(listening_socket(host, port))
    for process, _, _ in running:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for process, sock, _ in running:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
        sock.close()
    return status
