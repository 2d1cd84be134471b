"""Use cases of returns: what a buyer may send back, a request decided by the tenant's policy (and, when the
policy asks, by a person), routed to the nearest warehouse that takes it, with a label, an exchange reserved
through allocation, the buyer told in their language and the linked ticket given every step.

Writers here flush and never commit (the request or job owns the transaction). The buyer's request locks its
order row (`orders.changes.lock_order`) so that two requests cannot both send back the same units.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.photo_checks import do_check_photos
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import Conflict
from aftersail.kit.outbox import schedule_job
from aftersail.orders import service as orders
from aftersail.orders.changes import lock_order
from aftersail.orders.models import Customer, Order
from aftersail.returns import exchanges, notices
from aftersail.returns.approval import do_approve, do_review
from aftersail.returns.models import ReturnEvent, ReturnEvidence, ReturnLine, ReturnRequest
from aftersail.returns.planning import (
    MAX_PHOTO_BYTES,
    MAX_UPLOADS,
    MAX_VIDEO_BYTES,
    OPEN_STATUSES,
    PHOTO_TYPES,
    VIDEO_TYPES,
    LineAsk,
    LineFigures,
    Plan,
    Returnable,
    ReturnAsk,
    ReturnNotAllowed,
    Upload,
    check_uploads,
    delivered_at,
    plan_return,
    returnable_lines,
)
from aftersail.returns.policy import return_policy
from aftersail.returns.records import (
    access_return,
    do_move,
    do_record,
    find_return_by_code,
    order_returns,
    return_events,
    return_evidence,
    return_lines,
)
from aftersail.returns.rules import Outcome, ReturnStatus
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.support.messages import do_add_customer_message
from aftersail.support.models import Attachment, Channel, Ticket
from aftersail.video import evidence

__all__ = [  # the returns use cases, one import for pages, jobs and tests
    "CYCLE_DUE_TOPIC",
    "MAX_PHOTO_BYTES",
    "MAX_UPLOADS",
    "MAX_VIDEO_BYTES",
    "OPEN_STATUSES",
    "PHOTO_TYPES",
    "VIDEO_TYPES",
    "LineAsk",
    "LineFigures",
    "Plan",
    "ReturnAsk",
    "ReturnNotAllowed",
    "Returnable",
    "Upload",
    "access_return",
    "check_uploads",
    "delivered_at",
    "do_approve",
    "do_cancel",
    "do_mark_sent",
    "do_move",
    "do_record",
    "do_request_return",
    "do_review",
    "do_sweep_cycle",
    "find_return_by_code",
    "order_returns",
    "plan_return",
    "return_events",
    "return_evidence",
    "return_lines",
    "returnable_lines",
]

CYCLE_DUE_TOPIC = "returns.cycle_due"


async def do_request_return(
    session: AsyncSession,
    order: Order,
    ask: ReturnAsk,
    *,
    submission_key: str,
    actor: str,
    files_dir: Path,
    now: datetime | None = None,
) -> ReturnRequest:
    """Store the buyer's request, decide it by the policy and act on the decision. The same
    `submission_key` (a form token, an Idempotency-Key) returns the request it made the first time."""
    now = now or utcnow()
    earlier = await _by_submission(session, order, submission_key)
    if earlier is not None:
        return earlier
    await lock_order(session, order)
    earlier = await _by_submission(session, order, submission_key)
    if earlier is not None:
        return earlier
    check_uploads(ask.uploads)
    policy = await return_policy(session, order.tenant_id)
    # Refuse what can never be a return before the case, its message and its files are made.
    trial = await plan_return(session, order, ask, now=now, policy=policy)
    if any(
        line.quantity > max(item.delivered_quantity, 0)
        for line, item in zip(ask.lines, trial.facts.lines, strict=True)
    ):
        raise ReturnNotAllowed(
            "You asked to return more units than were delivered (or already asked back).",
            field="lines",
            refusal="too_many_units",
        )
    customer = await orders.access_customer(session, order.tenant_id, order.customer_id)
    ticket = await _case_ticket(session, order, customer, ask.language, actor=actor, now=now)
    message = await do_add_customer_message(
        session,
        ticket,
        body=notices.request_summary(ask, order),
        channel=Channel.EMAIL if ticket.channel is Channel.EMAIL else ticket.channel,
        author_name=customer.name,
        language=ask.language,
        attachment_ids=[
            (
                await files.do_store_attachment(
                    session,
                    ticket,
                    filename=upload.filename,
                    data=upload.data,
                    content_type=upload.content_type,
                    files_dir=files_dir,
                )
            ).id
            for upload in ask.uploads
        ],
        now=now,
    )
    checks = await do_check_photos(session, order.tenant_id, [message.id], files_dir)
    reused = any(check.reused for check in checks)
    plan = (
        await plan_return(session, order, ask, now=now, reused_photo=True, policy=policy) if reused else trial
    )  # the photos were the one fact the trial did not know
    ret = ReturnRequest(
        tenant_id=order.tenant_id,
        rma_number="",
        submission_key=submission_key[:200],
        order_id=order.id,
        customer_id=order.customer_id,
        ticket_id=ticket.id,
        status=ReturnStatus.REQUESTED,
        reason=ask.reason,
        sub_reason=ask.sub_reason[:40],
        resolution=ask.resolution,
        buyer_note=ask.note[:2000],
        market=order.country,
        language=ask.language,
        currency=order.currency,
        outcome=plan.decision.outcome,
        rule=plan.decision.rule,
        decision_reason=plan.decision.reason[:300],
        window_ends_at=plan.decision.window_ends_at,
        freight_payer=plan.decision.freight_payer,
        keep_item=plan.keeps_all,
        signals=plan.signals,
        refund_due_minor=plan.decision.refund_minor,
        restocking_fee_minor=sum(line.restocking_fee_minor for line in plan.decision.lines if line.eligible),
        requested_at=now,
        due_at=now + timedelta(days=policy.cycle_days),
    )
    session.add(ret)
    await session.flush()
    ret.rma_number = f"RMA{ret.id:07d}"
    returnable = plan.items
    figures = {figure.order_line_id: figure for figure in plan.lines}
    for wanted, fact, verdict in zip(ask.lines, plan.facts.lines, plan.decision.lines, strict=True):
        item = returnable[wanted.order_line_id]
        figure = figures[wanted.order_line_id].figures
        session.add(
            ReturnLine(
                tenant_id=order.tenant_id,
                return_id=ret.id,
                order_line_id=fact.order_line_id,
                sku_id=item.sku.id,
                batch_id=item.batch_id,
                quantity=max(wanted.quantity, 1),
                unit_price_minor=fact.unit_price_minor,
                eligible=verdict.eligible,
                why=verdict.why[:200],
                refund_minor=verdict.refund_minor,
                restocking_fee_minor=verdict.restocking_fee_minor,
                exchange_sku_id=wanted.exchange_sku_id,
                keep=figures[wanted.order_line_id].keep,
                cost_back_minor=figure.cost_back_minor,
                worth_back_minor=figure.worth_back_minor,
            )
        )
    for attachment in await _message_attachments(session, ticket, message.id):
        session.add(
            ReturnEvidence(
                tenant_id=order.tenant_id, attachment_id=attachment, return_id=ret.id, source="buyer"
            )
        )
        sent = await files.access_attachment(session, order.tenant_id, attachment)
        await evidence.do_append_evidence(  # the case's evidence chain (video.evidence)
            session,
            tenant_id=order.tenant_id,
            ticket_id=ticket.id,
            kind=evidence.upload_kind(sent.content_type),
            attachment=sent,
            captured_by=actor,
            received_at=now,
            return_id=ret.id,
        )
    await session.flush()
    await do_record(
        session,
        ret,
        "requested",
        actor,
        reason=ask.reason.value,
        resolution=ask.resolution.value,
        lines=[{"order_line_id": line.order_line_id, "quantity": line.quantity} for line in ask.lines],
        evidence=sorted(plan.facts.evidence),
    )
    await do_record(
        session,
        ret,
        "decided",
        "policy",
        outcome=plan.decision.outcome.value,
        rule=plan.decision.rule,
        reason=plan.decision.reason,
        refund_minor=plan.decision.refund_minor,
        freight_payer=plan.decision.freight_payer.value,
        return_or_keep=[
            {
                "order_line_id": figure.order_line_id,
                "keep": figure.keep,
                "cost_back_minor": figure.figures.cost_back_minor,
                "worth_back_minor": figure.figures.worth_back_minor,
            }
            for figure in plan.lines
        ],
        signals=plan.signals,
    )
    await schedule_job(
        session,
        CYCLE_DUE_TOPIC,
        {"return_id": ret.id},
        ret.due_at or now,
        tenant_id=ret.tenant_id,
        dedupe_key=f"return-cycle:{ret.tenant_id}:{ret.id}",
    )
    if plan.decision.outcome is Outcome.REJECTED:
        await do_move(session, ret, ReturnStatus.REJECTED, actor="policy", now=now)
        await notices.do_tell_buyer(session, ret, notices.Notice.REJECTED, now=now, why=plan.decision.reason)
    elif plan.decision.outcome is Outcome.AUTO_APPROVED:
        await do_approve(session, ret, actor="policy", files_dir=files_dir, plan=plan, now=now)
    else:
        await notices.do_tell_buyer(session, ret, notices.Notice.IN_REVIEW, now=now)
    return ret


async def _by_submission(session: AsyncSession, order: Order, key: str) -> ReturnRequest | None:
    """The return this submission made before; a key once used for another order is a client's mistake."""
    found = await session.scalar(
        select(ReturnRequest).where(
            ReturnRequest.tenant_id == order.tenant_id, ReturnRequest.submission_key == key[:200]
        )
    )
    if found is not None and found.order_id != order.id:
        raise Conflict("This submission key was used for another order's return.", field="submission_key")
    return found


