"""Proactive care: when the rules find trouble on a parcel, the buyer hears it from us first — in their
language, with the new date and what they can do — on the order's case (a new e-mail case when there is
none), the case gets the exception's priority and its SLA clocks, the agents get a note with the facts, and
the seller's own endpoint is told (signed JSON) when one is set.

Each exception is acted on once per opening: found again after it cleared, it is news again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel import Locale
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.i18n import N_, format_day, translations
from aftersail.kit.outbox import emit
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, Order
from aftersail.shipping.models import Shipment, ShipmentException
from aftersail.shipping.rules import Direction, ExceptionKind, Finding, TrackingRules
from aftersail.support import service as tickets
from aftersail.support.messages import do_reply
from aftersail.support.models import AuthorKind, Priority, Ticket, TicketStatus
from aftersail.tenants.links import BuyerGrant, BuyerLinkSigner, LinkScope

NOTIFY_TOPIC = "shipping.notify_seller"

# What the buyer reads, per exception: what happened, the new date, what they can do.
TEXTS: dict[ExceptionKind, str] = {
    ExceptionKind.CUSTOMS_HOLD: N_(
        "Your parcel for order {order} is being held by customs in {country}. We are working with {carrier} "
        "to have it released; it is now expected on {date}. If customs contacts you for a document or an "
        "ID, reply to this message and we will help you. Follow your parcel: {link}"
    ),
    ExceptionKind.DUTIES_DUE: N_(
        "Import charges are due on your parcel for order {order} before {carrier} can deliver it. You can "
        "pay them with {carrier} using tracking number {tracking}; if you did not expect to pay, reply to "
        "this message and we will sort it out. Once they are paid it is expected on {date}. Follow your "
        "parcel: {link}"
    ),
    ExceptionKind.STALLED: N_(
        "Your parcel for order {order} has not moved for {days} days. We have asked {carrier} to look into "
        "it; it is now expected on {date}. If it has not arrived by then, we will send a replacement or "
        "refund you — just reply to this message. Follow your parcel: {link}"
    ),
    ExceptionKind.FAILED_ATTEMPTS: N_(
        "{carrier} tried to deliver your parcel for order {order} {attempts} times without finding anyone. "
        "You can arrange a new delivery or collect it with tracking number {tracking}, or reply with a "
        "better address or time. Follow your parcel: {link}"
    ),
    ExceptionKind.RETURNED_TO_SENDER: N_(
        "{carrier} is sending your parcel for order {order} back to us. Reply to this message to tell us "
        "whether you would like it sent again or your money back."
    ),
    ExceptionKind.LOST: N_(
        "{carrier} has told us that your parcel for order {order} is lost. We are sorry: reply to this "
        "message to choose between a replacement and a refund."
    ),
    ExceptionKind.DAMAGED: N_(
        "{carrier} has told us that your parcel for order {order} was damaged on the way. We will send a "
        "replacement or refund you: reply to this message with your choice (and a photo if it reaches you)."
    ),
    ExceptionKind.ADDRESS_ISSUE: N_(
        "{carrier} cannot deliver your parcel for order {order} because of a problem with the address. "
        "Please reply with your full address (street and number, postcode, city) so that we can correct it."
    ),
    ExceptionKind.ETA_SLIPPED: N_(
        "Your parcel for order {order} is running late: it is now expected on {date} instead of {promised}. "
        "We are keeping an eye on it. Follow your parcel: {link}"
    ),
}
# What the agents read on the case (an internal note), in the console's words.
AGENT_NOTES: dict[ExceptionKind, str] = {
    ExceptionKind.CUSTOMS_HOLD: "Customs hold for {days_held} days",
    ExceptionKind.DUTIES_DUE: "Import duties due (buyer must pay before delivery)",
    ExceptionKind.STALLED: "No carrier scan for {days_without_scan} days",
    ExceptionKind.FAILED_ATTEMPTS: "{attempts} failed delivery attempts",
    ExceptionKind.RETURNED_TO_SENDER: "Carrier is returning the parcel to sender",
    ExceptionKind.LOST: "Carrier reports the parcel lost",
    ExceptionKind.DAMAGED: "Carrier reports the parcel damaged",
    ExceptionKind.ADDRESS_ISSUE: "Carrier reports an address problem",
    ExceptionKind.ETA_SLIPPED: "Expected date slipped by {days_late} days",
    ExceptionKind.NOT_RECEIVED: "Buyer says the parcel was delivered but is not there",
}
# Buyer-facing carrier names (the slug otherwise).
CARRIERS = {
    "dhl": "DHL",
    "dpd": "DPD",
    "ups": "UPS",
    "usps": "USPS",
    "fedex": "FedEx",
    "royal-mail": "Royal Mail",
    "aramex": "Aramex",
    "yamato": "Yamato",
    "japan-post": "Japan Post",
    "gls": "GLS",
    "hermes": "Hermes",
    "colissimo": "Colissimo",
}


@dataclass(frozen=True, slots=True)
class Links:
    """How a notice links to the buyer's tracking page (signed, expiring)."""

    signer: BuyerLinkSigner
    base_url: str

    def tracking(self, tenant_id: int, order_id: int) -> str:
        token = self.signer.sign(BuyerGrant(tenant_id, LinkScope.ORDER, order_id))
        return f"{self.base_url.rstrip('/')}/track/{token}"


