"""The evidence chain's pure parts: the kinds of item it holds, and one entry's hash computed from its fields
and the previous entry's hash (so altering, removing or reordering an entry breaks every later link)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64  # the "previous hash" of a case's first entry


class EvidenceKind(StrEnum):
    BUYER_PHOTO = "buyer_photo"
    BUYER_VIDEO = "buyer_video"
    GRADING_PHOTO = "grading_photo"  # taken by the warehouse at receiving
    RECORDING = "recording"  # a call's side, post-processed into a playable file without transcoding
    RECORDING_RAW = "recording_raw"  # Janus's own .mjr file of one stream
    SNAPSHOT = "snapshot"  # a frame decoded on the server from a recording
    ANNOTATION = "annotation"  # marks drawn on a snapshot (JSON)
    DELETION = "deletion"  # a later entry saying an earlier item's bytes were deleted (retention)


@dataclass(frozen=True, slots=True)
class EntryFields:
    """Everything an entry's hash covers."""

    case_id: int
    seq: int
    kind: EvidenceKind
    sha256: str
    size_bytes: int
    received_at: datetime
    captured_by: str
    meta: Mapping[str, Any]
    prev_hash: str


def entry_hash(fields: EntryFields) -> str:
    canonical = json.dumps(
        {
            "case": fields.case_id,
            "seq": fields.seq,
            "kind": fields.kind.value,
            "sha256": fields.sha256,
            "size": fields.size_bytes,
            "received_at": fields.received_at.isoformat(timespec="microseconds"),
            "captured_by": fields.captured_by,
            "meta": fields.meta,
            "prev": fields.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
