"""The export bundle of a case's evidence for marketplace and payment disputes: a zip with every file still
present and `manifest.json` (the case, its order and returns, every chain entry with its fields and hashes,
the verification result, and how to check it all). Files are copied into the zip from disk a block at a
time: a bundle of large recordings never sits in memory."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.orders import service as orders
from aftersail.returns import ticket_panel as returns_panel
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.tenants import service as tenants
from aftersail.video.chain import GENESIS, EvidenceKind
from aftersail.video.evidence import access_case_chain, verify_entries
from aftersail.video.evidence_check import ItemState
from aftersail.video.models import EvidenceEntry

BUNDLE_FORMAT = "aftersail-evidence-bundle/1"
HOW_TO_VERIFY = {
    "file": "sha256 of each file's bytes equals its entry's sha256 (and its size, size_bytes)",
    "entry_hash": (
        "sha256 of the UTF-8 bytes of the JSON object {case, seq, kind, sha256, size, received_at, "
        "captured_by, meta, prev} serialised with sorted keys, separators ',' and ':', and non-ASCII "
        "characters kept as they are; received_at is ISO 8601 with microseconds and offset "
        "(2025-01-31T08:00:00.000000+00:00); case is the ticket id"
    ),
    "prev_hash": f"the previous entry's entry_hash; the first entry's is {GENESIS}",
    "seq": "1, 2, 3, … without gaps",
    "deletion": "an entry of kind deletion names the seq of an earlier item whose bytes retention deleted",
    "command": "aftersail evidence verify CASE (on the server that holds the case)",
}
_UNSAFE = re.compile(r"[^\w.\-]+")


def bundle_name(entry: EvidenceEntry) -> str:
    """The file's path in the zip: seq first, so the files list in chain order."""
    name = _UNSAFE.sub("_", entry.filename).strip("._") or "file"
    return f"files/{entry.seq:04d}-{entry.kind.value}-{name[:120]}"


async def export_manifest(
    session: AsyncSession, files_dir: Path, tenant_id: int, ticket_id: int, *, now: datetime | None = None
) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    """The manifest and the (file on disk, path in the zip) of every item whose bytes are still there."""
    ticket = await tickets.access_ticket(session, tenant_id, ticket_id)
    tenant = await tenants.access_tenant(session, tenant_id)
    entries = await access_case_chain(session, tenant_id, ticket_id)
    report = await verify_entries(files_dir, ticket_id, entries)
    states = {item.seq: item for item in report.items}
    order_number = None
    if ticket.order_id is not None:
        order_number = (await orders.access_order(session, tenant_id, ticket.order_id)).number
    named_returns = {entry.return_id for entry in entries if entry.return_id is not None}
    case_returns = [
        {"id": item.ret.id, "rma_number": item.ret.rma_number, "status": item.ret.status.value}
        for item in await returns_panel.ticket_returns(
            session, tenant_id, ticket_id, return_ids=named_returns
        )
        if item.linked or item.ret.id in named_returns
    ]
    packed: list[tuple[Path, str]] = []
    shown = []
    for entry in entries:
        state = states[entry.seq].state
        in_zip = None
        if entry.kind is not EvidenceKind.DELETION and state in {ItemState.OK, ItemState.ALTERED}:
            path = files.blob_path(files_dir, entry.sha256)
            if path.exists():
                in_zip = bundle_name(entry)
                packed.append((path, in_zip))
        shown.append(
            {
                "seq": entry.seq,
                "kind": entry.kind.value,
                "filename": entry.filename,
                "content_type": entry.content_type,
                "sha256": entry.sha256,
                "size_bytes": entry.size_bytes,
                "received_at": entry.received_at.isoformat(timespec="microseconds"),
                "captured_by": entry.captured_by,
                "meta": entry.meta or {},
                "prev_hash": entry.prev_hash,
                "entry_hash": entry.entry_hash,
                "deleted_at": entry.deleted_at.isoformat() if entry.deleted_at else None,
                "return_id": entry.return_id,
                "call_id": entry.call_id,
                "state": state.value,
                "file": in_zip,
            }
        )
    manifest = {
        "format": BUNDLE_FORMAT,
        "generated_at": (now or utcnow()).isoformat(timespec="seconds"),
        "case": {
            "ticket_id": ticket.id,
            "subject": ticket.subject,
            "created_at": ticket.created_at.isoformat(),
        },
        "tenant": {"id": tenant.id, "slug": tenant.slug, "name": tenant.name},
        "order_number": order_number,
        "returns": case_returns,
        "entries": shown,
        "verification": report.as_dict(),
        "how_to_verify": HOW_TO_VERIFY,
    }
    return manifest, packed


def write_zip(out: IO[bytes] | Path, manifest: dict[str, Any], packed: list[tuple[Path, str]]) -> None:
    """Blocking: the zip, file by file from disk (a file that vanished since the manifest is left out and
    the manifest says so under `left_out`)."""
    left_out = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as bundle:
        for path, name in packed:
            try:
                # photos and videos are compressed already: stored as they are
                bundle.write(path, name, compress_type=zipfile.ZIP_STORED)
            except FileNotFoundError:
                left_out.append(name)
        if left_out:
            manifest = {**manifest, "left_out": left_out}
        bundle.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))


async def build_export(
    session: AsyncSession,
    files_dir: Path,
    tenant_id: int,
    ticket_id: int,
    out: IO[bytes] | Path,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the case's bundle to `out` (a path or a binary file open for writing) and return its manifest.
    Reads only; the zip is written in a thread."""
    manifest, packed = await export_manifest(session, files_dir, tenant_id, ticket_id, now=now)
    await asyncio.to_thread(write_zip, out, manifest, packed)
    return manifest
