"""The assistant's tables: its state in each conversation, the audit of every decision it takes, and agents'
corrections of what it understood (per-tenant training data)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin
from aftersail.kit.types import enum_column


class ConversationState(StrEnum):
    ACTIVE = "active"  # the assistant answers
    HANDED_OFF = "handed_off"  # a person has it; the assistant only reads along


class Outcome(StrEnum):
    ANSWERED = "answered"
    HANDED_OFF = "handed_off"
    REFUSED = "refused"  # an action policy does not allow; the buyer was told what is possible
    SUPERSEDED = "superseded"  # a newer buyer message came before the reply: it answers both
    SILENT = "silent"  # a person has the conversation


class AssistantConversation(TenantMixin, Base):
    """One row per ticket the assistant has seen."""

    __tablename__ = "assistant_conversations"
    tenant_index = False

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[ConversationState] = mapped_column(
        enum_column(ConversationState), default=ConversationState.ACTIVE
    )
    failed_turns: Mapped[int] = mapped_column(Integer, default=0)  # in a row: clarifications asked
    last_message_id: Mapped[int] = mapped_column(BigId, default=0)  # the latest buyer message handled
    last_situation: Mapped[str] = mapped_column(String(64), default="")
    handoff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the summary given to people
    reply_by: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssistantDecision(IdMixin, TenantMixin, Base):
    """The audit: for each buyer message, what the assistant understood, what it decided and on what
    grounds, which action it took with which inputs, and the result."""

    __tablename__ = "assistant_decisions"
    tenant_index = False
    __table_args__ = (Index("ix_assistant_decisions_ticket", "tenant_id", "ticket_id", "id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigId)  # the buyer message (the latest of the turn)
    intent: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    concepts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    decided_by: Mapped[str] = mapped_column(String(120))  # "assistant:builtin", "assistant:model:<name>"
    action: Mapped[str] = mapped_column(String(40))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")  # which rule decided, in words
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome))
    situation: Mapped[str] = mapped_column(String(64), default="")
    reply_message_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntentCorrection(IdMixin, TenantMixin, Base):
    """An agent said what a buyer message really meant; used for the tenant's model once its ticket is
    resolved (a correction on an open case may still change)."""

    __tablename__ = "intent_corrections"
    tenant_index = False
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id", name="uq_intent_corrections_message"),
        Index("ix_intent_corrections_tenant_created", "tenant_id", "created_at"),
    )

    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("ticket_messages.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    predicted: Mapped[str] = mapped_column(String(40))
    corrected: Mapped[str] = mapped_column(String(40))
    corrected_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhotoCheck(TenantMixin, Base):
    """A buyer photo's fingerprint and what it suggests: the same picture in another case (reused), or a
    capture date that does not fit the order. Shown to agents; it decides nothing on its own."""

    __tablename__ = "photo_checks"
    tenant_index = False
    __table_args__ = (Index("ix_photo_checks_tenant_ticket", "tenant_id", "ticket_id"),)

    attachment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    phash: Mapped[str] = mapped_column(String(16))
    dhash: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime | None]
    camera: Mapped[str] = mapped_column(String(200), default="")
    date_finding: Mapped[str] = mapped_column(String(20))  # photos.DateFinding
    reused: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{ticket_id, attachment_id, distance}]
    error: Mapped[str] = mapped_column(String(300), default="")  # why it could not be read
    # What the tenant's model saw in it, when one is configured: {damage_visible, description, model}.
    model_reading: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
