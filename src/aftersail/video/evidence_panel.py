"""The evidence an agent sees beside a ticket and on the case's evidence page: the chain's entries with
their kind, receive time, who captured them, a SHA-256 prefix and a deleted mark, and a check of the chain.
Beside a ticket the check is quick (every link and entry hash, and each file there with its size); the
evidence page re-hashes every file. Reads only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.i18n import N_
from aftersail.support import attachments as files
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import access_case_chain, stored, verify_entries
from aftersail.video.evidence_check import (
    ChainReport,
    FileFound,
    ItemState,
    check_chain,
    files_to_hash,
)
from aftersail.video.models import EvidenceEntry

MOST = 12  # entries beside a ticket, newest first (the evidence page lists them all)

KIND_LABELS = {
    EvidenceKind.BUYER_PHOTO: N_("Buyer's photo"),
    EvidenceKind.BUYER_VIDEO: N_("Buyer's video"),
    EvidenceKind.GRADING_PHOTO: N_("Grading photo"),
    EvidenceKind.RECORDING: N_("Call recording"),
    EvidenceKind.RECORDING_RAW: N_("Raw call recording (.mjr)"),
    EvidenceKind.SNAPSHOT: N_("Call snapshot"),
    EvidenceKind.ANNOTATION: N_("Snapshot marks"),
    EvidenceKind.DELETION: N_("Deleted at end of retention"),
}
STATE_LABELS = {
    ItemState.OK: N_("Intact"),
    ItemState.ALTERED: N_("Altered"),
    ItemState.MISSING: N_("Missing"),
    ItemState.DELETED: N_("Deleted (retention)"),
}


@dataclass(frozen=True, slots=True)
class EvidencePanel:
    ticket_id: int
    entries: list[EvidenceEntry]  # shown, newest first
    total: int
    report: ChainReport
    thorough: bool  # every file re-hashed (else: present with its size)

    @property
    def states(self) -> dict[int, ItemState]:
        return {item.seq: item.state for item in self.report.items}

    @property
    def more(self) -> int:
        return max(self.total - len(self.entries), 0)


def _present(files_dir: Path, sha256: str, expected: str) -> FileFound | None:
    """A file's size from the disk, taken as holding `expected` (the quick check does not read it)."""
    try:
        size = files.blob_path(files_dir, sha256).stat().st_size
    except FileNotFoundError:
        return None
    return FileFound(expected, size)


async def quick_check(files_dir: Path, ticket_id: int, entries: list[EvidenceEntry]) -> ChainReport:
    plain = [stored(entry) for entry in entries]

    def look() -> dict[int, FileFound | None]:
        return {e.seq: _present(files_dir, e.sha256, e.sha256) for e in files_to_hash(plain)}

    return check_chain(ticket_id, plain, await asyncio.to_thread(look))


async def ticket_evidence(
    session: AsyncSession,
    tenant_id: int,
    ticket_id: int,
    files_dir: Path,
    *,
    thorough: bool = False,
    most: int | None = MOST,
) -> EvidencePanel:
    entries = await access_case_chain(session, tenant_id, ticket_id)
    if thorough:
        report = await verify_entries(files_dir, ticket_id, entries)
    else:
        report = await quick_check(files_dir, ticket_id, entries)
    shown = list(reversed(entries))
    return EvidencePanel(
        ticket_id=ticket_id,
        entries=shown if most is None else shown[:most],
        total=len(entries),
        report=report,
        thorough=thorough,
    )
