"""A return read back (by id, by the code on its label, its lines, events and evidence) and its two
writes every step shares: the audit row (also on the linked ticket's timeline) and a move of its state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import NotFound
from aftersail.returns.models import ReturnEvent, ReturnEvidence, ReturnLine, ReturnRequest
from aftersail.returns.rules import ReturnStatus, transition
from aftersail.support import service as tickets
from aftersail.support.audit import record


async def access_return(session: AsyncSession, tenant_id: int, return_id: int) -> ReturnRequest:
    found = await session.scalar(
        select(ReturnRequest).where(ReturnRequest.tenant_id == tenant_id, ReturnRequest.id == return_id)
    )
    if found is None:
        raise NotFound(f"Return {return_id} does not exist.", return_id=return_id)
    return found


async def find_return_by_code(session: AsyncSession, tenant_id: int, code: str) -> ReturnRequest:
    """By RMA number or return tracking number, as a warehouse scanner reads either off the label."""
    code = code.strip().upper()
    found = await session.scalar(
        select(ReturnRequest)
        .where(
            ReturnRequest.tenant_id == tenant_id,
            (ReturnRequest.rma_number == code) | (ReturnRequest.tracking_number == code),
        )
        .limit(1)
    )
    if found is None:
        raise NotFound(f"No return has the code {code}.", code=code)
    return found


async def return_lines(session: AsyncSession, ret: ReturnRequest) -> list[tuple[ReturnLine, Sku]]:
    rows = await session.execute(
        select(ReturnLine, Sku)
        .join(Sku, (Sku.id == ReturnLine.sku_id) & (Sku.tenant_id == ret.tenant_id))
        .where(ReturnLine.tenant_id == ret.tenant_id, ReturnLine.return_id == ret.id)
        .order_by(ReturnLine.id)
    )
    return [(line, sku) for line, sku in rows.all()]


async def return_events(session: AsyncSession, ret: ReturnRequest) -> list[ReturnEvent]:
    rows = await session.scalars(
        select(ReturnEvent)
        .where(ReturnEvent.tenant_id == ret.tenant_id, ReturnEvent.return_id == ret.id)
        .order_by(ReturnEvent.created_at, ReturnEvent.id)
    )
    return list(rows.all())


async def return_evidence(session: AsyncSession, ret: ReturnRequest) -> list[ReturnEvidence]:
    rows = await session.scalars(
        select(ReturnEvidence)
        .where(ReturnEvidence.tenant_id == ret.tenant_id, ReturnEvidence.return_id == ret.id)
        .order_by(ReturnEvidence.created_at, ReturnEvidence.attachment_id)
    )
    return list(rows.all())


async def order_returns(session: AsyncSession, tenant_id: int, order_id: int) -> list[ReturnRequest]:
    rows = await session.scalars(
        select(ReturnRequest)
        .where(ReturnRequest.tenant_id == tenant_id, ReturnRequest.order_id == order_id)
        .order_by(ReturnRequest.requested_at.desc(), ReturnRequest.id.desc())
    )
    return list(rows.all())


async def do_record(session: AsyncSession, ret: ReturnRequest, kind: str, actor: str, /, **data: Any) -> None:
    """The return's audit row, and the same step on the linked ticket's timeline."""
    now = utcnow()
    session.add(
        ReturnEvent(
            tenant_id=ret.tenant_id, return_id=ret.id, kind=kind, actor=actor, data=data, created_at=now
        )
    )
    if ret.ticket_id is not None:
        ticket = await tickets.access_ticket(session, ret.tenant_id, ret.ticket_id)
        await record(
            session, ticket, f"return.{kind}", actor, now, return_id=ret.id, rma=ret.rma_number, **data
        )


async def do_move(
    session: AsyncSession, ret: ReturnRequest, target: ReturnStatus, *, actor: str, now: datetime
) -> None:
    before = ret.status
    ret.status = transition(before, target)
    ret.updated_at = now
    await do_record(session, ret, "status", actor, before=before.value, after=target.value)
