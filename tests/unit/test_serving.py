"""The server process's HTTP transport (web/serving.py): what a response writes in one turn of the event
loop reaches the socket in one call, in order, and nothing is lost when the connection closes."""

from __future__ import annotations

import asyncio
from typing import Any

from aftersail.web.serving import _CoalescingTransport


class SocketTransport:
    """Stands in for the event loop's socket transport: records each call that would reach the socket."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.calls.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


async def test_a_head_and_a_body_written_in_one_turn_go_out_in_one_call() -> None:
    socket = SocketTransport()
    transport = _CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert socket.calls == [], "nothing reaches the socket before the turn ends"
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")
    await asyncio.sleep(0)
    assert socket.calls == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert socket.calls[-1] == b"next", "a later turn is a later call"


async def test_closing_sends_what_was_written_first() -> None:
    socket = SocketTransport()
    transport = _CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.close()
    assert socket.calls == [b"last words"] and socket.closed
    await asyncio.sleep(0)
    assert socket.calls == [b"last words"], "the scheduled flush finds nothing left"


async def test_everything_else_is_the_socket_transport() -> None:
    socket = SocketTransport()
    transport = _CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)
    assert transport.is_closing() is False
