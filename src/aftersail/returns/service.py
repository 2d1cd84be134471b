"""Use cases of returns: what a buyer may send back, a request decided by the tenant's policy (and, when the
policy asks, by a person), routed to the nearest warehouse that takes it, with a label, an exchange reserved
through allocation, the buyer told in their language and the linked ticket given every step.

Writers here flush and never commit (the request or job owns the transaction). The buyer's request locks its
order row (`orders.changes.lock_order`) so that two requests cannot both send back the same units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Sku, Warehouse, WarehouseCapability
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import Conflict, InvalidInput, NotFound
from aftersail.kit.outbox import schedule_job
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, Order, OrderLine, OrderStatus
from aftersail.returns import economics, notices
from aftersail.returns.carriers import ReturnBooking, carrier_for
from aftersail.returns.models import ReturnEvent, ReturnEvidence, ReturnLine, ReturnRequest
from aftersail.returns.policy import return_policy
from aftersail.returns.rules import (
    Decision,
    Evidence,
    Outcome,
    Reason,
    Resolution,
    ReturnFacts,
    ReturnPolicy,
    ReturnSite,
    ReturnStatus,
    Route,
    decide_return,
    route_return,
    transition,
    wear_and_return,
)
from aftersail.returns.rules import ReturnLine as FactLine
from aftersail.support import attachments as files
from aftersail.support import service as tickets
from aftersail.support.audit import record
from aftersail.support.messages import do_add_customer_message
from aftersail.support.models import Channel, Ticket

CYCLE_DUE_TOPIC = "returns.cycle_due"
OPEN_STATUSES = frozenset(
    {
        ReturnStatus.REQUESTED,
        ReturnStatus.APPROVED,
        ReturnStatus.IN_TRANSIT,
        ReturnStatus.RECEIVED,
        ReturnStatus.GRADED,
        ReturnStatus.KEEP_REFUNDED,
        ReturnStatus.REFUNDED,
        ReturnStatus.EXCHANGED,
        ReturnStatus.CLOSED,
    }
)  # statuses whose units count as asked back (rejected and cancelled requests free them)
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_VIDEO_BYTES = 50 * 1024 * 1024
MAX_UPLOADS = 6


class ReturnNotAllowed(InvalidInput):
    """A request the policy cannot take at all (nothing returnable, more than was delivered)."""


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes
    content_type: str  # sniffed by the caller (support.attachments.check_upload)

    @property
    def evidence(self) -> Evidence:
        return Evidence.VIDEO if self.content_type.startswith("video/") else Evidence.PHOTO


@dataclass(frozen=True, slots=True)
class LineAsk:
    order_line_id: int
    quantity: int
    exchange_sku_id: int | None = None  # the variant wanted instead (exchange); None: the same SKU


@dataclass(frozen=True, slots=True)
class ReturnAsk:
    """What the buyer (or an agent on their behalf) asks for."""

    reason: Reason
    resolution: Resolution
    lines: Sequence[LineAsk]
    sub_reason: str = ""
    note: str = ""
    language: str = "en"
    keep_offer_accepted: bool = False
    uploads: Sequence[Upload] = ()


@dataclass(frozen=True, slots=True)
class Returnable:
    """An order line and how many of its units may still be asked back."""

    line: OrderLine
    sku: Sku
    returnable: int
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class LineFigures:
    order_line_id: int
    keep: bool
    figures: economics.ReturnOrKeep


@dataclass(frozen=True, slots=True)
class Plan:
    """A request's decision, return-or-keep figures and route, before anything is stored (the buyer page
    shows it before submitting; `do_request_return` stores it)."""

    facts: ReturnFacts
    decision: Decision
    route: Route
    lines: tuple[LineFigures, ...]
    signals: dict[str, Any] = field(default_factory=dict)
    items: dict[int, Returnable] = field(default_factory=dict)  # the order's lines, by id, as planned

    @property
    def keeps_all(self) -> bool:
        eligible = {line.order_line_id for line in self.decision.lines if line.eligible}
        return self.facts.keep_offer_accepted or all(
            figure.keep for figure in self.lines if figure.order_line_id in eligible
        )


# --- reading -----------------------------------------------------------------------------------------------


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


def delivered_at(order: Order) -> datetime | None:
    """When the order was delivered: its last status change once it is delivered (tracking events, when they
    arrive, are the better source; ADR 0020)."""
    if order.status is not OrderStatus.DELIVERED:
        return None
    return as_utc(order.updated_at)


async def returnable_lines(session: AsyncSession, order: Order) -> list[Returnable]:
    """Each line of a delivered order with the units not yet asked back by an open return."""
    lines = await orders.order_lines(session, order.tenant_id, order.id)
    asked = dict(
        (
            await session.execute(
                select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
                .join(
                    ReturnRequest,
                    (ReturnRequest.id == ReturnLine.return_id) & (ReturnRequest.tenant_id == order.tenant_id),
                )
                .where(
                    ReturnRequest.tenant_id == order.tenant_id,
                    ReturnRequest.order_id == order.id,
                    ReturnRequest.status.in_([s.value for s in OPEN_STATUSES]),
                    ReturnLine.eligible.is_(True),
                )
                .group_by(ReturnLine.order_line_id)
            )
        ).all()
    )
    batches = await orders.shipped_batches(session, order.tenant_id, order.id)
    delivered = order.status is OrderStatus.DELIVERED
    return [
        Returnable(
            line, sku, (line.quantity if delivered else 0) - int(asked.get(line.id, 0)), batches.get(line.id)
        )
        for line, sku in lines
    ]


# --- deciding ----------------------------------------------------------------------------------------------


async def plan_return(
    session: AsyncSession,
    order: Order,
    ask: ReturnAsk,
    *,
    now: datetime | None = None,
    reused_photo: bool = False,
    policy: ReturnPolicy | None = None,
) -> Plan:
    """The decision this request would get now, with the return-or-keep figures and the route back."""
    now = now or utcnow()
    policy = policy or await return_policy(session, order.tenant_id)
    by_line = {item.line.id: item for item in await returnable_lines(session, order)}
    if not ask.lines:
        raise ReturnNotAllowed("Choose at least one item to return.", field="lines")
    fact_lines = []
    for wanted in ask.lines:
        item = by_line.get(wanted.order_line_id)
        if item is None:
            raise ReturnNotAllowed("That item is not part of this order.", field="lines")
        fact_lines.append(
            FactLine(
                item.line.id,
                item.sku.code,
                item.sku.category,
                wanted.quantity,
                max(item.returnable, 0),
                item.line.unit_price_minor,
            )
        )
    history = await _returns_since(session, order.tenant_id, order.customer_id, now - timedelta(days=180))
    facts = ReturnFacts(
        market=order.country,
        delivered_at=delivered_at(order),
        requested_at=now,
        reason=ask.reason,
        resolution=ask.resolution,
        lines=fact_lines,
        evidence=frozenset(upload.evidence for upload in ask.uploads),
        returns_last_180_days=history,
        reused_photo=reused_photo,
        keep_offer_accepted=ask.keep_offer_accepted,
    )
    decision = decide_return(policy, facts)
    sites = await _return_sites(session, order)
    categories = [
        line.category for line, verdict in zip(fact_lines, decision.lines, strict=True) if verdict.eligible
    ]
    route = route_return(policy, sites, categories or [line.category for line in fact_lines])
    figures = _figures(policy, facts, decision, route)
    signals: dict[str, Any] = {}
    if history:
        signals["returns_last_180_days"] = history
    if history >= policy.repeat_returner_after:
        signals["serial_returner"] = True
    if reused_photo:
        signals["reused_photo"] = True
    worn = [
        line.sku
        for line in fact_lines
        if wear_and_return(line.category, ask.reason, facts.delivered_at, now, decision.window_ends_at)
    ]
    if worn:
        signals["wear_and_return"] = worn
    return Plan(facts, decision, route, figures, signals, by_line)


def _figures(
    policy: ReturnPolicy, facts: ReturnFacts, decision: Decision, route: Route
) -> tuple[LineFigures, ...]:
    """Return or keep per line: the freight back is the route's lane cost shared across the units."""
    units = sum(
        line.quantity for line, verdict in zip(facts.lines, decision.lines, strict=True) if verdict.eligible
    )
    freight = route.site.freight_minor if route.site and route.site.freight_minor is not None else None
    shown = []
    for line, verdict in zip(facts.lines, decision.lines, strict=True):
        value = line.unit_price_minor * line.quantity
        share = (freight or 0) * line.quantity // max(units, 1)
        result = economics.return_or_keep(
            item_price_minor=value,
            reverse_freight_minor=share,
            handling_minor=policy.handling_minor * line.quantity,
            duties_lost_minor=value * policy.duties_lost_percent // 100,
        )
        keep = facts.keep_offer_accepted or (
            policy.offer_returnless and verdict.eligible and result.choice is economics.Choice.KEEP
        )
        if route.site is None and verdict.eligible:
            keep = True  # nowhere takes it back: refunding without a return is the only way
        shown.append(LineFigures(line.order_line_id, keep, result))
    return tuple(shown)


