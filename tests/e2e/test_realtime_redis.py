"""Realtime across processes: an event dispatched by server A reaches a WebSocket client of server B
through Redis. B runs no dispatcher, so only A could have published it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from aftersail.kit.db import Database
from aftersail.kit.outbox import emit
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.tenants.models import Role
from tests.factories import make_tenant
from tests.integration.test_worker_support import (
    free_port,
    isolated_database,
    start_cli,
    stop,
    subprocess_env,
    wait_for,
)


@pytest.fixture
async def shared_db(postgres_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(postgres_url, tmp_path) as database:
        yield database


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_an_event_dispatched_on_one_server_reaches_a_socket_on_another(
    shared_db: Database, redis_url: str, tmp_path: Path
) -> None:
    ports = {"a": free_port(), "b": free_port()}
    logs = {name: tmp_path / f"server-{name}.log" for name in ports}
    servers = {
        name: start_cli(
            ["serve", "--port", str(port), "--no-migrate"],
            subprocess_env(
                shared_db.url,
                tmp_path / name,
                AFTERSAIL_REDIS_URL=redis_url,
                AFTERSAIL_RUN_DISPATCHER="true" if name == "a" else "false",
                AFTERSAIL_OUTBOX_POLL_SECONDS="0.1",
            ),
            logs[name],
        )
        for name, port in ports.items()
    }
    try:
        async with httpx.AsyncClient() as http:

            async def both_ready() -> bool:
                for port in ports.values():
                    try:
                        ready = await http.get(f"http://127.0.0.1:{port}/readyz")
                    except httpx.TransportError:
                        return False
                    if ready.status_code != 200 or ready.json()["checks"].get("redis") != "ok":
                        return False
                return True

            await wait_for(
                both_ready,
                within=15,
                interval=0.1,
                what="both servers",
                logs=list(logs.values()),
                processes=list(servers.values()),
            )

        tenant = await make_tenant(shared_db)
        nonce = uuid.uuid4().hex
        url = f"ws://127.0.0.1:{ports['b']}/ws?api_key={tenant.api_keys[Role.AGENT]}"
        async with connect(url) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), timeout=5)) == {"type": "ready"}
            async with shared_db.transaction(tenant_id=tenant.tenant_id) as session:
                event = await emit(session, "live.test", {"nonce": nonce}, tenant_id=tenant.tenant_id)

            async def our_event() -> dict[str, object]:
                # Other runs may share this Redis: skip anything that is not ours.
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("payload", {}).get("nonce") == nonce:
                        return message  # type: ignore[no-any-return]

            received = await asyncio.wait_for(our_event(), timeout=10)
        assert received == {"topic": "live.test", "payload": {"nonce": nonce}}

        async def delivered() -> OutboxEvent | None:
            async with shared_db.transaction(system=True) as session:
                stored = await session.get(OutboxEvent, event.id)
                return stored if stored is not None and stored.status is OutboxStatus.DONE else None

        done = None
        for _ in range(50):  # the outcome is recorded right after the publish
            if (done := await delivered()) is not None:
                break
            await asyncio.sleep(0.1)
        assert done is not None and done.attempts == 1, "published once, by one of the two servers"
    finally:
        for server in servers.values():
            stop(server)
