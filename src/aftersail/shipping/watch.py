"""Evaluating a parcel (the `shipping.evaluate` job after new events, and `shipping.check` at the time the
rules could next change their mind): fold its events in event time, draw its ETA from the lane's history,
run the exception rules, act on what is new (care.py), and move the order or the return it belongs to."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.kit.clock import as_utc
from aftersail.kit.outbox import emit, schedule_job
from aftersail.orders import fulfilment
from aftersail.orders import service as orders
from aftersail.shipping.care import Links, do_apply_findings
from aftersail.shipping.models import Shipment, TrackingEvent
from aftersail.shipping.policy import tracking_rules
from aftersail.shipping.rules import (
    Direction,
    Finding,
    LaneTransit,
    Progress,
    Scan,
    Status,
    Watch,
    detect,
    estimate,
    fold,
    lane_transit,
    next_check,
)

CHECK_TOPIC = "shipping.check"
# A return parcel moved: the returns domain follows it (returns/tasks.py), without shipping importing it.
RETURN_PARCEL_TOPIC = "shipping.return_parcel"
HISTORY = 200  # the lane's most recent deliveries an ETA is drawn from
ARRIVED = frozenset({Status.DELIVERED})


def up_to_date(shipment: Shipment) -> bool:
    """Evaluated since its last new event: a further `shipping.evaluate` job (a burst of webhooks sends one
    per request) has nothing to add. Counts, not times: an evaluation that raced an ingest saw fewer events
    than the ingest counted, so the ingest's own job still runs."""
    return shipment.evaluated_at is not None and shipment.evaluated_events == shipment.events_count


async def lane_figures(session: AsyncSession, shipment: Shipment) -> LaneTransit:
    """Median and p90 transit of the lane's last deliveries in the parcel's direction, or the lane's
    configured figures while it has too few."""
    rows = (
        await session.execute(
            select(Shipment.shipped_at, Shipment.delivered_at)
            .where(
                Shipment.tenant_id == shipment.tenant_id,
                Shipment.warehouse_id == shipment.warehouse_id,
                Shipment.country == shipment.country,
                Shipment.direction == shipment.direction,
                Shipment.delivered_at.is_not(None),
                Shipment.id != shipment.id,
            )
            .order_by(Shipment.delivered_at.desc())
            .limit(HISTORY)
        )
    ).all()
    days = [
        (as_utc(delivered) - as_utc(shipped)).total_seconds() / 86400
        for shipped, delivered in rows
        if delivered
    ]
    lanes = await catalog.list_lanes(
        session, shipment.tenant_id, warehouse_id=shipment.warehouse_id, country=shipment.country
    )
    median, p90 = (lanes[0].transit_days_median, lanes[0].transit_days_p90) if lanes else (7, 12)
    return lane_transit(days, median, p90)


async def progress_of(session: AsyncSession, shipment: Shipment) -> Progress:
    rows = (
        await session.execute(
            select(TrackingEvent.occurred_at, TrackingEvent.status, TrackingEvent.sub_status)
            .where(TrackingEvent.tenant_id == shipment.tenant_id, TrackingEvent.shipment_id == shipment.id)
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        )
    ).all()
    return fold(Scan(as_utc(occurred_at), status, sub_status) for occurred_at, status, sub_status in rows)


async def do_evaluate(
    session: AsyncSession, shipment: Shipment, *, now: datetime, links: Links | None = None
) -> list[Finding]:
    """Bring the parcel's summary, ETA and exceptions up to date with its whole history; idempotent (the same
    history and clock give the same rows, and an exception is acted on once per opening)."""
    progress = await progress_of(session, shipment)
    if progress.events:
        shipment.status = progress.status
        shipment.sub_status = progress.sub_status
        shipment.last_event_at = progress.last_event_at
        shipment.status_since = progress.status_since
        shipment.delivered_at = progress.delivered_at if progress.status is Status.DELIVERED else None
        shipment.failed_attempts = progress.failed_attempts
    warehouse = await catalog.access_warehouse(session, shipment.tenant_id, shipment.warehouse_id)
    rules = (await tracking_rules(session, shipment.tenant_id)).for_lane(warehouse.code, shipment.country)
    transit = await lane_figures(session, shipment)
    eta = estimate(progress, transit, as_utc(shipment.shipped_at), now)
    if eta is not None:
        shipment.eta, shipment.eta_latest = eta.expected, eta.latest
        if shipment.promised_eta is None:
            shipment.promised_eta = eta.expected
    elif progress.status is Status.DELIVERED:
        shipment.eta = shipment.eta_latest = None
    watch = Watch(
        direction=shipment.direction,
        progress=progress,
        shipped_at=as_utc(shipment.shipped_at),
        promised_eta=as_utc(shipment.promised_eta) if shipment.promised_eta else None,
        current_eta=eta.expected if eta else None,
        buyer_says_missing=shipment.buyer_says_missing_at is not None,
    )
    findings = detect(watch, rules, now)
    await do_apply_findings(session, shipment, findings, rules, links=links, now=now)
    await _consequences(session, shipment, progress, now=now)
    shipment.evaluated_at = now
    shipment.evaluated_events = progress.events  # what this evaluation saw (ingest keeps `events_count`)
    due = next_check(watch, rules, now)
    if due is not None:
        due = due.replace(second=0, microsecond=0) + timedelta(minutes=1)
        await schedule_job(
            session,
            CHECK_TOPIC,
            {"shipment_id": shipment.id},
            due,
            shipment.tenant_id,
            dedupe_key=f"shipping.check:{shipment.tenant_id}:{shipment.id}:{int(due.timestamp())}",
        )
    await session.flush()
    return findings


async def _consequences(
    session: AsyncSession, shipment: Shipment, progress: Progress, *, now: datetime
) -> None:
    """An outbound parcel delivered delivers its order once every parcel of the order is; a return parcel the
    carrier has is news for the returns domain (in transit, then arrived), sent as an event."""
    if shipment.direction is Direction.OUTBOUND:
        if progress.status is not Status.DELIVERED or progress.delivered_at is None:
            return
        siblings = (
            await session.execute(
                select(Shipment.status, Shipment.delivered_at).where(
                    Shipment.tenant_id == shipment.tenant_id,
                    Shipment.order_id == shipment.order_id,
                    Shipment.direction == Direction.OUTBOUND,
                    Shipment.id != shipment.id,
                )
            )
        ).all()
        if any(status is not Status.DELIVERED for status, _ in siblings):
            return
        last = max([progress.delivered_at, *(as_utc(at) for _, at in siblings if at)])
        order = await orders.access_order(session, shipment.tenant_id, shipment.order_id)
        await fulfilment.do_mark_delivered(session, order, at=last, actor="tracking")
        return
    if shipment.return_id is None or progress.first_scan_at is None:
        return
    await emit(
        session,
        RETURN_PARCEL_TOPIC,
        {
            "return_id": shipment.return_id,
            "moving": True,
            "delivered_at": progress.delivered_at.isoformat() if progress.delivered_at else None,
        },
        tenant_id=shipment.tenant_id,
    )
