"""Tables of the transactional outbox: events (and scheduled jobs, which are events with a later
`due_at`) and the record of which handler has applied which event."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin
from aftersail.kit.types import enum_column


class OutboxStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class OutboxEvent(IdMixin, Base):
    """One event or job. Written in the transaction that caused it; dispatched after commit.

    `tenant_id` is nullable (system jobs); RLS on this table is keyed like the others, with
    system transactions (the dispatcher) seeing every row.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_claim", "status", "due_at"),
        Index("ix_outbox_events_dedupe_key", "dedupe_key", unique=True),
    )

    tenant_id: Mapped[int | None] = mapped_column(BigId, index=True)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(enum_column(OutboxStatus), default=OutboxStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class HandledEvent(Base):
    """(event, handler) pairs already applied, written in the handler's own transaction: a re-delivered
    event finds its row and is skipped, so at-least-once delivery applies each effect once."""

    __tablename__ = "handled_events"

    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(100), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(BigId)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)
