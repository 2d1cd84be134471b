"""Warehouse receiving: the parcel scanned in, each line counted and graded A–D with photos and notes, its
disposition (restock into this warehouse with its batch, refurbish, liquidate, back to the supplier,
destroy), differences posted to the ticket, and then the money back or the exchange shipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.adjustments import do_adjust_stock
from aftersail.catalog.schemas import AdjustmentReason, StockAdjustmentIn
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.returns import economics, exchanges, notices, refunds
from aftersail.returns.models import Disposition, ReturnEvidence, ReturnLine, ReturnRequest
from aftersail.returns.planning import Upload, check_uploads
from aftersail.returns.records import do_move, do_record, return_lines
from aftersail.returns.rules import Resolution, ReturnStatus
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.video import evidence
from aftersail.video.chain import EvidenceKind

RECEIVABLE = frozenset({ReturnStatus.APPROVED, ReturnStatus.IN_TRANSIT})
# What a grade usually becomes; the operator may choose otherwise.
USUAL_DISPOSITION = {
    economics.Grade.A: Disposition.RESTOCK,
    economics.Grade.B: Disposition.RESTOCK,
    economics.Grade.C: Disposition.REFURBISH,
    economics.Grade.D: Disposition.DESTROY,
}


async def lock_return(session: AsyncSession, ret: ReturnRequest) -> ReturnRequest:
    """The return's row lock (and its row re-read): two scans or two grading submits of one parcel run one
    after the other, and the second sees what the first did. SQLite serialises writers anyway."""
    await session.execute(
        select(ReturnRequest.id)
        .where(ReturnRequest.tenant_id == ret.tenant_id, ReturnRequest.id == ret.id)
        .with_for_update()
    )
    await session.refresh(ret)
    return ret


@dataclass(frozen=True, slots=True)
class LineGrade:
    return_line_id: int
    received_quantity: int
    grade: economics.Grade
    disposition: Disposition
    note: str = ""


async def do_receive(
    session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime | None = None
) -> ReturnRequest:
    """The label was scanned at the warehouse: the parcel is in. Scanning it twice changes nothing."""
    now = now or utcnow()
    await lock_return(session, ret)
    if ret.status in {ReturnStatus.RECEIVED, ReturnStatus.GRADED}:
        return ret
    if ret.status not in RECEIVABLE:
        raise Conflict(f"Return {ret.rma_number} is {ret.status.value}; no parcel is expected for it.")
    await do_move(session, ret, ReturnStatus.RECEIVED, actor=actor, now=now)
    ret.received_at = now
    await notices.do_tell_buyer(session, ret, notices.Notice.RECEIVED, now=now)
    if ret.resolution in {Resolution.EXCHANGE, Resolution.REPLACEMENT}:
        await exchanges.do_ship_exchange(session, ret, actor=actor, now=now)
    return ret


async def do_grade(
    session: AsyncSession,
    ret: ReturnRequest,
    grades: list[LineGrade],
    *,
    actor: str,
    photos: list[Upload] | None = None,
    files_dir: Path,
    now: datetime | None = None,
) -> ReturnRequest:
    """Grade every line that travelled, put each where its disposition says, post differences to the ticket,
    then refund (or close an exchange). Restocked units join this warehouse's stock with their batch."""
    now = now or utcnow()
    await lock_return(session, ret)
    if ret.status is not ReturnStatus.RECEIVED:
        raise Conflict(f"Return {ret.rma_number} is {ret.status.value}; scan the parcel in before grading.")
    lines = {
        line.id: (line, sku)
        for line, sku in await return_lines(session, ret)
        if line.eligible and not line.keep
    }
    given = {grade.return_line_id: grade for grade in grades}
    if set(given) != set(lines):
        raise InvalidInput("Grade every item of the return.", field="lines")
    check_uploads(photos or [])
    for line_id, (line, sku) in lines.items():  # everything checked before anything is written
        if not 0 <= given[line_id].received_quantity <= line.quantity * 2:
            raise InvalidInput(
                f"{sku.code}: count between 0 and {line.quantity * 2}.", field="received_quantity"
            )
    differences = []
    restock_value = 0
    for line_id, (line, sku) in lines.items():
        grade = given[line_id]
        line.received_quantity = grade.received_quantity
        line.grade = grade.grade
        line.disposition = grade.disposition
        line.grading_note = grade.note[:1000]
        line.graded_by = actor[:80]
        line.graded_at = now
        if grade.received_quantity != line.quantity:
            differences.append(f"{sku.code}: expected {line.quantity}, received {grade.received_quantity}")
        if grade.disposition is Disposition.RESTOCK and grade.received_quantity and ret.warehouse_id:
            await do_adjust_stock(
                session,
                ret.tenant_id,
                StockAdjustmentIn(
                    warehouse_id=ret.warehouse_id,
                    sku_id=line.sku_id,
                    batch_id=line.batch_id,
                    reason=AdjustmentReason.RETURNED,
                    delta=grade.received_quantity,
                    note=f"return {ret.rma_number}, grade {grade.grade.value}",
                ),
                source=f"return:{ret.id}",
            )
        restock_value += _worth(line, grade)
    ret.restock_value_minor = restock_value
    await _store_photos(session, ret, photos or [], files_dir, actor=actor, now=now)
    await do_move(session, ret, ReturnStatus.GRADED, actor=actor, now=now)
    await do_record(
        session,
        ret,
        "graded",
        actor,
        lines=[
            {
                "return_line_id": g.return_line_id,
                "received": g.received_quantity,
                "grade": g.grade.value,
                "disposition": g.disposition.value,
                "note": g.note[:200],
            }
            for g in grades
        ],
        restock_value_minor=restock_value,
    )
    if differences:
        await do_record(session, ret, "discrepancy", actor, differences=differences)
        await notices.do_tell_buyer(session, ret, notices.Notice.DISCREPANCY, now=now)
        return ret  # a person looks before any money moves
    await do_resolve(session, ret, actor=actor, now=now)
    return ret


