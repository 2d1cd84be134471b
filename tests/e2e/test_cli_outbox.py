"""`aftersail outbox dead` lists events that exhausted their attempts; `outbox retry` revives one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from aftersail.cli import app as cli
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade_async
from aftersail.kit.outbox import emit
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus

runner = CliRunner()


async def _seed(url: str) -> tuple[int, int]:
    """One dead event and one pending event."""
    await upgrade_async(url)
    db = Database(url)
    async with db.transaction(system=True) as session:
        dead = await emit(session, "mail.send", {"to": "buyer@example.com"}, tenant_id=None)
        alive = await emit(session, "mail.send", {"to": "other@example.com"}, tenant_id=None)
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == dead.id)
            .values(
                status=OutboxStatus.DEAD,
                attempts=8,
                finished_at=utcnow(),
                last_error="Traceback …\nSMTPRecipientsRefused: mailbox full",
            )
        )
    await db.dispose()
    return dead.id, alive.id


async def _status(url: str, event_id: int) -> tuple[OutboxStatus, int]:
    db = Database(url)
    async with db.transaction(system=True) as session:
        event = await session.get(OutboxEvent, event_id)
        assert event is not None
        found = (event.status, event.attempts)
    await db.dispose()
    return found


def test_dead_letters_are_listed_and_retried(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    dead_id, alive_id = asyncio.run(_seed(url))
    env = {"AFTERSAIL_DATABASE_URL": url}

    listed = runner.invoke(cli, ["outbox", "dead"], env=env, catch_exceptions=False)
    assert listed.exit_code == 0
    assert "mail.send" in listed.stdout and "mailbox full" in listed.stdout
    assert str(alive_id) not in listed.stdout.split()

    assert runner.invoke(cli, ["outbox", "retry", str(alive_id)], env=env).exit_code == 1
    retried = runner.invoke(cli, ["outbox", "retry", str(dead_id)], env=env, catch_exceptions=False)
    assert retried.exit_code == 0
    assert asyncio.run(_status(url, dead_id)) == (OutboxStatus.PENDING, 0)
    assert "No dead events" in runner.invoke(cli, ["outbox", "dead"], env=env).stdout
