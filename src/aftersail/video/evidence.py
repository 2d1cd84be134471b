"""The evidence chain of a case (ticket): appending an item under the case's lock, verifying every entry and
every file against it, and deleting an item's bytes at the end of retention (its entry stays; a DELETION
entry says what went and why). The export bundle is in `video.evidence_export`.

Writers here flush and never commit. Each write to a case's chain holds the case's ticket row lock
(PostgreSQL `FOR NO KEY UPDATE`; SQLite writers are serial anyway) from reading the chain's head to the
flush of the new entry, so two concurrent appends never take the same seq or link to the same previous
entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import RLS_CONTEXT, on_postgres
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.outbox import schedule_job
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.support.models import Attachment, Ticket
from aftersail.tenants import service as tenants
from aftersail.video.chain import GENESIS, EntryFields, EvidenceKind, entry_hash
from aftersail.video.evidence_check import (
    ChainReport,
    FileFound,
    StoredEntry,
    check_chain,
    files_to_hash,
)
from aftersail.video.models import EvidenceEntry
from aftersail.video.rules import retention_days, retention_ends

RETENTION_TOPIC = "video.retention_sweep"
# Kinds whose bytes are deleted when the tenant's retention ends (buyer photos and grading photos stay).
RETAINED_KINDS = frozenset({EvidenceKind.RECORDING, EvidenceKind.RECORDING_RAW, EvidenceKind.SNAPSHOT})
HASH_CHUNK = 1 << 20  # recordings can be hundreds of MB: hashed a MiB at a time
_CURRENT_SCOPE = text(
    "SELECT current_setting('aftersail.tenant_id', true), current_setting('aftersail.system', true)"
)


def upload_kind(content_type: str, *, grading: bool = False) -> EvidenceKind:
    """The kind of a photo or video a buyer sent, or of the warehouse's grading photo."""
    if grading:
        return EvidenceKind.GRADING_PHOTO
    return EvidenceKind.BUYER_VIDEO if content_type.startswith("video/") else EvidenceKind.BUYER_PHOTO


async def lock_case(session: AsyncSession, tenant_id: int, ticket_id: int) -> Ticket:
    """The case's ticket under its row lock: hold it from reading the chain's head to writing the next entry.
    Pending changes are flushed first so that the re-read cannot drop them.

    PostgreSQL `FOR NO KEY UPDATE`, not `FOR UPDATE`: the caller has usually just stored the item's
    attachment, whose foreign key holds a `KEY SHARE` lock on the same ticket row; two such callers asking
    for `FOR UPDATE` would deadlock, while `NO KEY UPDATE` still excludes every other appender."""
    ticket = await tickets.access_ticket(session, tenant_id, ticket_id)
    await session.flush()
    await session.refresh(ticket, with_for_update={"key_share": True})
    return ticket


