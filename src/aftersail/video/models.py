"""Tables of the video domain: inspection calls with their two seats and the snapshots staff asked for, and
the append-only evidence chain of every case (ticket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Base, BigId, IdMixin, TenantMixin
from aftersail.kit.types import enum_column
from aftersail.video.chain import EvidenceKind
from aftersail.video.rules import CallPurpose, CallStatus, EndReason, RecordingStatus, Seat


class InspectionCall(IdMixin, TenantMixin, Base):
    """One video call on a case, in one media room, recorded server-side."""

    __tablename__ = "inspection_calls"
    tenant_index = False
    __table_args__ = (
        Index("ix_inspection_calls_tenant_ticket", "tenant_id", "ticket_id"),
        Index("ix_inspection_calls_status", "status", "status_since"),
        Index("ix_inspection_calls_retention", "recording_status", "ended_at"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="RESTRICT"))
    return_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="SET NULL"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id", ondelete="SET NULL"))
    purpose: Mapped[CallPurpose] = mapped_column(enum_column(CallPurpose))
    status: Mapped[CallStatus] = mapped_column(enum_column(CallStatus), default=CallStatus.RINGING)
    status_since: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str] = mapped_column(String(8))  # the buyer's page speaks it
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    # The media room: which backend instance holds it, its number there and the pin that guards it.
    media_instance: Mapped[str] = mapped_column(String(64), default="")
    room: Mapped[int] = mapped_column(BigInteger, unique=True)
    room_pin: Mapped[str] = mapped_column(String(64))
    bitrate: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    link_expires_at: Mapped[datetime]
    connected_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[EndReason | None] = mapped_column(enum_column(EndReason))
    recording_status: Mapped[RecordingStatus] = mapped_column(
        enum_column(RecordingStatus), default=RecordingStatus.NONE
    )
    recording_error: Mapped[str] = mapped_column(String(500), default="")
    recording_ms: Mapped[int] = mapped_column(Integer, default=0)  # the buyer side's playable length
    retention_until: Mapped[datetime | None]


class CallSeat(TenantMixin, Base):
    """One of a call's two seats: who holds it (a page's client id), its media feed and room token."""

    __tablename__ = "call_seats"
    tenant_index = False
    tenant_foreign_key = False  # its tenant is its call's

    call_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("inspection_calls.id", ondelete="CASCADE"), primary_key=True
    )
    seat: Mapped[Seat] = mapped_column(enum_column(Seat), primary_key=True)
    room_token: Mapped[str] = mapped_column(String(64))  # the room admits only its seats' tokens
    client_id: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    feed_id: Mapped[int | None] = mapped_column(BigInteger)  # the media feed it publishes now
    feeds: Mapped[list[Any]] = mapped_column(JSON, default=list)  # every feed it published (reconnects)
    joined_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    media_up: Mapped[bool] = mapped_column(default=False)
    network: Mapped[str] = mapped_column(String(20), default="")  # the browser's effective type


class CallSnapshot(IdMixin, TenantMixin, Base):
    """A moment staff marked during a call; its frame is decoded from the recording after the call."""

    __tablename__ = "call_snapshots"
    tenant_index = False
    __table_args__ = (Index("ix_call_snapshots_call", "call_id"),)

    call_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspection_calls.id", ondelete="CASCADE"))
    seat: Mapped[Seat] = mapped_column(enum_column(Seat))  # whose video
    taken_at: Mapped[datetime]
    taken_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    # Marks drawn on it: shapes in 0–1 coordinates of the frame, with a note.
    marks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(500), default="")
    attachment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="SET NULL")
    )
    offset_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(300), default="")


class EvidenceEntry(IdMixin, TenantMixin, Base):
    """One item in a case's append-only evidence chain: the SHA-256 of the original bytes, when the server
    received them, who captured them, and the previous entry's hash. Never updated but for `deleted_at`,
    which is outside the hash and mirrors a later DELETION entry that is inside it."""

    __tablename__ = "evidence_entries"
    tenant_index = False
    __table_args__ = (
        UniqueConstraint("ticket_id", "seq", name="uq_evidence_entries_ticket_seq"),
        Index("ix_evidence_entries_tenant_ticket", "tenant_id", "ticket_id"),
        Index("ix_evidence_entries_retention", "kind", "deleted_at", "received_at"),
    )

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[EvidenceKind] = mapped_column(enum_column(EvidenceKind))
    attachment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("attachments.id", ondelete="SET NULL")
    )
    return_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("return_requests.id", ondelete="SET NULL")
    )
    call_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inspection_calls.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    captured_by: Mapped[str] = mapped_column(String(120))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]