def carrier_name(slug: str) -> str:
    return CARRIERS.get(slug, slug.replace("-", " ").title() if slug else "-")


def country_name(code: str, language: str) -> str:
    try:
        return Locale.parse(language).territories.get(code.upper(), code)
    except (ValueError, TypeError):
        return code


def buyer_text(
    kind: ExceptionKind,
    language: str,
    *,
    shipment: Shipment,
    order: Order,
    customer: Customer,
    details: dict[str, Any],
    link: str,
) -> str:
    """The notice for `kind` in `language`, dates in the buyer's zone."""
    zone = customer.time_zone
    values = {
        "order": order.number,
        "country": country_name(shipment.country, language),
        "carrier": carrier_name(shipment.carrier),
        "tracking": shipment.tracking_number,
        "date": format_day(shipment.eta, zone, language) if shipment.eta else "-",
        "promised": format_day(shipment.promised_eta, zone, language) if shipment.promised_eta else "-",
        "days": f"{details.get('days_without_scan', '')}",
        "attempts": f"{details.get('attempts', shipment.failed_attempts)}",
        "link": link,
    }
    return translations(language).gettext(TEXTS[kind]).format(**values)


def agent_note(kind: ExceptionKind, details: dict[str, Any], shipment: Shipment) -> str:
    head = AGENT_NOTES[kind].format_map(
        {"days_held": "?", "days_without_scan": "?", "attempts": "?", "days_late": "?", **details}
    )
    status = shipment.status.value + (f"/{shipment.sub_status.value}" if shipment.sub_status.value else "")
    parcel = f"{carrier_name(shipment.carrier)} {shipment.tracking_number}"
    return f"[tracking] {head}. Parcel {parcel}, status {status}."


async def case_for(
    session: AsyncSession, order: Order, customer: Customer, *, subject: str, category: str, now: datetime
) -> Ticket:
    """The order's open case (where the buyer last wrote), or a new e-mail case about the parcel."""
    return await tickets.do_open_order_case(
        session,
        order.tenant_id,
        order_id=order.id,
        customer_id=customer.id,
        subject=subject,
        language=customer.preferred_language,
        category=category,
        actor="tracking",
        now=now,
    )


async def do_notice(
    session: AsyncSession, ticket: Ticket, body: str, *, language: str, now: datetime, internal: bool = False
) -> None:
    """A system message on the case: to the buyer (it stops no SLA clock), or an internal note for agents."""
    await do_reply(
        session,
        ticket,
        author=None,
        author_kind=AuthorKind.SYSTEM,
        body=body,
        language=language,
        internal=internal,
        status_after=None,
        now=now,
    )


async def raise_priority(session: AsyncSession, ticket: Ticket, priority: str, *, now: datetime) -> None:
    """The case takes the exception's priority when that is more urgent than what it has (p1 < p2 …)."""
    wanted = Priority(priority)
    if wanted.value < ticket.priority.value:
        await tickets.do_set_priority(session, ticket, wanted, actor="tracking", now=now)