async def _returns_since(session: AsyncSession, tenant_id: int, customer_id: int, since: datetime) -> int:
    counted = await session.scalar(
        select(func.count(ReturnRequest.id)).where(
            ReturnRequest.tenant_id == tenant_id,
            ReturnRequest.customer_id == customer_id,
            ReturnRequest.requested_at >= since,
            ReturnRequest.status.not_in([ReturnStatus.CANCELLED.value, ReturnStatus.REJECTED.value]),
        )
    )
    return int(counted or 0)


async def _return_sites(session: AsyncSession, order: Order) -> list[ReturnSite]:
    warehouses = await catalog.list_warehouses(session, order.tenant_id)
    lanes = {
        lane.warehouse_id: lane
        for lane in await catalog.list_lanes(session, order.tenant_id, country=order.country)
    }
    sites = []
    for warehouse in warehouses:
        if not warehouse.is_active or WarehouseCapability.RETURNS.value not in (warehouse.capabilities or []):
            continue
        lane = lanes.get(warehouse.id)
        sites.append(
            ReturnSite(
                warehouse.id,
                warehouse.code,
                warehouse.name,
                lane.transit_days_median if lane else None,
                lane.cost_minor if lane and lane.currency == order.currency else None,
            )
        )
    return sites


# --- requesting --------------------------------------------------------------------------------------------


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
    from aftersail.orders.changes import lock_order  # the order row serialises requests on its units

    await lock_order(session, order)
    earlier = await _by_submission(session, order, submission_key)
    if earlier is not None:
        return earlier
    _check_uploads(ask.uploads)
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
    from aftersail.assistant.photo_checks import do_check_photos  # fingerprints decide "reused photo"

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


