"""API keys known to a server process (web/deps.py): a key in steady use is checked again in the background
before its time is up, so a stream of requests never falls back to the database all at once; a key
revoked by another process stops within that time."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from aftersail.web import deps
from aftersail.web.deps import api_key_cache, known_api_key_caller
from tests.factories import make_tenant

TTL = 1.0


async def _settled() -> None:
    while deps._background:
        await asyncio.gather(*deps._background)


async def test_a_key_in_use_is_checked_again_and_a_revoked_key_stops_within_its_time(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = app.state.services
    tenant = await make_tenant(services.db)
    authorization = tenant.headers()["Authorization"]
    presented = authorization.split(" ", 1)[1]
    monkeypatch.setattr(api_key_cache, "ttl", TTL)
    api_key_cache.clear()
    assert await known_api_key_caller(services, authorization, "GET") is None, "not known yet"
    assert (await client.get("/api/v1/me", headers=tenant.headers())).status_code == 200
    digest = api_key_cache.digest(presented)
    principal = api_key_cache.get(digest)
    assert principal is not None, "the framework's check taught the process the key"

    for _ in range(3):  # well past the first expiry, the key stays known while it is in use
        await asyncio.sleep(TTL * 0.6)
        assert await known_api_key_caller(services, authorization, "POST") == principal
        await _settled()
    assert api_key_cache.get(digest) == principal

    async with services.db.transaction(system=True) as session:  # revoked elsewhere: no event here
        await session.execute(
            text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id"),
            {"id": principal.api_key_id},
        )
    await asyncio.sleep(TTL * 0.6)
    await known_api_key_caller(services, authorization, "POST")  # still known: its check starts now
    await _settled()
    assert await known_api_key_caller(services, authorization, "POST") is None
    assert api_key_cache.get(digest) is None
