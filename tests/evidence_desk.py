"""A case with evidence, built through the services: a delivered order whose buyer asks for a return with a
photo and a short video (so the returns hook puts both in the case's chain), and helpers that add a call's
recording or snapshot to the chain as the video call code does (an attachment stored, then appended)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.returns import service as returns
from aftersail.returns.rules import Reason, Resolution
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import do_append_evidence
from aftersail.video.models import InspectionCall
from aftersail.video.rules import CallPurpose, CallStatus, RecordingStatus
from tests.returns_desk import Delivered, make_delivered, order_line_ids, request_return


def jpeg(seed: int) -> bytes:
    """A small JPEG with some structure, different for every seed."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (160, 120), (240, 240, 235))
    draw = ImageDraw.Draw(image)
    for step in range(8):
        x, y = (seed * 37 + step * 53) % 140, (seed * 11 + step * 29) % 100
        draw.rectangle((x, y, x + 20, y + 15), fill=((step * 40) % 255, (seed * 60) % 255, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def mp4(seed: int, size: int = 4096) -> bytes:
    """Bytes an MP4 sniffer accepts (an `ftyp` box first), different for every seed."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return head + seed.to_bytes(8, "big") + bytes((seed + i) % 251 for i in range(size))


def webm(seed: int, size: int = 64 * 1024) -> bytes:
    """Bytes of a 'recording' (an EBML header, then filler), different for every seed."""
    return b"\x1a\x45\xdf\xa3" + seed.to_bytes(8, "big") + bytes((seed * 7 + i) % 253 for i in range(size))


@dataclass
class Case:
    delivered: Delivered
    return_id: int
    ticket_id: int

    @property
    def tenant_id(self) -> int:
        return self.delivered.tenant_id


async def case_with_buyer_evidence(
    db: Database, files_dir: Path, *, seed: int = 1, uploads: bool = True
) -> Case:
    """A return asked for with one photo and one video: the case's chain starts with both (with `uploads`
    off, a return for a bad fit with nothing sent, and an empty chain)."""
    delivered = await make_delivered(db)
    line_ids = await order_line_ids(db, delivered)
    ask = returns.ReturnAsk(
        Reason.DAMAGED if uploads else Reason.DOES_NOT_FIT,
        Resolution.REFUND,
        [returns.LineAsk(line_ids["lamp"], 1)],
        uploads=[
            returns.Upload(f"crack-{seed}.jpg", jpeg(seed), "image/jpeg"),
            returns.Upload(f"unboxing-{seed}.mp4", mp4(seed), "video/mp4"),
        ]
        if uploads
        else [],
    )
    return_id = await request_return(db, delivered, ask, files_dir)
    async with db.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.ticket_id is not None
        return Case(delivered, return_id, ret.ticket_id)


async def make_call(db: Database, case: Case, *, room: int) -> int:
    """An ended inspection call on the case whose recording is ready (the rows the call code writes)."""
    now = utcnow()
    async with db.transaction(tenant_id=case.tenant_id) as session:
        call = InspectionCall(
            tenant_id=case.tenant_id,
            ticket_id=case.ticket_id,
            return_id=case.return_id,
            purpose=CallPurpose.RETURN_INSPECTION,
            status=CallStatus.ENDED,
            language="en",
            room=room,
            room_pin="pin",
            bitrate=1_000_000,
            link_expires_at=now + timedelta(hours=1),
            ended_at=now,
            recording_status=RecordingStatus.READY,
        )
        session.add(call)
        await session.flush()
        return call.id


async def add_item(
    db: Database,
    case: Case,
    files_dir: Path,
    kind: EvidenceKind,
    data: bytes,
    *,
    filename: str,
    content_type: str,
    received_at: datetime | None = None,
    call_id: int | None = None,
    captured_by: str = "system",
) -> int:
    """Store `data` as an attachment of the case and append it to the chain; returns the entry's seq."""
    async with db.transaction(tenant_id=case.tenant_id) as session:
        ticket = await tickets.access_ticket(session, case.tenant_id, case.ticket_id)
        stored = await files.do_store_attachment(
            session, ticket, filename=filename, data=data, content_type=content_type, files_dir=files_dir
        )
        entry = await do_append_evidence(
            session,
            tenant_id=case.tenant_id,
            ticket_id=case.ticket_id,
            kind=kind,
            attachment=stored,
            captured_by=captured_by,
            received_at=received_at,
            call_id=call_id,
            return_id=case.return_id,
            meta={"seat": "buyer"} if call_id else None,
        )
        return entry.seq
