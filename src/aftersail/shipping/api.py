"""Shipping API: record an allocation's parcel (the warehouse ships it), read a parcel with its events, report
a delivered parcel missing, resolve a claim, and the tenant's tracking rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field
from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.validation import Out, PathId, Strict
from aftersail.orders import service as orders
from aftersail.shipping import claims, service
from aftersail.shipping.models import DeliveryClaim, Shipment, ShipmentException
from aftersail.shipping.policy import do_set_tracking_rules, rules_as_settings, tracking_rules
from aftersail.shipping.rules import ClaimStatus, Direction, ExceptionKind, Status, SubStatus, TrackingRules
from aftersail.web.deps import OrderWriter, Reader, SessionDep, StockWriter, TenantAdmin

router = APIRouter(tags=["shipping"])


class ShipIn(Strict):
    allocation_id: int = Field(gt=0)
    carrier: str = Field(
        min_length=1, max_length=64, description="The carrier's slug: dhl, ups, royal-mail …"
    )
    tracking_number: str = Field(min_length=1, max_length=80)
    shipped_at: datetime | None = Field(default=None, description="When it was handed over (default now)")


class ShipmentOut(Out):
    id: int
    direction: Direction
    order_id: int
    allocation_id: int | None
    return_id: int | None
    warehouse_id: int
    country: str
    carrier: str
    tracking_number: str
    status: Status
    sub_status: SubStatus
    shipped_at: datetime
    last_event_at: datetime | None
    delivered_at: datetime | None
    failed_attempts: int
    promised_eta: datetime | None
    eta: datetime | None
    eta_latest: datetime | None
    open_exceptions: list[ExceptionKind]


class TrackingEventOut(Out):
    occurred_at: datetime
    received_at: datetime
    status: Status
    sub_status: SubStatus
    description: str
    location: str
    source: str
    raw: dict[str, Any]


class ExceptionOut(Out):
    kind: ExceptionKind
    priority: str
    details: dict[str, Any]
    opened_at: datetime
    resolved_at: datetime | None
    times_opened: int
    notified_at: datetime | None
    ticket_id: int | None


class ClaimOut(Out):
    id: int
    shipment_id: int
    status: ClaimStatus
    buyer_note: str
    decide_at: datetime
    decided_at: datetime | None
    replacement_order_id: int | None
    refunded_minor: int
    ticket_id: int | None


class ShipmentDetailOut(ShipmentOut):
    events: list[TrackingEventOut]
    exceptions: list[ExceptionOut]
    claim: ClaimOut | None


class MissingIn(Strict):
    note: str = Field(default="", max_length=2000)


class ClaimResolveIn(Strict):
    outcome: ClaimStatus = Field(description="found, reshipped or refunded")


async def _detail(session: SessionDep, shipment: Shipment) -> ShipmentDetailOut:
    events = await service.shipment_events(session, shipment)
    exceptions = (
        await session.scalars(
            select(ShipmentException)
            .where(
                ShipmentException.tenant_id == shipment.tenant_id,
                ShipmentException.shipment_id == shipment.id,
            )
            .order_by(ShipmentException.opened_at)
        )
    ).all()
    claim = await claims.shipment_claim(session, shipment)
    return ShipmentDetailOut.model_validate(
        {
            **ShipmentOut.model_validate(shipment).model_dump(),
            "events": [TrackingEventOut.model_validate(event) for event in reversed(events)],
            "exceptions": [ExceptionOut.model_validate(row) for row in exceptions],
            "claim": ClaimOut.model_validate(claim) if claim else None,
        }
    )


@router.post("/shipments", status_code=201, response_model=ShipmentDetailOut)
async def ship_allocation(
    body: ShipIn, response: Response, session: SessionDep, principal: StockWriter
) -> ShipmentDetailOut:
    """The warehouse handed an allocation's parcel to the carrier: its units leave stock, the order is
    shipped once all its parcels are, and the parcel is tracked (events already received for the number are
    claimed). The same allocation and number again answers 200 with the parcel recorded the first time."""
    before = await service.find_shipment(session, principal.tenant_id, body.tracking_number)
    shipment = await service.do_ship_allocation(
        session,
        principal.tenant_id,
        body.allocation_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=principal.actor,
        shipped_at=body.shipped_at,
    )
    if before is not None:
        response.status_code = 200
    return await _detail(session, shipment)


@router.get("/orders/{order_id}/shipments", response_model=list[ShipmentOut])
async def list_order_shipments(order_id: PathId, session: SessionDep, principal: Reader) -> list[ShipmentOut]:
    """The order's parcels, outbound and return, oldest first."""
    await orders.access_order(session, principal.tenant_id, order_id)
    return [
        ShipmentOut.model_validate(s)
        for s in await service.order_shipments(session, principal.tenant_id, order_id)
    ]


@router.get("/shipments/{shipment_id}", response_model=ShipmentDetailOut)
async def get_shipment(shipment_id: PathId, session: SessionDep, principal: Reader) -> ShipmentDetailOut:
    """A parcel with its events newest first (normalized and raw), its exceptions and its claim."""
    return await _detail(session, await service.access_shipment(session, principal.tenant_id, shipment_id))


@router.post("/shipments/{shipment_id}/missing", response_model=ClaimOut)
async def report_missing(
    shipment_id: PathId, body: MissingIn, session: SessionDep, principal: OrderWriter
) -> DeliveryClaim:
    """An agent reports, for the buyer, that a delivered parcel is not there: the claim workflow starts
    (asking again returns the same claim)."""
    shipment = await service.access_shipment(session, principal.tenant_id, shipment_id)
    return await claims.do_report_missing(
        session, shipment, note=body.note, actor=principal.actor, now=utcnow()
    )


@router.post("/claims/{claim_id}/resolve", response_model=ClaimOut)
async def resolve_claim(
    claim_id: PathId, body: ClaimResolveIn, session: SessionDep, principal: OrderWriter
) -> DeliveryClaim:
    """A person decides a claim: found, reshipped (a free replacement order) or refunded (once)."""
    claim = await claims.access_claim(session, principal.tenant_id, claim_id)
    return await claims.do_resolve_claim(session, claim, body.outcome, actor=principal.actor, now=utcnow())


def _shown(rules: TrackingRules) -> dict[str, Any]:
    """The rules as stored, the webhook secret replaced by whether one is set."""
    shown = rules_as_settings(rules)
    shown["notify_webhook_secret_set"] = bool(shown.pop("notify_webhook_secret"))
    return shown


@router.get("/settings/tracking")
async def get_tracking_rules(session: SessionDep, principal: Reader) -> dict[str, Any]:
    """The tenant's exception rules (the webhook secret is never shown; `notify_webhook_secret_set` says
    whether one is stored)."""
    return _shown(await tracking_rules(session, principal.tenant_id))


@router.put("/settings/tracking")
async def put_tracking_rules(
    body: dict[str, Any], session: SessionDep, principal: TenantAdmin
) -> dict[str, Any]:
    """Replace the rules: days before a silent parcel is stalled and a customs hold is an exception, failed
    attempts, ETA allowance, the claim window and outcome, priorities per exception, per-lane limits
    (`"FRA>DE"` or `"DE"`), and the seller's notification endpoint. Omitted fields take their defaults; a
    secret left out keeps the stored one."""
    current = await tracking_rules(session, principal.tenant_id)
    raw = dict(body)
    if "notify_webhook_secret" not in raw:
        raw["notify_webhook_secret"] = current.notify_webhook_secret
    return _shown(await do_set_tracking_rules(session, principal.tenant_id, raw))
