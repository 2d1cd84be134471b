"""End-to-end fixtures: the real app on a migrated database, driven over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, async_playwright

from aftersail.app import create_app
from aftersail.kit.config import Environment, Settings
from aftersail.web.serving import PROTOCOL_OPTIONS
from tests.e2e.servers import free_port

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def make_settings(db_url: str, data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=db_url,
        data_dir=data_dir,
        secret_key="test-secret-key-that-is-long-enough-123",
        **overrides,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def app(db_url: str, tmp_data_dir: Path) -> AsyncIterator[FastAPI]:
    # No in-process dispatcher: it would share the SQLite file with tests that pause this event loop
    # (sync CLI tests) and could hold the write lock while paused. Dispatch has its own tests.
    application = create_app(make_settings(db_url, tmp_data_dir, run_dispatcher=False), configure_logs=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def database(app: FastAPI):  # type: ignore[no-untyped-def]
    """The app's own Database, so factories and requests share one engine."""
    return app.state.services.db


@pytest.fixture
async def ws_base(app: FastAPI) -> AsyncIterator[str]:
    """The session's app (its lifespan already running) behind a real uvicorn on a free port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), lifespan="off", log_config=None, ws=PROTOCOL_OPTIONS["ws"]
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{config.port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """One headless Chromium for a module's browser tests."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
