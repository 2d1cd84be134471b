"""`/ws` on the real app served by uvicorn: authentication (API key, console session cookie, origin),
ping/pong, and live outbox events reaching the sockets of their tenant only."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.outbox import Registry, emit
from aftersail.kit.realtime import realtime_forwarder
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role, User
from aftersail.web.deps import SESSION_COOKIE
from tests.factories import make_tenant


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    """The session's app (its lifespan already running) behind a real uvicorn on a free port."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # The session app runs without a dispatcher; these tests need one to forward live events — only that:
    # other tests' jobs queued in the shared database are not theirs to run (and would delay the push).
    services = app.state.services
    dispatcher = Dispatcher(
        services.db, Registry().with_handlers([realtime_forwarder(services.extras["bus"])]), poll_seconds=0.05
    )
    dispatcher.start()
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/ws"
    server.should_exit = True
    await task
    await dispatcher.stop()


async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=within))
    return message


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def session_token(database: Database, tenant_id: int, user_id: int) -> str:
    async with database.transaction(tenant_id=tenant_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        token, _ = await tenants.do_start_session(session, user=user, max_age=timedelta(hours=1))
        return token


async def test_a_socket_without_credentials_is_closed_with_4401(server_url: str) -> None:
    async with connect(server_url) as ws:
        assert await close_code(ws) == 4401


async def test_a_socket_with_a_wrong_api_key_is_closed_with_4401(server_url: str, database: Database) -> None:
    tenant = await make_tenant(database)
    wrong = tenant.api_keys[Role.ADMIN].rsplit(".", 1)[0] + ".not-the-secret"
    async with connect(f"{server_url}?api_key={wrong}") as ws:
        assert await close_code(ws) == 4401
    async with connect(
        server_url, additional_headers={"Cookie": f"{SESSION_COOKIE}=expired-or-made-up"}
    ) as ws:
        assert await close_code(ws) == 4401


async def test_live_events_reach_the_sockets_of_their_tenant_only(
    server_url: str, database: Database
) -> None:
    ours, theirs = await make_tenant(database), await make_tenant(database)
    nonce = uuid.uuid4().hex
    async with connect(f"{server_url}?api_key={ours.api_keys[Role.VIEWER]}") as ws:
        assert await receive(ws) == {"type": "ready"}
        async with database.transaction(tenant_id=theirs.tenant_id) as session:
            await emit(session, "live.viewers", {"nonce": "not for us"}, tenant_id=theirs.tenant_id)
        async with database.transaction(tenant_id=ours.tenant_id) as session:
            await emit(session, "order.created", {"nonce": "not a live topic"}, tenant_id=ours.tenant_id)
            await emit(session, "live.viewers", {"nonce": nonce, "count": 3}, tenant_id=ours.tenant_id)
        # Generous: the shared test database holds other tests' unhandled events, which the dispatcher
        # works through (oldest first) before this one; what is checked here is where pushes go.
        pushed = await receive(ws, within=60.0)
        assert pushed == {"topic": "live.viewers", "payload": {"nonce": nonce, "count": 3}}
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}, "nothing else was pushed to this tenant"


async def test_a_console_session_socket_answers_pings(server_url: str, database: Database) -> None:
    tenant = await make_tenant(database)
    token = await session_token(database, tenant.tenant_id, tenant.admin_user_id)
    origin = server_url.replace("ws://", "http://").removesuffix("/ws")
    async with connect(
        server_url, origin=origin, additional_headers={"Cookie": f"{SESSION_COOKIE}={token}"}
    ) as ws:  # type: ignore[arg-type]
        assert await receive(ws) == {"type": "ready"}
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}
        await ws.send("not json")
        assert (await receive(ws))["type"] == "error"
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}, "a bad frame does not end the socket"


async def test_a_cookie_socket_opened_by_another_site_is_refused(server_url: str, database: Database) -> None:
    tenant = await make_tenant(database)
    token = await session_token(database, tenant.tenant_id, tenant.admin_user_id)
    headers = {"Cookie": f"{SESSION_COOKIE}={token}"}
    async with connect(server_url, origin="https://evil.example", additional_headers=headers) as ws:  # type: ignore[arg-type]
        assert await close_code(ws) == 4403