def _check_uploads(uploads: Sequence[Upload]) -> None:
    if len(uploads) > MAX_UPLOADS:
        raise InvalidInput(f"Send at most {MAX_UPLOADS} photos or videos.", field="files")
    for upload in uploads:
        if upload.content_type in VIDEO_TYPES:
            limit = MAX_VIDEO_BYTES
        elif upload.content_type in PHOTO_TYPES:
            limit = MAX_PHOTO_BYTES
        else:
            raise InvalidInput(
                "Send photos (JPEG, PNG, WebP) or short videos (MP4, MOV, WebM).", field="files"
            )
        if len(upload.data) > limit:
            raise InvalidInput(
                f"{upload.filename} is larger than {limit // (1024 * 1024)} MB.", field="files"
            )


async def _message_attachments(session: AsyncSession, ticket: Ticket, message_id: int) -> list[int]:
    from aftersail.support.models import Attachment

    rows = await session.scalars(
        select(Attachment.id).where(
            Attachment.tenant_id == ticket.tenant_id, Attachment.message_id == message_id
        )
    )
    return list(rows.all())


async def _case_ticket(
    session: AsyncSession, order: Order, customer: Customer, language: str, *, actor: str, now: datetime
) -> Ticket:
    """The open case about this order (the chat where the buyer asked, say), or a new e-mail case: the buyer
    gave their address on the returns page and hears of each step there."""
    found = await tickets.find_open_ticket_for_order(session, order.tenant_id, order.id)
    if found is not None:
        return found
    return await tickets.do_open_ticket(
        session,
        order.tenant_id,
        customer_id=customer.id,
        channel=Channel.EMAIL,
        subject=f"Return request — order {order.number}",
        language=language,
        category="return",
        order_id=order.id,
        actor=actor,
        now=now,
    )


# --- moving on ---------------------------------------------------------------------------------------------


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


async def do_approve(
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    actor: str,
    files_dir: Path,
    plan: Plan | None = None,
    now: datetime | None = None,
) -> ReturnRequest:
    """Act on an approval: a returnless refund when nothing is worth bringing back, else the route, the label,
    and the exchange reserved (shipped at once for a trusted buyer)."""
    from aftersail.returns import exchanges, refunds  # they call back into this module

    now = now or utcnow()
    ret.decided_at = now
    order = await orders.access_order(session, ret.tenant_id, ret.order_id)
    lines = await return_lines(session, ret)
    if ret.keep_item or all(line.keep for line, _ in lines if line.eligible):
        ret.keep_item = True
        await do_move(session, ret, ReturnStatus.KEEP_REFUNDED, actor=actor, now=now)
        await notices.do_tell_buyer(session, ret, notices.Notice.KEEP_REFUNDED, now=now)
        await refunds.do_request_refund(session, ret, actor=actor, now=now)
        return ret
    await do_move(session, ret, ReturnStatus.APPROVED, actor=actor, now=now)
    route = (
        plan.route
        if plan
        else (await plan_return(session, order, await _ask_again(session, ret), now=now)).route
    )
    if route.site is None:
        raise Conflict("No warehouse takes this return back.", return_id=ret.id)
    warehouse = await catalog.access_warehouse(session, ret.tenant_id, route.site.warehouse_id)
    ret.warehouse_id = warehouse.id
    ret.routing_reason = route.reason[:300]
    ret.reverse_freight_minor = route.site.freight_minor or 0
    await _book_label(session, ret, order, warehouse, lines, files_dir=files_dir, now=now)
    await do_record(
        session,
        ret,
        "routed",
        actor,
        warehouse=warehouse.code,
        reason=route.reason,
        carrier=ret.carrier,
        tracking_number=ret.tracking_number,
    )
    if ret.resolution in {Resolution.EXCHANGE, Resolution.REPLACEMENT, Resolution.REPAIR}:
        await exchanges.do_reserve_exchange(session, ret, order, lines, actor=actor, now=now)
    await notices.do_tell_buyer(session, ret, notices.Notice.APPROVED, now=now)
    return ret


