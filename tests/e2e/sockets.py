"""Reading a WebSocket in tests: a frame, or frames up to the one a test waits for."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection


async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout=within)))


async def receive_until(ws: ClientConnection, wanted: Any, within: float = 5.0) -> dict[str, Any]:
    """The first frame (or event of a console's `events` frame) for which `wanted` holds; others, such as
    SLA events, pass by."""
    return (await receive_all_until(ws, wanted, within))[-1]


async def receive_all_until(ws: ClientConnection, wanted: Any, within: float = 5.0) -> list[dict[str, Any]]:
    """What came, in order, up to and including the first frame or event for which `wanted` holds."""
    deadline = asyncio.get_running_loop().time() + within
    seen: list[dict[str, Any]] = []
    while True:
        frame = await receive(ws, max(0.1, deadline - asyncio.get_running_loop().time()))
        for one in frame["events"] if frame.get("type") == "events" else [frame]:
            seen.append(one)
            if wanted(one):
                return seen
