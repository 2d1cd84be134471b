"""The evidence chain's pure parts: the entry hash (its formula, and that every field it covers changes it)
and the chain check (intact, altered bytes, a missing file, a deletion, a removed or reordered entry)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from aftersail.video.chain import GENESIS, EntryFields, EvidenceKind, entry_hash
from aftersail.video.evidence_check import (
    FileFound,
    ItemState,
    StoredEntry,
    check_chain,
    files_to_hash,
)

WHEN = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
FIELDS = EntryFields(
    case_id=42,
    seq=1,
    kind=EvidenceKind.BUYER_PHOTO,
    sha256="ab" * 32,
    size_bytes=1234,
    received_at=WHEN,
    captured_by="buyer:7",
    meta={"seat": "buyer", "note": "裂缝"},
    prev_hash=GENESIS,
)


def test_the_hash_is_sha256_of_the_documented_canonical_json() -> None:
    canonical = (
        '{"captured_by":"buyer:7","case":42,"kind":"buyer_photo","meta":{"note":"裂缝","seat":"buyer"},'
        f'"prev":"{GENESIS}","received_at":"2025-03-01T08:30:15.123456+00:00","seq":1,'
        f'"sha256":"{"ab" * 32}","size":1234}}'
    )
    assert json.loads(canonical)["meta"]["note"] == "裂缝"
    assert entry_hash(FIELDS) == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("case_id", 43),
        ("seq", 2),
        ("kind", EvidenceKind.BUYER_VIDEO),
        ("sha256", "ac" + "ab" * 31),
        ("size_bytes", 1235),
        ("received_at", WHEN + timedelta(microseconds=1)),
        ("captured_by", "buyer:8"),
        ("meta", {"seat": "staff", "note": "裂缝"}),
        ("prev_hash", "1" * 64),
    ],
)
def test_any_field_change_changes_the_hash(field: str, value: object) -> None:
    assert entry_hash(dataclasses.replace(FIELDS, **{field: value})) != entry_hash(FIELDS)


def test_the_hash_does_not_depend_on_meta_key_order() -> None:
    reordered = dataclasses.replace(FIELDS, meta={"note": "裂缝", "seat": "buyer"})
    assert entry_hash(reordered) == entry_hash(FIELDS)


def build(items: list[tuple[EvidenceKind, str, dict[str, object]]]) -> list[StoredEntry]:
    """A well-formed chain of case 42."""
    entries, previous = [], GENESIS
    for seq, (kind, digest, meta) in enumerate(items, start=1):
        fields = EntryFields(
            42, seq, kind, digest, 10, WHEN + timedelta(seconds=seq), "system", meta, previous
        )
        digest_of_entry = entry_hash(fields)
        entries.append(
            StoredEntry(
                seq,
                kind,
                f"f{seq}",
                digest,
                10,
                fields.received_at,
                "system",
                meta,
                previous,
                digest_of_entry,
            )
        )
        previous = digest_of_entry
    return entries


def present(entries: list[StoredEntry]) -> dict[int, FileFound | None]:
    return {e.seq: FileFound(e.sha256, e.size_bytes) for e in files_to_hash(entries)}


def test_an_intact_chain_with_a_deletion_is_ok() -> None:
    entries = build(
        [
            (EvidenceKind.BUYER_PHOTO, "a" * 64, {}),
            (EvidenceKind.RECORDING, "b" * 64, {}),
            (EvidenceKind.DELETION, "b" * 64, {"deletes_seq": 2, "reason": "retention"}),
        ]
    )
    assert [e.seq for e in files_to_hash(entries)] == [1]  # the deleted recording is not looked for
    report = check_chain(42, entries, present(entries))
    assert report.ok and report.head_hash == entries[-1].entry_hash
    assert [i.state for i in report.items] == [ItemState.OK, ItemState.DELETED, ItemState.OK]


def test_altered_bytes_and_a_missing_file_are_named() -> None:
    entries = build([(EvidenceKind.BUYER_PHOTO, "a" * 64, {}), (EvidenceKind.SNAPSHOT, "c" * 64, {})])
    report = check_chain(42, entries, {1: FileFound("d" * 64, 10), 2: None})
    assert not report.ok
    assert [(i.seq, i.state) for i in report.failures] == [(1, ItemState.ALTERED), (2, ItemState.MISSING)]


def test_a_removed_or_reordered_entry_breaks_the_chain() -> None:
    entries = build([(EvidenceKind.BUYER_PHOTO, f"{n}" * 64, {}) for n in range(1, 5)])
    without_second = [e for e in entries if e.seq != 2]
    report = check_chain(42, without_second, present(without_second))
    assert not report.ok
    assert report.chain_problems[0].startswith("entry 2 removed")
    swapped = [
        dataclasses.replace(entries[1], seq=3),
        dataclasses.replace(entries[2], seq=2),
        entries[0],
        entries[3],
    ]
    report = check_chain(42, swapped, present(swapped))
    assert not report.ok and all(i.state is ItemState.ALTERED for i in report.items[1:3])


def test_a_deletion_must_name_an_earlier_item() -> None:
    entries = build(
        [(EvidenceKind.BUYER_PHOTO, "a" * 64, {}), (EvidenceKind.DELETION, "a" * 64, {"deletes_seq": 9})]
    )
    report = check_chain(42, entries, present(entries))
    assert not report.ok and "names no earlier item" in report.chain_problems[0]
