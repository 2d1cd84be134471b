"""How `aftersail serve` runs the app in a server process: the HTTP protocol it gives uvicorn, and the
garbage collector's settings for a long-lived process.

Measured under the order-intake benchmark (docs/performance.md), a server process spent a fifth of its
CPU in `write` system calls and a twentieth in the garbage collector. uvicorn writes a response's head
and its body in two calls; here the writes of one turn of the event loop go out together.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, cast

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._pending)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response (head and body) in one system call."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, but have the same methods.
        coalescing = _CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]


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
