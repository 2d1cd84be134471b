"""`aftersail demo` as a new user runs it: on an empty data directory, at full size, then again with
--if-empty (what every `make run` does), and with --seed/--orders against a database URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aftersail.catalog.models import Batch, Sku
from aftersail.demo.accounts import DEMO_LOGINS, DEMO_PASSWORD
from aftersail.demo.loader import load_demo
from aftersail.demo.returns import SHOWN_STATUSES
from aftersail.kit.db import Database
from aftersail.orders.models import (
    Allocation,
    AllocationStatus,
    Customer,
    LiveSession,
    Order,
    OrderLine,
)
from aftersail.returns.models import ReturnRequest
from aftersail.shipping.models import Shipment, ShipmentException
from aftersail.tenants.models import Tenant
from tests.integration.test_demo import demo_digest, fresh_database

AFTERSAIL = str(Path(sys.executable).with_name("aftersail"))


def run_demo(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [AFTERSAIL, "demo", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return done, time.monotonic() - started


def clean_env(**values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AFTERSAIL_")}
    env["AFTERSAIL_VIDEO_MEDIA"] = "off"  # no Janus of its own (the video tests start theirs)
    env["COLUMNS"] = "200"  # keep Rich from wrapping the printed logins
    env.update(values)
    return env


async def count(db: Database, model: type) -> int:
    async with db.transaction(system=True) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.slow
async def test_full_demo_on_an_empty_data_dir(tmp_path: Path) -> None:
    env = clean_env(AFTERSAIL_DATA_DIR=str(tmp_path / "fresh"))
    first, seconds = run_demo(env)
    assert first.returncode == 0, first.stderr
    assert seconds < 60, f"demo load took {seconds:.1f} s"
    assert DEMO_PASSWORD in first.stdout
    assert all(email in first.stdout for email, _ in DEMO_LOGINS)

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'aftersail.db'}")
    try:
        assert await count(db, Tenant) == 2
        async with db.transaction(system=True) as session:
            placed = await session.scalar(
                select(func.count()).select_from(Order).where(Order.external_ref.not_like("exchange:%"))
            )
            returned = set(await session.scalars(select(ReturnRequest.status).distinct()))
        assert placed == 5000  # besides the replacement orders of the demo's exchanges
        every_order = await count(db, Order)
        # Every state a demo return can end in (demo/returns.py).
        assert {s.value for s in returned} == {s.value for s in SHOWN_STATUSES}
        assert await count(db, OrderLine) > 5000
        assert 180 <= await count(db, Sku) <= 220
        assert await count(db, Batch) > 100
        assert await count(db, Customer) > 1000
        async with db.transaction(system=True) as session:
            per_session = (
                await session.execute(
                    select(LiveSession.title, func.count(Order.id))
                    .join(Order, Order.live_session_id == LiveSession.id)
                    .group_by(LiveSession.title)
                )
            ).all()
            markets = await session.scalar(select(func.count(func.distinct(Order.country))))
        assert len(per_session) == 3 and all(orders >= 150 for _, orders in per_session)
        # Tracking (demo/tracking.py): every exception kind but the ETA's own shows somewhere.
        async with db.transaction(system=True) as session:
            kinds = set(await session.scalars(select(ShipmentException.kind).distinct()))
            untracked = await session.scalar(
                select(func.count())
                .select_from(Allocation)
                .outerjoin(Shipment, Shipment.allocation_id == Allocation.id)
                .where(Allocation.status == AllocationStatus.SHIPPED, Shipment.id.is_(None))
            )
        assert {k.value for k in kinds} >= {
            "stalled",
            "customs_hold",
            "duties_due",
            "failed_attempts",
            "returned_to_sender",
            "lost",
            "damaged",
            "address_issue",
            "not_received",
        }
        assert untracked == 0
        assert markets and markets >= 8
        digest = await demo_digest(db)

        again, seconds = run_demo(env, "--if-empty")
        assert again.returncode == 0, again.stderr
        assert "already loaded" in again.stdout
        assert seconds < 10
        assert await demo_digest(db) == digest

        refused, _ = run_demo(env)
        assert refused.returncode == 1
        assert "already exist" in refused.stderr
        assert await count(db, Order) == every_order
    finally:
        await db.dispose()


async def _load_through_cli(env: dict[str, str], db: Database) -> str:
    done, _ = run_demo(env, "--seed", "5", "--orders", "250")
    assert done.returncode == 0, done.stderr
    assert await count(db, Order) >= 250  # and the replacements of the demo's exchanges
    return await demo_digest(db)


async def test_seed_and_orders_options(db_url: str, tmp_path: Path) -> None:
    """The command honours --seed and --orders, and a separate process draws exactly the same rows."""
    env = clean_env(AFTERSAIL_DATA_DIR=str(tmp_path / "cli"))
    if db_url.startswith("sqlite"):
        cli_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli' / 'aftersail.db'}")
        try:
            cli_digest = await _load_through_cli(env, cli_db)
        finally:
            await cli_db.dispose()
    else:
        async with fresh_database(db_url, tmp_path, migrate=False) as cli_db:
            cli_digest = await _load_through_cli({**env, "AFTERSAIL_DATABASE_URL": cli_db.url}, cli_db)
    async with fresh_database(db_url, tmp_path) as in_process:
        await load_demo(in_process, seed=5, orders=250)
        assert await demo_digest(in_process) == cli_digest