async def do_take_care(
    session: AsyncSession,
    shipment: Shipment,
    row: ShipmentException,
    finding: Finding,
    rules: TrackingRules,
    *,
    links: Links | None,
    now: datetime,
) -> None:
    """Act on a newly opened exception: tell the buyer, open or raise the case, note the facts, tell the
    seller's endpoint. A return parcel's trouble is the seller's: a case and a note, no buyer notice."""
    order = await orders.access_order(session, shipment.tenant_id, shipment.order_id)
    customer = await orders.access_customer(session, shipment.tenant_id, shipment.customer_id)
    ticket = await case_for(
        session,
        order,
        customer,
        subject=f"Parcel {shipment.tracking_number} — order {order.number}",
        category="where_is_my_order",
        now=now,
    )
    await raise_priority(session, ticket, row.priority, now=now)
    row.ticket_id = ticket.id
    details = dict(finding.details)
    if ticket.status is not TicketStatus.CLOSED:
        await do_notice(
            session,
            ticket,
            agent_note(finding.kind, details, shipment),
            language="en",
            now=now,
            internal=True,
        )
    if (
        shipment.direction is Direction.OUTBOUND
        and finding.kind in TEXTS
        and ticket.status is not TicketStatus.CLOSED
    ):
        language = customer.preferred_language or ticket.language
        link = links.tracking(shipment.tenant_id, order.id) if links else "-"
        body = buyer_text(
            finding.kind,
            language,
            shipment=shipment,
            order=order,
            customer=customer,
            details=details,
            link=link,
        )
        await do_notice(session, ticket, body, language=language, now=now)
        row.notified_at = now
    if rules.notify_webhook_url:
        await emit(
            session,
            NOTIFY_TOPIC,
            {
                "type": "shipment.exception",
                "exception": finding.kind.value,
                "priority": row.priority,
                "details": details,
                "order": order.number,
                "tracking_number": shipment.tracking_number,
                "carrier": shipment.carrier,
                "status": shipment.status.value,
                "sub_status": shipment.sub_status.value,
                "eta": shipment.eta.isoformat() if shipment.eta else None,
                "ticket_id": ticket.id,
                "occurred_at": now.isoformat(),
            },
            tenant_id=shipment.tenant_id,
        )


async def do_apply_findings(
    session: AsyncSession,
    shipment: Shipment,
    findings: list[Finding],
    rules: TrackingRules,
    *,
    links: Links | None,
    now: datetime,
) -> list[ShipmentException]:
    """Open (or reopen) a row per finding and act on the new ones; close the rows no longer found. Returns
    the rows opened by this call."""
    rows = {
        row.kind: row
        for row in (
            await session.scalars(
                select(ShipmentException).where(
                    ShipmentException.tenant_id == shipment.tenant_id,
                    ShipmentException.shipment_id == shipment.id,
                )
            )
        ).all()
    }
    opened: list[ShipmentException] = []
    for finding in findings:
        row = rows.get(finding.kind)
        if row is None:
            row = ShipmentException(
                tenant_id=shipment.tenant_id,
                shipment_id=shipment.id,
                kind=finding.kind,
                details=dict(finding.details),
                priority=rules.priority(finding.kind),
                opened_at=now,
            )
            session.add(row)
            rows[finding.kind] = row
        elif row.resolved_at is not None:
            row.resolved_at = None
            row.opened_at = now
            row.notified_at = None
            row.times_opened += 1
            row.details = dict(finding.details)
        else:
            row.details = dict(finding.details)
            continue
        opened.append(row)
    await session.flush()
    found = {finding.kind for finding in findings}
    for kind, row in rows.items():
        if kind not in found and row.resolved_at is None:
            row.resolved_at = now
    shipment.open_exceptions = sorted(kind.value for kind in found)
    for row in opened:
        if row.kind is ExceptionKind.NOT_RECEIVED:
            continue  # the claim (claims.py) tells the buyer and opens the case
        finding = next(f for f in findings if f.kind is row.kind)
        await do_take_care(session, shipment, row, finding, rules, links=links, now=now)
    await session.flush()
    return opened
