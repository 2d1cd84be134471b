"""Test fixtures shared by every tier.

Backends: integration and e2e tests that take `db_url` run on SQLite and, when
`AFTERSAIL_TEST_POSTGRES_URL` is set, on PostgreSQL too (a fresh database per run, migrated with the real
Alembic migrations). With `AFTERSAIL_TEST_REQUIRE_ALL=1` (set by CI) any skipped test is a failure, so a
missing PostgreSQL, Redis or Chromium can never pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aftersail.assistant import nlu
from aftersail.assistant.nlu import IntentModel
from aftersail.kit.db import Database, create_engine
from aftersail.kit.migrate import upgrade_async

# Servers the tests start do not train the assistant's model at start-up (each would spend ~15 s of CPU);
# a test that needs it warm says so (and hands the server the model trained once per run).
os.environ.setdefault("AFTERSAIL_ASSISTANT_WARM_UP", "false")
# Nor do they start a Janus each: the video tests ask for one (on free ports).
os.environ.setdefault("AFTERSAIL_VIDEO_MEDIA", "off")
POSTGRES_URL = os.environ.get("AFTERSAIL_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("AFTERSAIL_TEST_REDIS_URL", "")
REQUIRE_ALL = os.environ.get("AFTERSAIL_TEST_REQUIRE_ALL", "") == "1"
CHROMIUM = os.environ.get("AFTERSAIL_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("AFTERSAIL_TEST_ARTIFACTS", "var/test-artifacts"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped while AFTERSAIL_TEST_REQUIRE_ALL=1: {report.longrepr}"


def _backend_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tmp_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


async def _create_postgres_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "aftersail.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    return url


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("AFTERSAIL_TEST_POSTGRES_URL is not set")
    name = f"aftersail_test_{uuid.uuid4().hex[:10]}"
    url = await _create_postgres_database(POSTGRES_URL, name)
    await upgrade_async(url)
    yield url
    await _drop_postgres_database(POSTGRES_URL, name)


@pytest.fixture(params=_backend_params(), scope="session")
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database URL: once for SQLite, once for PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("AFTERSAIL_TEST_REDIS_URL is not set")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture(scope="session")
def intent_model(tmp_data_dir: Path) -> IntentModel:
    """The assistant's model trained on the shipped data once per run (and saved in `tmp_data_dir`, where a
    CLI subprocess given that data directory finds it)."""
    return nlu.base_model(tmp_data_dir)