async def _message_attachments(session: AsyncSession, ticket: Ticket, message_id: int) -> list[int]:
    rows = await session.scalars(
        select(Attachment.id).where(
            Attachment.tenant_id == ticket.tenant_id, Attachment.message_id == message_id
        )
    )
    return list(rows.all())


async def _case_ticket(
    session: AsyncSession, order: Order, customer: Customer, language: str, *, actor: str, now: datetime
) -> Ticket:
    """The buyer gave their address on the returns page: they hear of each step on the order's case."""
    return await tickets.do_open_order_case(
        session,
        order.tenant_id,
        order_id=order.id,
        customer_id=customer.id,
        subject=f"Return request — order {order.number}",
        language=language,
        category="return",
        actor=actor,
        now=now,
    )


async def do_mark_sent(
    session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime | None = None
) -> bool:
    """The buyer handed the parcel over: the return is in transit (a second click changes nothing). The
    carrier's first scan of the return parcel moves it the same way (`do_follow_parcel`)."""
    if ret.status is not ReturnStatus.APPROVED:
        return False
    await do_move(session, ret, ReturnStatus.IN_TRANSIT, actor=actor, now=now or utcnow())
    return True


async def do_follow_parcel(
    session: AsyncSession, ret: ReturnRequest, *, moving: bool, delivered_at: datetime | None, now: datetime
) -> None:
    """The return parcel's tracking: the carrier has it (in transit), and it was delivered to the warehouse
    (noted once on the return and its case, for the receiving team; the scan-in still receives it)."""
    if moving:
        await do_mark_sent(session, ret, actor="carrier", now=now)
    if delivered_at is None:
        return
    noted = await session.scalar(
        select(ReturnEvent.id).where(
            ReturnEvent.tenant_id == ret.tenant_id,
            ReturnEvent.return_id == ret.id,
            ReturnEvent.kind == "parcel_delivered",
        )
    )
    if noted is None:
        await do_record(session, ret, "parcel_delivered", "carrier", at=delivered_at.isoformat())


async def do_cancel(
    session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime | None = None
) -> None:
    """The buyer (or an agent) withdraws a request that has not travelled yet; its exchange is released."""
    now = now or utcnow()
    await do_move(session, ret, ReturnStatus.CANCELLED, actor=actor, now=now)
    await exchanges.do_release_exchange(session, ret, actor=actor)
    ret.resolved_at = now


async def do_sweep_cycle(session: AsyncSession, ret: ReturnRequest, *, now: datetime | None = None) -> bool:
    """The cycle-time job: a return still without money back (or exchange) by `due_at` is marked breached
    and the ticket says so. Re-runnable: a breach is recorded once."""
    now = now or utcnow()
    if ret.resolved_at is not None or ret.breached_at is not None or ret.due_at is None:
        return False
    if as_utc(ret.due_at) > now or ret.status in {ReturnStatus.REJECTED, ReturnStatus.CANCELLED}:
        return False
    ret.breached_at = now
    await do_record(session, ret, "cycle_breached", "sla", due_at=as_utc(ret.due_at).isoformat())
    return True
