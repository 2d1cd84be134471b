"""Transactional outbox: `emit()` writes an event in the caller's transaction; a dispatcher delivers it
after commit. See docs/subsystems/outbox.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.outbox_models import OutboxEvent


async def emit(session: AsyncSession, topic: str, payload: dict[str, Any], *, tenant_id: int | None,
               due_at: datetime | None = None, dedupe_key: str | None = None) -> OutboxEvent:
    """Queue `topic` for delivery after the surrounding transaction commits (or at `due_at`)."""
    event = OutboxEvent(tenant_id=tenant_id, topic=topic, payload=payload, due_at=due_at or utcnow(),
                        dedupe_key=dedupe_key)
    session.add(event)
    await session.flush()
    return event
