"""Attachments: the original bytes kept on disk under their SHA-256 (one copy however often sent), the type
sniffed from the bytes — never trusted from the file name or the client's header."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import filetype
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import NotFound, TooLarge, UnsupportedMediaType
from aftersail.support.models import Attachment, Ticket

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/avif"})
EVIDENCE_TYPES = IMAGE_TYPES | {"application/pdf", "video/mp4", "video/quicktime", "video/webm"}


def sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192])
    return kind.mime if kind is not None else None


def check_upload(data: bytes, *, max_bytes: int, allowed: frozenset[str]) -> str:
    """The sniffed type of an acceptable upload; 413 and 415 with messages a person understands."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.",
            size=len(data),
            limit=max_bytes,
        )
    if not data:
        raise UnsupportedMediaType("The file is empty.")
    content_type = sniff(data)
    if content_type not in allowed:
        names = ", ".join(sorted(t.split("/")[1].upper() for t in allowed))
        raise UnsupportedMediaType(
            f"This kind of file ({content_type or 'unknown'}) cannot be sent here. Send {names}.",
            content_type=content_type,
        )
    return content_type


def blob_path(files_dir: Path, sha256: str) -> Path:
    return files_dir / "attachments" / sha256[:2] / sha256


async def do_store_attachment(
    session: AsyncSession,
    ticket: Ticket,
    *,
    filename: str,
    data: bytes,
    content_type: str,
    files_dir: Path,
    message_id: int | None = None,
) -> Attachment:
    """Write the bytes (once per content) and the row; the caller has checked the upload."""
    digest = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(_write_once, blob_path(files_dir, digest), data)
    attachment = Attachment(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        message_id=message_id,
        filename=_clean_name(filename),
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
    )
    session.add(attachment)
    await session.flush()
    return attachment


async def do_store_file(
    session: AsyncSession, ticket: Ticket, *, path: Path, filename: str, content_type: str, files_dir: Path
) -> Attachment:
    """`do_store_attachment` for a file on disk too big to hold in memory (a call's recording): hashed while
    it is copied in, then moved under its SHA-256."""
    digest, size = await asyncio.to_thread(_copy_in, path, files_dir)
    attachment = Attachment(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        filename=_clean_name(filename),
        content_type=content_type,
        size_bytes=size,
        sha256=digest,
    )
    session.add(attachment)
    await session.flush()
    return attachment


def _copy_in(source: Path, files_dir: Path) -> tuple[str, int]:
    staging = files_dir / "attachments" / f".{os.getpid()}.{source.name}.part"
    staging.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as reader, staging.open("wb") as writer:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    target = blob_path(files_dir, digest.hexdigest())
    if target.exists():
        staging.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
    return digest.hexdigest(), size


def _write_once(path: Path, data: bytes) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)  # readers never see half a file


def _clean_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip() or "attachment"
    return "".join(c for c in name if c.isprintable())[:255]


async def access_attachment(session: AsyncSession, tenant_id: int, attachment_id: int) -> Attachment:
    found = await session.scalar(
        select(Attachment).where(Attachment.tenant_id == tenant_id, Attachment.id == attachment_id)
    )
    if found is None:
        raise NotFound(f"Attachment {attachment_id} does not exist.", attachment_id=attachment_id)
    return found


async def read_bytes(files_dir: Path, attachment: Attachment) -> bytes:
    return await asyncio.to_thread(blob_path(files_dir, attachment.sha256).read_bytes)
