"""Money back for a return: a refund to the original payment through the payment interface, store credit, or a
returnless (keep-it) refund. Idempotent end to end: the refund row is stored under its idempotency key before
the provider hears of it (a second click or a retried job finds the row), and the provider gets the same key
on every attempt (a retry after a timeout never pays twice)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.outbox import emit
from aftersail.orders import service as orders
from aftersail.returns import notices
from aftersail.returns.models import Refund, RefundKind, RefundStatus, ReturnLine, ReturnRequest
from aftersail.returns.payments import PaymentGateway, RefundOrder
from aftersail.returns.records import do_move, do_record
from aftersail.returns.rules import Resolution, ReturnStatus

SEND_TOPIC = "returns.refund"
REFUNDABLE = frozenset(
    {ReturnStatus.GRADED, ReturnStatus.KEEP_REFUNDED, ReturnStatus.REFUNDED, ReturnStatus.RECEIVED}
)
LIVE = (RefundStatus.REQUESTED, RefundStatus.PENDING, RefundStatus.SUCCEEDED)


async def return_refunds(session: AsyncSession, ret: ReturnRequest) -> list[Refund]:
    rows = await session.scalars(
        select(Refund)
        .where(Refund.tenant_id == ret.tenant_id, Refund.return_id == ret.id)
        .order_by(Refund.created_at, Refund.id)
    )
    return list(rows.all())


async def refund_ceiling(session: AsyncSession, ret: ReturnRequest) -> int:
    """The most a return can refund in all: what the buyer paid for the lines asked back."""
    paid = await session.scalar(
        select(func.coalesce(func.sum(ReturnLine.unit_price_minor * ReturnLine.quantity), 0)).where(
            ReturnLine.tenant_id == ret.tenant_id,
            ReturnLine.return_id == ret.id,
            ReturnLine.eligible.is_(True),
        )
    )
    return int(paid or 0)


async def _committed(session: AsyncSession, ret: ReturnRequest) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
            Refund.tenant_id == ret.tenant_id,
            Refund.return_id == ret.id,
            Refund.status.in_([status.value for status in LIVE]),
        )
    )
    return int(total or 0)


def default_kind(ret: ReturnRequest) -> RefundKind:
    if ret.keep_item:
        return RefundKind.KEEP_REFUND
    return RefundKind.STORE_CREDIT if ret.resolution is Resolution.STORE_CREDIT else RefundKind.REFUND


async def do_request_refund(
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    actor: str,
    amount_minor: int | None = None,
    kind: RefundKind | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> Refund:
    """Store a refund (the decision's amount unless `amount_minor` makes it partial) and queue it for the
    provider after commit. `key` makes a retry of the same action find the same refund: the return's own
    refund is keyed on the return, so a double-clicked "refund" button pays once."""
    now = now or utcnow()
    kind = kind or default_kind(ret)
    key = (key or f"return-{ret.id}-{kind.value}")[:120]
    existing = await _by_key(session, ret.tenant_id, key)
    if existing is not None:
        return existing
    if ret.status not in REFUNDABLE:
        raise Conflict(f"Return {ret.rma_number} is {ret.status.value}; it cannot be refunded yet.")
    ceiling = await refund_ceiling(session, ret)
    committed = await _committed(session, ret)
    amount = ret.refund_due_minor - committed if amount_minor is None else amount_minor
    if amount <= 0:
        raise InvalidInput("There is nothing left to refund on this return.", field="amount_minor")
    if committed + amount > ceiling:
        raise InvalidInput(
            f"At most {ceiling - committed} can still be refunded (paid {ceiling}, refunded {committed}).",
            field="amount_minor",
        )
    refund = Refund(
        tenant_id=ret.tenant_id,
        return_id=ret.id,
        idempotency_key=key,
        kind=kind,
        status=RefundStatus.REQUESTED,
        amount_minor=amount,
        currency=ret.currency,
        actor=actor[:80],
        created_at=now,
    )
    try:
        async with session.begin_nested():  # a concurrent click may insert the same key first
            session.add(refund)
            await session.flush()
    except IntegrityError:
        found = await _by_key(session, ret.tenant_id, key)
        if found is None:
            raise
        return found
    await do_record(
        session,
        ret,
        "refund_requested",
        actor,
        refund_id=refund.id,
        refund_kind=kind.value,
        amount_minor=amount,
    )
    if kind is RefundKind.STORE_CREDIT:
        refund.store_credit_code = _credit_code(ret, refund)
        refund.provider = "store_credit"
        await do_settle(session, ret, refund, RefundStatus.SUCCEEDED, now=now)
    else:
        await emit(session, SEND_TOPIC, {"refund_id": refund.id}, tenant_id=ret.tenant_id)
    return refund


async def _by_key(session: AsyncSession, tenant_id: int, key: str) -> Refund | None:
    return await session.scalar(
        select(Refund).where(Refund.tenant_id == tenant_id, Refund.idempotency_key == key)
    )


def _credit_code(ret: ReturnRequest, refund: Refund) -> str:
    digest = hashlib.sha256(f"{ret.tenant_id}:{refund.idempotency_key}".encode()).hexdigest().upper()
    return f"CR-{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


async def do_send_refund(session: AsyncSession, refund: Refund, gateway: PaymentGateway) -> Refund:
    """The job: ask the provider for the money back under the refund's key. Runs again after a failure
    (the provider answers a repeated key from its cache); a settled refund is left alone."""
    if refund.status is not RefundStatus.REQUESTED:
        return refund
    ret = await session.get(ReturnRequest, refund.return_id)
    assert ret is not None and ret.tenant_id == refund.tenant_id
    order = await orders.access_order(session, ret.tenant_id, ret.order_id)
    receipt = await gateway.refund(
        RefundOrder(
            idempotency_key=refund.idempotency_key,
            payment_ref=order.external_ref or f"order:{order.number}",
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            reason="requested_by_customer",
            metadata={"rma": ret.rma_number, "order": order.number},
        )
    )
    refund.provider = receipt.provider
    refund.provider_refund_id = receipt.provider_refund_id
    status = {
        "succeeded": RefundStatus.SUCCEEDED,
        "pending": RefundStatus.PENDING,
    }.get(receipt.status, RefundStatus.FAILED)
    await do_settle(session, ret, refund, status, now=utcnow())
    return refund


async def do_settle(
    session: AsyncSession, ret: ReturnRequest, refund: Refund, status: RefundStatus, *, now: datetime
) -> None:
    """Record the provider's answer; money on its way counts as refunded (the cycle stops), a failure goes
    back to the agents on the ticket."""
    refund.status = status
    if status is RefundStatus.FAILED:
        refund.error = "the payment provider refused the refund"
        await do_record(session, ret, "refund_failed", "payments", refund_id=refund.id)
        return
    refund.settled_at = now
    ret.refunded_minor += refund.amount_minor
    ret.resolved_at = ret.resolved_at or now
    await do_record(
        session,
        ret,
        "refunded",
        refund.provider or "payments",
        refund_id=refund.id,
        refund_kind=refund.kind.value,
        amount_minor=refund.amount_minor,
        status=status.value,
        provider_refund_id=refund.provider_refund_id,
    )
    if ret.status is ReturnStatus.GRADED:
        await do_move(session, ret, ReturnStatus.REFUNDED, actor="payments", now=now)
    if refund.kind is RefundKind.STORE_CREDIT:
        notice, extra = notices.Notice.STORE_CREDIT, {"code": refund.store_credit_code}
    elif status is RefundStatus.PENDING:
        notice, extra = notices.Notice.REFUND_PENDING, {}
    else:
        notice, extra = notices.Notice.REFUNDED, {}
    if ret.keep_item and refund.kind is RefundKind.KEEP_REFUND and status is RefundStatus.PENDING:
        return  # the buyer was told of the returnless refund when it was decided
    await notices.do_tell_buyer(session, ret, notice, now=now, amount_minor=refund.amount_minor, **extra)