async def _head(session: AsyncSession, ticket_id: int) -> tuple[int, str]:
    """The last entry's seq and hash (0 and GENESIS for an empty chain); the caller holds the case lock."""
    row = (
        await session.execute(
            select(EvidenceEntry.seq, EvidenceEntry.entry_hash)
            .where(EvidenceEntry.ticket_id == ticket_id)
            .order_by(EvidenceEntry.seq.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row is not None else (0, GENESIS)


def _plain_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The meta as the JSON column gives it back (tuples become lists, keys strings), so that the hash
    computed now is the hash recomputed from the stored row later."""
    plain = json.loads(json.dumps(meta or {}, ensure_ascii=False, default=str))
    if not isinstance(plain, dict):
        raise InvalidInput("Evidence meta must be a JSON object.", field="meta")
    return plain


async def _append(
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: EvidenceKind,
    attachment_id: int | None,
    filename: str,
    content_type: str,
    sha256: str,
    size_bytes: int,
    received_at: datetime,
    captured_by: str,
    meta: dict[str, Any],
    return_id: int | None,
    call_id: int | None,
) -> EvidenceEntry:
    """Append under the case lock (the caller took it with `lock_case`)."""
    last_seq, prev_hash = await _head(session, ticket.id)
    received_at = as_utc(received_at)
    captured_by = captured_by.strip()[:120] or "system"
    fields = EntryFields(
        case_id=ticket.id,
        seq=last_seq + 1,
        kind=kind,
        sha256=sha256,
        size_bytes=size_bytes,
        received_at=received_at,
        captured_by=captured_by,
        meta=meta,
        prev_hash=prev_hash,
    )
    entry = EvidenceEntry(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        seq=fields.seq,
        kind=kind,
        attachment_id=attachment_id,
        return_id=return_id,
        call_id=call_id,
        filename=filename[:255],
        content_type=content_type[:100],
        sha256=sha256,
        size_bytes=size_bytes,
        received_at=received_at,
        captured_by=captured_by,
        meta=meta,
        prev_hash=prev_hash,
        entry_hash=entry_hash(fields),
    )
    session.add(entry)
    await session.flush()
    return entry


async def do_append_evidence(
    session: AsyncSession,
    *,
    tenant_id: int,
    ticket_id: int,
    kind: EvidenceKind,
    attachment: Attachment,
    captured_by: str,
    received_at: datetime | None = None,
    return_id: int | None = None,
    call_id: int | None = None,
    meta: dict[str, Any] | None = None,
) -> EvidenceEntry:
    """Add a stored attachment to the case's chain: its SHA-256 and size, when the server received it, who
    captured it, linked to the previous entry's hash. Takes the case lock (`lock_case`). Recordings and
    snapshots also schedule the tenant's retention sweep for when their retention ends."""
    if kind is EvidenceKind.DELETION:
        raise InvalidInput("Deletion entries are written by do_delete_item only.", field="kind")
    if attachment.tenant_id != tenant_id:
        raise NotFound(f"Attachment {attachment.id} does not exist.", attachment_id=attachment.id)
    ticket = await lock_case(session, tenant_id, ticket_id)
    entry = await _append(
        session,
        ticket,
        kind=kind,
        attachment_id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        sha256=attachment.sha256,
        size_bytes=attachment.size_bytes,
        received_at=received_at or utcnow(),
        captured_by=captured_by,
        meta=_plain_meta(meta),
        return_id=return_id,
        call_id=call_id,
    )
    if kind in RETAINED_KINDS:
        tenant = await tenants.access_tenant(session, tenant_id)
        await schedule_retention_sweep(
            session, tenant_id, retention_ends(entry.received_at, retention_days(tenant.settings))
        )
    return entry


async def schedule_retention_sweep(session: AsyncSession, tenant_id: int, due: datetime) -> None:
    """The tenant's retention sweep at `due`, rounded up to the hour (one job per tenant and hour however
    many items fall due in it). The sweep is re-runnable: an early or repeated run deletes nothing twice."""
    due = as_utc(due)
    hour = due.replace(minute=0, second=0, microsecond=0)
    if hour < due:
        hour += timedelta(hours=1)
    await schedule_job(
        session,
        RETENTION_TOPIC,
        {},
        hour,
        tenant_id=tenant_id,
        dedupe_key=f"evidence-retention:{tenant_id}:{hour:%Y%m%d%H}",
    )


# --- reading ----------------------------------------------------------------------------------------------


async def case_entries(
    session: AsyncSession, ticket_id: int, *, tenant_id: int | None = None
) -> list[EvidenceEntry]:
    """The case's chain in seq order (scoped to `tenant_id` when given; RLS scopes it on PostgreSQL)."""
    query = select(EvidenceEntry).where(EvidenceEntry.ticket_id == ticket_id)
    if tenant_id is not None:
        query = query.where(EvidenceEntry.tenant_id == tenant_id)
    return list((await session.scalars(query.order_by(EvidenceEntry.seq))).all())


async def access_case_chain(session: AsyncSession, tenant_id: int, ticket_id: int) -> list[EvidenceEntry]:
    """The chain of the tenant's case; NotFound for another tenant's ticket."""
    await tickets.access_ticket(session, tenant_id, ticket_id)
    return await case_entries(session, ticket_id, tenant_id=tenant_id)


def stored(entry: EvidenceEntry) -> StoredEntry:
    return StoredEntry(
        seq=entry.seq,
        kind=entry.kind,
        filename=entry.filename,
        sha256=entry.sha256,
        size_bytes=entry.size_bytes,
        received_at=as_utc(entry.received_at),
        captured_by=entry.captured_by,
        meta=entry.meta or {},
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
        deleted_at=entry.deleted_at,
    )


def hash_file(path: Path) -> FileFound | None:
    """The file's SHA-256 and size, read a chunk at a time (None when it is not there). Blocking."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as blob:
            while chunk := blob.read(HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return FileFound(digest.hexdigest(), size)


async def verify_entries(files_dir: Path, ticket_id: int, entries: list[EvidenceEntry]) -> ChainReport:
    plain = [stored(entry) for entry in entries]
    found: dict[int, FileFound | None] = {}
    for entry in files_to_hash(plain):
        found[entry.seq] = await asyncio.to_thread(hash_file, files.blob_path(files_dir, entry.sha256))
    return check_chain(ticket_id, plain, found)


async def verify_case(
    session: AsyncSession, files_dir: Path, ticket_id: int, *, tenant_id: int | None = None
) -> ChainReport:
    """Recompute every entry's hash and link and re-hash every file that should still be there: each item
    ok, altered (bytes or entry fields), missing (file gone without a deletion entry) or deleted (retention);
    entries removed or reordered are chain problems. Reads only."""
    return await verify_entries(
        files_dir, ticket_id, await case_entries(session, ticket_id, tenant_id=tenant_id)
    )


# --- deleting ---------------------------------------------------------------------------------------------


async def _bytes_still_needed(session: AsyncSession, entry: EvidenceEntry) -> bool:
    """Whether anything but this entry still needs the bytes of `entry.sha256`: files are stored once per
    content for every tenant, so the check must see every tenant's rows (on PostgreSQL it lifts the RLS scope
    for these two counts and puts the transaction's own scope back)."""
    gone_attachments = select(EvidenceEntry.attachment_id).where(
        EvidenceEntry.sha256 == entry.sha256,
        EvidenceEntry.attachment_id.is_not(None),
        (EvidenceEntry.deleted_at.is_not(None)) | (EvidenceEntry.id == entry.id),
    )
    live_entries = select(func.count()).where(
        EvidenceEntry.sha256 == entry.sha256,
        EvidenceEntry.kind != EvidenceKind.DELETION,
        EvidenceEntry.deleted_at.is_(None),
        EvidenceEntry.id != entry.id,
    )
    live_attachments = select(func.count()).where(
        Attachment.sha256 == entry.sha256, Attachment.id.not_in(gone_attachments)
    )
    if not on_postgres(session):
        return bool(await session.scalar(live_entries) or await session.scalar(live_attachments))
    connection = await session.connection()
    scope = (await connection.execute(_CURRENT_SCOPE)).one()
    await connection.execute(RLS_CONTEXT, {"tenant": "", "system": "on"})
    try:
        return bool(await session.scalar(live_entries) or await session.scalar(live_attachments))
    finally:
        await connection.execute(RLS_CONTEXT, {"tenant": scope[0] or "", "system": scope[1] or "off"})


async def deletion_of(session: AsyncSession, entry: EvidenceEntry) -> EvidenceEntry | None:
    """The DELETION entry of `entry`, if its bytes were deleted."""
    for candidate in await case_entries(session, entry.ticket_id, tenant_id=entry.tenant_id):
        if candidate.kind is EvidenceKind.DELETION and (candidate.meta or {}).get("deletes_seq") == entry.seq:
            return candidate
    return None


async def do_delete_item(
    session: AsyncSession,
    files_dir: Path,
    entry: EvidenceEntry,
    *,
    reason: str,
    deleted_by: str,
    now: datetime | None = None,
) -> EvidenceEntry:
    """Delete an item's bytes (unless another live attachment or entry still needs the same content), append
    a DELETION entry naming it (`meta = {"deletes_seq": n, "reason": …}`) and mark the item deleted. The entry
    itself stays. Deleting an item twice returns its first deletion entry. Takes the case lock.

    The file goes when the transaction has not committed yet: a rollback after it leaves an item whose
    bytes are gone without a deletion entry, which `verify_case` reports as missing, never as intact."""
    if entry.kind is EvidenceKind.DELETION:
        raise InvalidInput("A deletion entry has no bytes to delete.", field="seq")
    ticket = await lock_case(session, entry.tenant_id, entry.ticket_id)
    await session.refresh(entry)
    if entry.deleted_at is not None and (earlier := await deletion_of(session, entry)) is not None:
        return earlier
    now = now or utcnow()
    deletion = await _append(
        session,
        ticket,
        kind=EvidenceKind.DELETION,
        attachment_id=None,
        filename=entry.filename,
        content_type=entry.content_type,
        sha256=entry.sha256,
        size_bytes=entry.size_bytes,
        received_at=now,
        captured_by=deleted_by,
        meta={"deletes_seq": entry.seq, "reason": reason[:200]},
        return_id=entry.return_id,
        call_id=entry.call_id,
    )
    entry.deleted_at = now
    await session.flush()
    if not await _bytes_still_needed(session, entry):
        await asyncio.to_thread(files.blob_path(files_dir, entry.sha256).unlink, missing_ok=True)
    return deletion
