"""`/ws`: the console's WebSocket. It carries the live events of the caller's tenant (`live.*` and
`realtime.*` outbox events, forwarded through the realtime bus, chat messages as they arrive and again once
stored) and answers pings. Events waiting together go out as one frame, `{"type": "events", "events":
[…]}`: under load a console gets a few frames a turn of the loop, not one per event. A signed-in agent's
console also sends its presence every 30 s and says which ticket it is viewing or typing in: the others see
a collision warning, the buyer sees "typing…".

Authentication: the console session cookie, or `?api_key=` for scripts and integrations. A socket that
cannot authenticate is accepted and closed at once with code 4401, so that the client can tell "sign in
again" from a network failure (a refused handshake reaches browsers only as a bare error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from aftersail.kit.errors import DomainError, Unauthenticated
from aftersail.kit.realtime import Messages, RealtimeBus, tenant_channel
from aftersail.support.signals import AgentSignals
from aftersail.tenants import service as tenants
from aftersail.tenants.models import User
from aftersail.web.deps import SESSION_COOKIE
from aftersail.web.services import Services

log = logging.getLogger("aftersail.realtime")
router = APIRouter(tags=["realtime"])

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
MAX_CLIENT_MESSAGE = 4096


async def authenticate_socket(websocket: WebSocket, services: Services) -> tuple[int, User | None]:
    """The tenant of the caller (and the console user, when signed in), from `?api_key=` or the session
    cookie; raises Unauthenticated."""
    api_key = websocket.query_params.get("api_key", "").strip()
    token = websocket.cookies.get(SESSION_COOKIE, "")
    async with services.db.transaction(system=True) as session:
        if api_key:
            key = await tenants.access_api_key(session, api_key)
            return key.tenant_id, None
        if token:
            _console_session, user = await tenants.access_session(session, token)
            session.expunge(user)
            return user.tenant_id, user
    raise Unauthenticated("Sign in, or pass ?api_key=.")


def origin_allowed(websocket: WebSocket, services: Services) -> bool:
    """Cookies ride along on cross-site WebSocket handshakes, so a cookie-authenticated socket must come
    from our own pages: the Origin (when the client sends one) must be this host or the public URL."""
    origin = websocket.headers.get("origin")
    if not origin:
        return True  # not a browser
    origin_host = urlsplit(origin).netloc.lower()
    allowed = {websocket.headers.get("host", "").lower(), urlsplit(services.settings.base_url).netloc.lower()}
    return origin_host in allowed


@router.websocket("/ws")
async def console_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    using_cookie = not websocket.query_params.get("api_key")
    if using_cookie and not origin_allowed(websocket, services):
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")
        return
    try:
        tenant_id, user = await authenticate_socket(websocket, services)
    except Unauthenticated as exc:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason=str(exc)[:120])
        return
    bus: RealtimeBus = services.extras["bus"]
    async with bus.subscribe(tenant_channel(tenant_id)) as messages:
        await websocket.send_json({"type": "ready"})
        forward = asyncio.create_task(_forward(websocket, messages))
        try:
            await _answer(websocket, AgentSignals(services, bus, tenant_id, user))
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forward


MAX_EVENTS_PER_FRAME = 200


async def _forward(websocket: WebSocket, messages: Messages) -> None:
    async for first in messages:
        waiting = messages.drain(MAX_EVENTS_PER_FRAME - 1)
        if waiting:
            events = ",".join(event.text() for event in (first, *waiting))
            await websocket.send_text(f'{{"type":"events","events":[{events}]}}')
        else:
            await websocket.send_text(first.text())


async def _answer(websocket: WebSocket, signals: AgentSignals) -> None:
    """Read client frames until the socket closes: `{"type": "ping"}` gets `{"type": "pong"}`; a console
    user's `presence`, `viewing` and `typing` frames go to `signals`."""
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        text = frame.get("text")
        if text is None or len(text) > MAX_CLIENT_MESSAGE:
            await websocket.send_json({"type": "error", "message": "frames are JSON text, at most 4 KiB"})
            continue
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "ping":
            await websocket.send_json({"type": "pong"})
        elif kind in AgentSignals.KINDS and signals.user is not None:
            assert isinstance(body, dict)
            try:
                await signals.handle(kind, body)
            except DomainError as error:
                await websocket.send_json({"type": "error", "message": error.message})
        else:
            await websocket.send_json({"type": "error", "message": 'expected {"type": "ping"}'})
