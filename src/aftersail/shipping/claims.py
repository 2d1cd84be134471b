"""Delivered, but the buyer says it is not there: the claim workflow. The buyer is answered at once (check
with the neighbours; we asked the carrier), the case opens with the claim's priority, and when the carrier's
investigation window has passed the tenant's policy decides — a reship through allocation (never oversold),
a refund under an idempotency key, or a person for a high-value order. A parcel found meanwhile ends it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, NotFound
from aftersail.kit.i18n import N_, format_day, format_money, translations
from aftersail.kit.outbox import emit, emit_many, schedule_job
from aftersail.kit.validation import Address
from aftersail.orders import service as orders
from aftersail.orders.allocation import do_place_order
from aftersail.orders.models import Order, OrderChannel
from aftersail.orders.schemas import OrderCreate, OrderLineIn
from aftersail.returns.payments import PaymentGateway, RefundOrder
from aftersail.shipping.care import carrier_name, case_for, do_notice, raise_priority
from aftersail.shipping.models import DeliveryClaim, Shipment
from aftersail.shipping.policy import tracking_rules
from aftersail.shipping.rules import (
    ClaimStatus,
    Direction,
    ExceptionKind,
    Status,
    check_claim_move,
    claim_decision,
)
from aftersail.support.messages import do_add_customer_message
from aftersail.support.models import Ticket, TicketStatus

DECIDE_TOPIC = "shipping.claim_due"
REFUND_TOPIC = "shipping.claim_refund"
EVALUATE_TOPIC = "shipping.evaluate"

TEXTS: dict[ClaimStatus, str] = {
    ClaimStatus.WAITING_CARRIER: N_(
        "We are sorry that your parcel for order {order} has not reached you although {carrier} shows it as "
        "delivered. Please check with your neighbours, your building's mailroom and any safe place. We have "
        "asked {carrier} to investigate and will get back to you by {date} at the latest."
    ),
    ClaimStatus.RESHIPPED: N_(
        "We are sending you a replacement for order {order} (new order {replacement}) at no cost. You will "
        "be able to follow it as soon as it ships."
    ),
    ClaimStatus.REFUNDED: N_(
        "We have refunded {amount} for order {order}. Depending on your bank it can take 5 to 10 days to "
        "show."
    ),
    ClaimStatus.FOUND: N_(
        "Good news: your parcel for order {order} has been found. Thank you for your patience."
    ),
    ClaimStatus.NEEDS_PERSON: N_(
        "A member of our team is reviewing your case for order {order} and will contact you within one "
        "business day."
    ),
}


async def access_claim(session: AsyncSession, tenant_id: int, claim_id: int) -> DeliveryClaim:
    claim = await session.get(DeliveryClaim, claim_id)
    if claim is None or claim.tenant_id != tenant_id:
        raise NotFound(f"Claim {claim_id} does not exist.", claim_id=claim_id)
    return claim


async def shipment_claim(session: AsyncSession, shipment: Shipment) -> DeliveryClaim | None:
    return await session.scalar(
        select(DeliveryClaim).where(
            DeliveryClaim.tenant_id == shipment.tenant_id, DeliveryClaim.shipment_id == shipment.id
        )
    )


async def _tell(
    session: AsyncSession,
    claim: DeliveryClaim,
    shipment: Shipment,
    order: Order,
    ticket: Ticket,
    **values: str,
) -> None:
    if ticket.status is TicketStatus.CLOSED:
        return
    customer = await orders.access_customer(session, order.tenant_id, order.customer_id)
    language = customer.preferred_language or ticket.language
    fields = {
        "order": order.number,
        "carrier": carrier_name(shipment.carrier),
        "date": format_day(claim.decide_at, customer.time_zone, language),
        "replacement": "",
        "amount": format_money(claim.refunded_minor or order.total_minor, order.currency, language),
        **values,
    }
    body = translations(language).gettext(TEXTS[claim.status]).format(**fields)
    await do_notice(session, ticket, body, language=language, now=utcnow())


async def do_report_missing(
    session: AsyncSession, shipment: Shipment, *, note: str, actor: str, now: datetime
) -> DeliveryClaim:
    """The buyer (or an agent for them) says the delivered parcel is not there. Once per parcel: asking
    again, even at the same moment from two requests, returns the claim made the first time."""
    tenant_id, shipment_id = shipment.tenant_id, shipment.id
    existing = await shipment_claim(session, shipment)
    if existing is not None:
        return existing
    if shipment.direction is not Direction.OUTBOUND or shipment.status is not Status.DELIVERED:
        raise Conflict(
            "Only a parcel the carrier shows as delivered can be reported missing.", field="shipment"
        )
    rules = await tracking_rules(session, tenant_id)
    claim = DeliveryClaim(
        tenant_id=tenant_id,
        shipment_id=shipment_id,
        status=ClaimStatus.WAITING_CARRIER,
        buyer_note=note.strip()[:2000],
        decide_at=now + timedelta(days=rules.claim_wait_days),
    )
    try:
        async with session.begin_nested():  # the claim first: a concurrent report stops here
            session.add(claim)
            await session.flush()
    except IntegrityError:
        # Another request made the claim meanwhile (its row committed first); the rollback expired the
        # session's rows, so the claim is read by its keys.
        first = await session.scalar(
            select(DeliveryClaim).where(
                DeliveryClaim.tenant_id == tenant_id, DeliveryClaim.shipment_id == shipment_id
            )
        )
        assert first is not None
        return first
    order = await orders.access_order(session, tenant_id, shipment.order_id)
    customer = await orders.access_customer(session, tenant_id, shipment.customer_id)
    ticket = await case_for(
        session,
        order,
        customer,
        subject=f"Delivered but not received — order {order.number}",
        category="missing_item",
        now=now,
    )
    await raise_priority(session, ticket, rules.priority(ExceptionKind.NOT_RECEIVED), now=now)
    claim.ticket_id = ticket.id
    shipment.buyer_says_missing_at = now
    await session.flush()
    if note.strip() and ticket.status is not TicketStatus.CLOSED:
        await do_add_customer_message(
            session,
            ticket,
            body=note.strip()[:2000],
            channel=ticket.channel,
            author_name=customer.name,
            now=now,
        )
    await _tell(session, claim, shipment, order, ticket)
    await schedule_job(
        session,
        DECIDE_TOPIC,
        {"claim_id": claim.id},
        claim.decide_at,
        tenant_id,
        dedupe_key=f"shipping.claim:{tenant_id}:{claim.id}",
    )
    # No new event, but the buyer's word changes the verdict: evaluated even if up to date.
    await emit_many(
        session, [(EVALUATE_TOPIC, {"shipment_id": shipment_id, "force": True})], tenant_id=tenant_id
    )
    return claim


async def _context(session: AsyncSession, claim: DeliveryClaim) -> tuple[Shipment, Order, Ticket | None]:
    shipment = await session.get(Shipment, claim.shipment_id)
    assert shipment is not None and shipment.tenant_id == claim.tenant_id
    order = await orders.access_order(session, claim.tenant_id, shipment.order_id)
    ticket = await session.get(Ticket, claim.ticket_id) if claim.ticket_id else None
    return shipment, order, ticket


async def do_decide_claim(session: AsyncSession, claim: DeliveryClaim, *, now: datetime) -> DeliveryClaim:
    """The carrier's window has passed: the tenant's policy decides. A claim already decided stays as it is
    (the job may run twice)."""
    if claim.status is not ClaimStatus.WAITING_CARRIER or now < claim.decide_at:
        return claim
    shipment, order, _ = await _context(session, claim)
    rules = await tracking_rules(session, claim.tenant_id)
    return await do_resolve_claim(
        session, claim, claim_decision(rules, order.total_minor), actor="tracking", now=now, shipment=shipment
    )


async def do_resolve_claim(
    session: AsyncSession,
    claim: DeliveryClaim,
    target: ClaimStatus,
    *,
    actor: str,
    now: datetime,
    shipment: Shipment | None = None,
) -> DeliveryClaim:
    """Move the claim (a person, or the policy at the window's end): a reship places a replacement order at
    no charge through allocation; a refund is queued once under the claim's key; the buyer is told."""
    claim.status = check_claim_move(claim.status, target)
    claim.decided_at = now
    claim.outcome_note = f"{target.value} by {actor}"[:500]
    shipment, order, ticket = await _context(session, claim)
    values: dict[str, str] = {}
    if target is ClaimStatus.RESHIPPED:
        replacement = await _reship(session, claim, order, actor=actor)
        values["replacement"] = replacement.number
    elif target is ClaimStatus.REFUNDED:
        claim.refunded_minor = order.total_minor
        await emit(session, REFUND_TOPIC, {"claim_id": claim.id}, tenant_id=claim.tenant_id)
    await session.flush()
    if ticket is not None:
        await _tell(session, claim, shipment, order, ticket, **values)
    return claim


async def _reship(session: AsyncSession, claim: DeliveryClaim, order: Order, *, actor: str) -> Order:
    lines = await orders.order_lines(session, order.tenant_id, order.id)
    replacement = await do_place_order(
        session,
        order.tenant_id,
        OrderCreate(
            number=f"{order.number}-R{claim.id}"[-40:],
            customer_id=order.customer_id,
            channel=OrderChannel.API,
            currency=order.currency,
            lines=[
                OrderLineIn(sku_id=line.sku_id, quantity=line.quantity, unit_price_minor=0)
                for line, _ in lines
            ],
            shipping_address=Address.model_validate(order.shipping_address),
            external_ref=f"reship:claim:{claim.id}",
        ),
        actor=actor,
    )
    claim.replacement_order_id = replacement.id
    return replacement


async def do_send_claim_refund(session: AsyncSession, claim: DeliveryClaim, gateway: PaymentGateway) -> str:
    """The job: the money back under the claim's own key (a retry, or the job running twice, pays once: the
    provider answers a repeated key from its cache)."""
    if claim.status is not ClaimStatus.REFUNDED or claim.refunded_minor <= 0:
        return "skipped"
    _, order, _ = await _context(session, claim)
    receipt = await gateway.refund(
        RefundOrder(
            idempotency_key=f"claim-{claim.tenant_id}-{claim.id}",
            payment_ref=order.external_ref or f"order:{order.number}",
            amount_minor=claim.refunded_minor,
            currency=order.currency,
            reason="requested_by_customer",
            metadata={"claim": str(claim.id), "order": order.number},
        )
    )
    claim.outcome_note = f"refund {receipt.provider} {receipt.provider_refund_id} {receipt.status}"[:500]
    return receipt.status