async def do_resolve(session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime) -> None:
    """After grading: the refund (or store credit) of the decision, or the exchange closed once shipped."""
    if ret.resolution in {Resolution.REFUND, Resolution.STORE_CREDIT}:
        await refunds.do_request_refund(session, ret, actor=actor, now=now)
    else:
        await do_move(session, ret, ReturnStatus.EXCHANGED, actor=actor, now=now)
        ret.resolved_at = ret.resolved_at or now


def _worth(line: ReturnLine, grade: LineGrade) -> int:
    if grade.disposition in {Disposition.DESTROY, Disposition.RETURN_TO_SUPPLIER}:
        return 0
    share = economics.RESALE_SHARE.get(grade.grade, 0.0)
    return round(line.unit_price_minor * grade.received_quantity * share)


async def _store_photos(
    session: AsyncSession,
    ret: ReturnRequest,
    photos: list[Upload],
    files_dir: Path,
    *,
    actor: str,
    now: datetime,
) -> None:
    if not photos or ret.ticket_id is None:
        return
    ticket = await tickets.access_ticket(session, ret.tenant_id, ret.ticket_id)
    for photo in photos:
        stored = await files.do_store_attachment(
            session,
            ticket,
            filename=photo.filename,
            data=photo.data,
            content_type=photo.content_type,
            files_dir=files_dir,
        )
        session.add(
            ReturnEvidence(
                tenant_id=ret.tenant_id, attachment_id=stored.id, return_id=ret.id, source="warehouse"
            )
        )
        await evidence.do_append_evidence(  # the case's evidence chain (video.evidence)
            session,
            tenant_id=ret.tenant_id,
            ticket_id=ticket.id,
            kind=EvidenceKind.GRADING_PHOTO,
            attachment=stored,
            captured_by=actor,
            received_at=now,
            return_id=ret.id,
        )
    await session.flush()
