"""Tables of the support domain: tickets, their messages and translations, attachments, SLA clocks, routing,
macros, CSAT ratings and the raw inbound e-mail kept for inspection."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin
from aftersail.kit.types import enum_column


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_INTERNAL = "pending_internal"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"


class Channel(StrEnum):
    CHAT = "chat"
    EMAIL = "email"
    API = "api"


class AuthorKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class ClockKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"  # still counting: a breached clock is met late or cancelled
    CANCELLED = "cancelled"


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Ticket(IdMixin, TenantMixin, Base):
    """One after-sales case (工单): a thread of messages from any channel, priority, SLA clocks, owner."""

    __tablename__ = "tickets"
    tenant_index = False  # every index below leads with tenant_id
    __table_args__ = (
        Index("ix_tickets_tenant_status_updated", "tenant_id", "status", "updated_at"),
        Index("ix_tickets_tenant_customer", "tenant_id", "customer_id"),
        Index("ix_tickets_tenant_assignee", "tenant_id", "assignee_id", "status"),
        Index("ix_tickets_tenant_created", "tenant_id", "created_at"),  # reports: tickets of a period
        Index("ix_tickets_tenant_resolved", "tenant_id", "resolved_at"),
    )

    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[TicketStatus] = mapped_column(enum_column(TicketStatus), default=TicketStatus.OPEN)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.P3)
    category: Mapped[str] = mapped_column(String(40), default="other")
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))  # where the case began
    language: Mapped[str] = mapped_column(String(8))  # the buyer's
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="RESTRICT"))
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    live_session_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("live_sessions.id", ondelete="SET NULL")
    )
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    last_customer_message_at: Mapped[datetime | None]
    last_public_reply_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Customer messages after the first public reply: first-contact resolution needs none.
    customer_followups: Mapped[int] = mapped_column(Integer, default=0)
    # The nearest SLA due time of a running clock, copied here so the inbox can sort and filter by it.
    next_due_at: Mapped[datetime | None]
    email_thread: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # address, last Message-ID
    # The assistant answers this case (ADR 0018): the buyer's messages start no next-response clock and
    # leave the status open; cleared when a person takes it (hand-off, an agent's public reply).
    assistant_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TicketMessage(IdMixin, TenantMixin, Base):
    """One utterance (消息), kept in its original language; translations live beside it."""

    __tablename__ = "ticket_messages"
    tenant_index = False
    __table_args__ = (
        Index("ix_ticket_messages_ticket", "ticket_id", "id"),
        Index("ix_ticket_messages_email_id", "tenant_id", "email_message_id", unique=True),
        UniqueConstraint("tenant_id", "external_id", name="uq_ticket_messages_external"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    author_kind: Mapped[AuthorKind] = mapped_column(enum_column(AuthorKind))
    author_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)  # an agents-only note
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    mentions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # user ids
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]  # when the other side read it
    # Unique per tenant: an e-mail delivered twice (SMTP retry, two IMAP pollers) is stored once.
    email_message_id: Mapped[str | None] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(200))  # API channel: the marketplace's id
    delivery: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # outbound state per channel


class MessageTranslation(TenantMixin, Base):
    """A message in another language, beside its original; `edited_by_id` when a person corrected it."""

    __tablename__ = "message_translations"
    tenant_index = False
    tenant_foreign_key = False  # its tenant is its message's

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ticket_messages.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(40))
    edited_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(IdMixin, TenantMixin, Base):
    """A file as the buyer sent it: the original bytes on disk under their SHA-256, the sniffed type here."""

    __tablename__ = "attachments"
    tenant_index = False
    __table_args__ = (
        Index("ix_attachments_ticket", "tenant_id", "ticket_id"),
        CheckConstraint("size_bytes >= 0", name="size_not_negative"),
    )

    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket_messages.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClock(IdMixin, TenantMixin, Base):
    """One SLA target on one ticket. Its due and warning times are rows, swept by jobs (rule 3)."""

    __tablename__ = "sla_clocks"
    tenant_index = False
    __table_args__ = (
        Index("ix_sla_clocks_ticket", "tenant_id", "ticket_id"),
        Index("ix_sla_clocks_due", "state", "due_at"),
        Index("ix_sla_clocks_tenant_stopped", "tenant_id", "stopped_at"),  # reports: clocks ended in a period
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[ClockKind] = mapped_column(enum_column(ClockKind))
    state: Mapped[ClockState] = mapped_column(enum_column(ClockState), default=ClockState.RUNNING)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority))
    target_seconds: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    # Business seconds that counted before the current run began (the clock pauses on the buyer).
    counted_seconds: Mapped[int] = mapped_column(Integer, default=0)
    run_started_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class TeamRouting(TenantMixin, Base):
    """How a team's tickets are assigned and on which business hours its SLA clocks run."""

    __tablename__ = "team_routing"
    tenant_index = False
    tenant_foreign_key = False

    team_id: Mapped[int] = mapped_column(BigId, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default="least_loaded")  # or round_robin
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ticket categories it takes
    calendar: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # business hours; {} = 24×7
    last_assigned_user_id: Mapped[int | None] = mapped_column(BigId)


class AgentStatus(TenantMixin, Base):
    """An agent's capacity and presence (from console WebSocket heartbeats)."""

    __tablename__ = "agent_status"
    tenant_index = False
    tenant_foreign_key = False

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    capacity: Mapped[int] = mapped_column(SmallInteger, default=20)
    presence: Mapped[Presence] = mapped_column(enum_column(Presence), default=Presence.OFFLINE)
    seen_at: Mapped[datetime | None]


class Macro(IdMixin, TenantMixin, Base):
    """A reply template (话术) in one language, in four parts; `key` groups one macro's languages."""

    __tablename__ = "macros"
    tenant_index = False
    __table_args__ = (UniqueConstraint("tenant_id", "key", "language", name="uq_macros_key_language"),)

    key: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), default="")
    greeting: Mapped[str] = mapped_column(Text)  # who I am and when you will hear back
    problem: Mapped[str] = mapped_column(Text)  # your problem as I understand it
    solution: Mapped[str] = mapped_column(Text)  # the concrete solution, with dates
    open_door: Mapped[str] = mapped_column(Text)  # anything else, I am here
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatRating(TenantMixin, Base):
    __tablename__ = "csat_ratings"
    tenant_index = False
    tenant_foreign_key = False
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_one_to_five"),
        Index("ix_csat_ratings_tenant_created", "tenant_id", "created_at"),
    )

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(IdMixin, TenantMixin, Base):
    """The ticket's audit trail: status, priority, assignment, merges, SLA warnings and breaches."""

    __tablename__ = "ticket_events"
    tenant_index = False
    tenant_foreign_key = False
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundEmail(IdMixin, Base):
    """Every e-mail received, as received: kept for inspection whether it became a message or not."""

    __tablename__ = "inbound_emails"
    __table_args__ = (Index("ix_inbound_emails_tenant_received", "tenant_id", "received_at"),)

    tenant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(20))  # smtp, imap, webhook
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(20))  # message, auto_reply, bounce, malformed
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    message_id_header: Mapped[str | None] = mapped_column(String(300))
    ticket_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="SET NULL"))