async def _ask_again(session: AsyncSession, ret: ReturnRequest) -> ReturnAsk:
    lines = await return_lines(session, ret)
    return ReturnAsk(
        reason=ret.reason,
        resolution=ret.resolution,
        lines=[LineAsk(line.order_line_id, line.quantity, line.exchange_sku_id) for line, _ in lines],
        language=ret.language,
    )


async def _book_label(
    session: AsyncSession,
    ret: ReturnRequest,
    order: Order,
    warehouse: Warehouse,
    lines: list[tuple[ReturnLine, Sku]],
    *,
    files_dir: Path,
    now: datetime,
) -> None:
    """Book the way back with the tenant's carrier (the built-in self-managed one by default) and keep the
    label PDF beside the case's files. A self-managed booking is local and repeatable; a remote carrier's
    booking keys on the RMA number, so a retried request gets the same parcel."""
    customer = await orders.access_customer(session, ret.tenant_id, ret.customer_id)
    address = {str(k): str(v) for k, v in (order.shipping_address or {}).items()}
    carrier = carrier_for("self_managed")
    booked = await carrier.book_return(
        ReturnBooking(
            rma_number=ret.rma_number,
            from_name=customer.name,
            from_address=address,
            to_name=warehouse.name,
            to_address={str(k): str(v) for k, v in (warehouse.address or {}).items()},
            to_country=warehouse.country,
            weight_grams=sum(
                sku.weight_grams * line.quantity for line, sku in lines if line.eligible and not line.keep
            ),
            lines=tuple(
                (sku.code, sku.title, line.quantity) for line, sku in lines if line.eligible and not line.keep
            ),
            qr_payload=ret.rma_number,
            created_at=now,
        )
    )
    ret.carrier = booked.carrier
    ret.tracking_number = booked.tracking_number
    if booked.cost_minor is not None and booked.currency == ret.currency:
        ret.reverse_freight_minor = booked.cost_minor
    if ret.ticket_id is not None:
        ticket = await tickets.access_ticket(session, ret.tenant_id, ret.ticket_id)
        stored = await files.do_store_attachment(
            session,
            ticket,
            filename=f"{ret.rma_number}-label.pdf",
            data=booked.label_pdf,
            content_type="application/pdf",
            files_dir=files_dir,
        )
        ret.label_sha256 = stored.sha256
    else:
        import hashlib

        ret.label_sha256 = hashlib.sha256(booked.label_pdf).hexdigest()
        files._write_once(files.blob_path(files_dir, ret.label_sha256), booked.label_pdf)
    ret.handling_minor = (await return_policy(session, ret.tenant_id)).handling_minor * sum(
        line.quantity for line, _ in lines if line.eligible and not line.keep
    )


async def do_review(
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    approve: bool,
    actor: str,
    note: str = "",
    files_dir: Path,
    now: datetime | None = None,
) -> ReturnRequest:
    """A person decides a request the policy sent for review; the decision and its note are audited."""
    now = now or utcnow()
    if ret.status is not ReturnStatus.REQUESTED:
        raise Conflict(f"Return {ret.rma_number} is {ret.status.value}; only a requested return is reviewed.")
    await do_record(session, ret, "reviewed", actor, approve=approve, note=note[:500])
    if approve:
        return await do_approve(session, ret, actor=actor, files_dir=files_dir, now=now)
    ret.decided_at = now
    await do_move(session, ret, ReturnStatus.REJECTED, actor=actor, now=now)
    await notices.do_tell_buyer(session, ret, notices.Notice.REJECTED, now=now, why=note)
    return ret


async def do_mark_sent(
    session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime | None = None
) -> bool:
    """The buyer handed the parcel over: the return is in transit (a second click changes nothing). A
    carrier's tracking events move it the same way once shipments are tracked."""
    if ret.status is not ReturnStatus.APPROVED:
        return False
    await do_move(session, ret, ReturnStatus.IN_TRANSIT, actor=actor, now=now or utcnow())
    return True


async def do_cancel(
    session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime | None = None
) -> None:
    """The buyer (or an agent) withdraws a request that has not travelled yet; its exchange is released."""
    from aftersail.returns import exchanges

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
