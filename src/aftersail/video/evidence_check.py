"""Verifying a case's evidence chain, without I/O: given the stored entries and what the files' bytes hash to
now, say for every item whether it is intact, altered, missing or deleted by retention, and whether the chain
itself is whole (no entry removed, inserted or reordered)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aftersail.video.chain import GENESIS, EntryFields, EvidenceKind, entry_hash


class ItemState(StrEnum):
    OK = "ok"
    ALTERED = "altered"  # its bytes or its entry's fields are not what the chain recorded
    MISSING = "missing"  # its file is gone and no deletion entry says why
    DELETED = "deleted"  # its bytes were deleted at the end of retention; a later entry says so


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One chain row as stored (plain data)."""

    seq: int
    kind: EvidenceKind
    filename: str
    sha256: str
    size_bytes: int
    received_at: datetime
    captured_by: str
    meta: Mapping[str, Any]
    prev_hash: str
    entry_hash: str
    deleted_at: datetime | None = None

    def fields(self, case_id: int) -> EntryFields:
        return EntryFields(
            case_id=case_id,
            seq=self.seq,
            kind=self.kind,
            sha256=self.sha256,
            size_bytes=self.size_bytes,
            received_at=self.received_at,
            captured_by=self.captured_by,
            meta=self.meta,
            prev_hash=self.prev_hash,
        )


@dataclass(frozen=True, slots=True)
class FileFound:
    """What a file on disk hashes to now."""

    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ItemCheck:
    seq: int
    kind: EvidenceKind
    filename: str
    sha256: str
    state: ItemState
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainReport:
    case_id: int
    items: tuple[ItemCheck, ...]
    chain_problems: tuple[str, ...]  # entries removed, inserted or reordered
    head_hash: str  # the last entry's hash: compare it with an earlier export to catch a cut-off tail

    @property
    def ok(self) -> bool:
        return not self.chain_problems and all(
            i.state in {ItemState.OK, ItemState.DELETED} for i in self.items
        )

    @property
    def failures(self) -> list[ItemCheck]:
        return [item for item in self.items if item.state in {ItemState.ALTERED, ItemState.MISSING}]

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "ok": self.ok,
            "entries": len(self.items),
            "head_hash": self.head_hash,
            "chain_problems": list(self.chain_problems),
            "items": [
                {
                    "seq": item.seq,
                    "kind": item.kind.value,
                    "filename": item.filename,
                    "sha256": item.sha256,
                    "state": item.state.value,
                    "problems": list(item.problems),
                }
                for item in self.items
            ],
        }


def deleted_seqs(entries: Sequence[StoredEntry]) -> set[int]:
    """The items a DELETION entry of the chain says were deleted."""
    found = set()
    for entry in entries:
        target = entry.meta.get("deletes_seq") if entry.kind is EvidenceKind.DELETION else None
        if isinstance(target, int):
            found.add(target)
    return found


def files_to_hash(entries: Sequence[StoredEntry]) -> list[StoredEntry]:
    """The items whose bytes must still be on disk: every item but deletion entries and deleted items."""
    gone = deleted_seqs(entries)
    return [e for e in entries if e.kind is not EvidenceKind.DELETION and e.seq not in gone]


def check_chain(
    case_id: int, entries: Sequence[StoredEntry], files: Mapping[int, FileFound | None]
) -> ChainReport:
    """`files` maps the seq of each entry of `files_to_hash` to what its file hashes to now (None: absent)."""
    ordered = sorted(entries, key=lambda e: e.seq)
    gone = deleted_seqs(ordered)
    seqs = {entry.seq for entry in ordered}
    chain_problems: list[str] = []
    items: list[ItemCheck] = []
    expected_seq, previous_hash = 1, GENESIS
    for entry in ordered:
        problems: list[str] = []
        if entry.seq != expected_seq:
            missing = (
                f"entry {expected_seq}"
                if entry.seq == expected_seq + 1
                else f"entries {expected_seq}–{entry.seq - 1}"
            )
            chain_problems.append(f"{missing} removed from the chain (seq jumps to {entry.seq})")
        if entry.prev_hash != previous_hash:
            chain_problems.append(
                f"entry {entry.seq} does not follow the entry before it (removed, inserted or reordered)"
            )
            problems.append("its link to the previous entry is broken")
        if entry_hash(entry.fields(case_id)) != entry.entry_hash:
            problems.append("its entry's fields differ from its recorded hash")
        state = ItemState.ALTERED if problems else ItemState.OK
        if entry.kind is EvidenceKind.DELETION:
            target = entry.meta.get("deletes_seq")
            if not isinstance(target, int) or target not in seqs or target >= entry.seq:
                chain_problems.append(f"deletion entry {entry.seq} names no earlier item ({target!r})")
        elif entry.seq in gone:
            state = ItemState.ALTERED if problems else ItemState.DELETED
        else:
            found = files.get(entry.seq)
            if found is None:
                problems.append(
                    "its file is gone, and no deletion entry says so"
                    if entry.deleted_at is None
                    else "its file is gone; it is marked deleted but no deletion entry is in the chain"
                )
                state = ItemState.MISSING if state is ItemState.OK else state
            elif found.sha256 != entry.sha256 or found.size_bytes != entry.size_bytes:
                problems.append(f"its bytes differ (SHA-256 now {found.sha256}, {found.size_bytes} bytes)")
                state = ItemState.ALTERED
        items.append(ItemCheck(entry.seq, entry.kind, entry.filename, entry.sha256, state, tuple(problems)))
        expected_seq, previous_hash = entry.seq + 1, entry.entry_hash
    return ChainReport(case_id, tuple(items), tuple(chain_problems), previous_hash)
