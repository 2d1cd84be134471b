"""Demo tracking: a parcel with its carrier's number for every shipped demo allocation and for the demo
returns on their way back, each with the carrier events a real one would have sent
(`demo/tracking_stories.py`), normalized, in the carrier's words, with the carrier's raw event beside them.

The parcel's summary (status, ETA, open exceptions) is what the evaluation job would have computed at
DEMO_NOW: the same pure `shipping.rules` (`fold`, `lane_transit`, `estimate`, `detect`) with the default
tracking rules, the lane's history taken from the demo's own deliveries. Exceptions found are written as
`shipment_exceptions` rows (when they opened, and closed if they did); no buyer was notified and no ticket
opened. Delivered orders get `delivered_at` from their delivery scan. Bulk rows, like the loader's.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Lane, Warehouse
from aftersail.demo.carriers import (
    DESTINATION_SIDE,
    LAST_MILE,
    ORIGIN,
    STEPS,
    Carrier,
    carrier_for,
    crosses_customs,
    hubs,
    raw_event,
)
from aftersail.demo.sellers import DEMO_NOW
from aftersail.demo.tracking_stories import Leg, Story, delivered, draw_transit, in_flight
from aftersail.kit.clock import as_utc
from aftersail.orders.models import Allocation, AllocationStatus, Customer, Order, OrderStatus
from aftersail.returns.models import ReturnRequest
from aftersail.returns.rules import ReturnStatus
from aftersail.shipping.models import Shipment, ShipmentException, TrackingEvent
from aftersail.shipping.normalized import Source, TrackingUpdate, normalize_number
from aftersail.shipping.rules import (
    Direction,
    ExceptionKind,
    Finding,
    LaneTransit,
    Progress,
    Scan,
    Status,
    TrackingRules,
    Watch,
    detect,
    estimate,
    fold,
    lane_transit,
)
from aftersail.tenants.models import Tenant

RULES = TrackingRules()  # the demo sellers keep the default tracking rules
HISTORY = 200  # a lane's most recent deliveries its transit figures are drawn from (as shipping.watch)
# Returns whose parcel the buyer has not handed in yet (only the label exists).
NOT_SENT_YET = 0.2


@dataclass(slots=True)
class _Parcel:
    direction: Direction
    order_id: int
    customer_id: int
    warehouse_id: int
    warehouse_code: str
    country: str
    carrier: Carrier  # whose words and raw events (the lane's)
    last_mile: Carrier | None  # the destination's post, for a postal lane
    slug: str  # the carrier stored on the shipment
    number: str
    shipped_at: datetime
    zones: tuple[str, str]  # local time of the sending side and of the receiving side
    story: Story
    allocation_id: int | None = None
    return_id: int | None = None


@dataclass(slots=True)
class _Summary:
    progress: Progress
    promised_eta: datetime | None
    eta: datetime | None
    eta_latest: datetime | None
    open: list[Finding]
    history: dict[ExceptionKind, tuple[datetime, datetime | None, int, dict[str, Any]]]


async def write_tracking(session: AsyncSession, slug: str, *, seed: int) -> dict[str, int]:
    """Parcels, events and exceptions for the demo seller `slug`; counts for the loader's summary."""
    tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tenant_id is not None, slug
    rng = random.Random(f"{seed}:{slug}:tracking")
    warehouses = {
        row.id: row
        for row in (await session.scalars(select(Warehouse).where(Warehouse.tenant_id == tenant_id))).all()
    }
    lanes = {
        (lane.warehouse_id, lane.country): lane
        for lane in (await session.scalars(select(Lane).where(Lane.tenant_id == tenant_id))).all()
    }
    zones = dict(
        (
            await session.execute(
                select(Customer.id, Customer.time_zone).where(Customer.tenant_id == tenant_id)
            )
        ).all()
    )
    taken: set[str] = set()

    def number(carrier: Carrier) -> str:
        while True:
            made = normalize_number(carrier.number(rng))
            if made not in taken:
                taken.add(made)
                return made

    parcels: list[_Parcel] = []
    rows = (
        await session.execute(
            select(
                Allocation.id,
                Allocation.warehouse_id,
                Order.id,
                Order.customer_id,
                Order.country,
                Order.status,
                Order.placed_at,
                Order.updated_at,
                Order.shipping_address,
            )
            .join(Order, Order.id == Allocation.order_id)
            .where(Allocation.tenant_id == tenant_id, Allocation.status == AllocationStatus.SHIPPED)
            .order_by(Allocation.id)
        )
    ).all()
    for allocation_id, warehouse_id, order_id, customer_id, country, status, placed, updated, address in rows:
        warehouse = warehouses[warehouse_id]
        lane = lanes[(warehouse_id, country)]
        carrier = carrier_for(lane.carrier)
        gateway, regional = hubs(country)
        leg = Leg(
            pickup_place=str(warehouse.address.get("city") or warehouse.name),
            origin_hub=ORIGIN.get(warehouse.code, (warehouse.name, warehouse.name))[0],
            export_gateway=ORIGIN.get(warehouse.code, (warehouse.name, warehouse.name))[1],
            import_gateway=gateway,
            destination_hub=rng.choice(regional),
            delivery_place=str((address or {}).get("city") or country),
            international=warehouse.country != country,
            customs=crosses_customs(warehouse.country, country),
        )
        placed_at, updated_at = as_utc(placed), as_utc(updated)
        transit = draw_transit(rng, lane.transit_days_median, lane.transit_days_p90)
        if status is OrderStatus.DELIVERED:
            handling = timedelta(hours=rng.uniform(10, 40))
            pickup = max(placed_at + handling, updated_at - transit)
            if pickup > updated_at - timedelta(hours=6):
                pickup = max(placed_at + timedelta(hours=2), updated_at - timedelta(hours=6))
            story = delivered(
                leg, rng, placed_at=placed_at, pickup=pickup, delivered_at=updated_at, now=DEMO_NOW
            )
        else:
            pickup = updated_at
            story = in_flight(leg, rng, placed_at=placed_at, pickup=pickup, transit=transit, now=DEMO_NOW)
        parcels.append(
            _Parcel(
                direction=Direction.OUTBOUND,
                order_id=order_id,
                customer_id=customer_id,
                warehouse_id=warehouse_id,
                warehouse_code=warehouse.code,
                country=country,
                carrier=carrier,
                last_mile=LAST_MILE.get((lane.carrier, country)),
                slug=carrier.slug,
                number=number(carrier),
                shipped_at=pickup,
                zones=(warehouse.time_zone, zones.get(customer_id) or warehouse.time_zone),
                story=story,
                allocation_id=allocation_id,
            )
        )
    parcels += await _return_parcels(session, tenant_id, rng, warehouses, lanes, zones, number)
    transits = _lane_transits(parcels, lanes)
    summaries = [_summarize(parcel, transits[_lane(parcel)]) for parcel in parcels]
    events, exceptions = await _write(session, tenant_id, parcels, summaries, warehouses)
    kinds = Counter(kind for summary in summaries for kind in summary.history)
    return {
        "tracked parcels": len(parcels),
        "tracking events": events,
        "parcel exceptions": exceptions,
        **{f"exceptions {kind.value}": kinds[kind] for kind in ExceptionKind},
    }


async def _return_parcels(
    session: AsyncSession,
    tenant_id: int,
    rng: random.Random,
    warehouses: dict[int, Warehouse],
    lanes: dict[tuple[int, str], Lane],
    zones: dict[int, str],
    number: Any,
) -> list[_Parcel]:
    """The way back of the demo returns that got a label: not sent yet, on its way, or in the warehouse."""
    returns = (
        await session.execute(
            select(ReturnRequest, Order.shipping_address)
            .join(Order, Order.id == ReturnRequest.order_id)
            .where(
                ReturnRequest.tenant_id == tenant_id,
                ReturnRequest.tracking_number != "",
                ReturnRequest.warehouse_id.is_not(None),
                ReturnRequest.keep_item.is_(False),
                ReturnRequest.status.not_in([ReturnStatus.REJECTED, ReturnStatus.CANCELLED]),
            )
            .order_by(ReturnRequest.id)
        )
    ).all()
    parcels: list[_Parcel] = []
    for ret, address in returns:
        assert ret.warehouse_id is not None
        warehouse = warehouses[ret.warehouse_id]
        lane = lanes.get((warehouse.id, ret.market))
        carrier = carrier_for(lane.carrier if lane else "")
        gateway, regional = hubs(ret.market)
        city = str((address or {}).get("city") or ret.market)
        leg = Leg(
            pickup_place=city,
            origin_hub=rng.choice(regional),
            export_gateway=gateway,
            import_gateway=ORIGIN.get(warehouse.code, (warehouse.name, warehouse.name))[1],
            destination_hub=ORIGIN.get(warehouse.code, (warehouse.name, warehouse.name))[0],
            delivery_place=str(warehouse.address.get("city") or warehouse.name),
            international=warehouse.country != ret.market,
            customs=crosses_customs(ret.market, warehouse.country),
        )
        labelled = as_utc(ret.decided_at or ret.requested_at)
        transit = draw_transit(
            rng, lane.transit_days_median if lane else 3, lane.transit_days_p90 if lane else 6
        )
        handed_in = labelled + timedelta(days=rng.uniform(0.3, 2.5))
        if ret.received_at is not None:
            arrived = as_utc(ret.received_at) - timedelta(hours=rng.uniform(0.5, 4))
            pickup = min(max(handed_in, arrived - transit), arrived - timedelta(hours=8))
            pickup = max(pickup, labelled + timedelta(hours=1))
            story = delivered(
                leg,
                rng,
                placed_at=labelled,
                pickup=pickup,
                delivered_at=arrived,
                now=DEMO_NOW,
                doorstep=False,
            )
        elif handed_in >= DEMO_NOW or rng.random() < NOT_SENT_YET:
            pickup = labelled
            story = Story("not_sent", [])
        else:
            pickup = handed_in
            story = in_flight(
                leg, rng, placed_at=labelled, pickup=pickup, transit=transit, now=DEMO_NOW, doorstep=False
            )
        parcels.append(
            _Parcel(
                direction=Direction.RETURN,
                order_id=ret.order_id,
                customer_id=ret.customer_id,
                warehouse_id=warehouse.id,
                warehouse_code=warehouse.code,
                country=ret.market,
                carrier=carrier,
                last_mile=None,
                slug=ret.carrier or carrier.slug,
                number=normalize_number(ret.tracking_number),
                shipped_at=pickup,
                zones=(zones.get(ret.customer_id) or warehouse.time_zone, warehouse.time_zone),
                story=story,
                return_id=ret.id,
            )
        )
    return parcels


def _lane_transits(
    parcels: list[_Parcel], lanes: dict[tuple[int, str], Lane]
) -> dict[tuple[int, str, Direction], LaneTransit]:
    """Each lane's median and p90 transit from the demo's deliveries in the parcel's direction (its own
    figures while it has few), as `shipping.watch.lane_figures` draws them."""
    history: dict[tuple[int, str, Direction], list[tuple[datetime, float]]] = {}
    for parcel in parcels:
        final = parcel.story.steps[-1] if parcel.story.steps else None
        if final and STEPS[final.step][0] is Status.DELIVERED:
            days = (final.at - parcel.shipped_at).total_seconds() / 86400
            history.setdefault(_lane(parcel), []).append((final.at, days))
    result: dict[tuple[int, str, Direction], LaneTransit] = {}
    for parcel in parcels:
        key = _lane(parcel)
        if key not in result:
            lane = lanes.get((parcel.warehouse_id, parcel.country))
            result[key] = lane_transit(
                [days for _, days in sorted(history.get(key, []))[-HISTORY:]],
                lane.transit_days_median if lane else 7,
                lane.transit_days_p90 if lane else 12,
            )
    return result


def _lane(parcel: _Parcel) -> tuple[int, str, Direction]:
    return parcel.warehouse_id, parcel.country, parcel.direction


def _watch(parcel: _Parcel, scans: list[Scan], transit: LaneTransit, at: datetime) -> tuple[Watch, Any]:
    progress = fold(scans)
    promised = estimate(Progress(), transit, parcel.shipped_at, parcel.shipped_at)
    eta = estimate(progress, transit, parcel.shipped_at, at)
    missing = parcel.story.buyer_says_missing_at
    watch = Watch(
        direction=parcel.direction,
        progress=progress,
        shipped_at=parcel.shipped_at,
        promised_eta=promised.expected if promised else None,
        current_eta=eta.expected if eta else None,
        buyer_says_missing=missing is not None and missing <= at,
    )
    return watch, eta


def _summarize(parcel: _Parcel, transit: LaneTransit) -> _Summary:
    """The parcel at DEMO_NOW, and for a parcel that met trouble the exceptions over its life: the rules are
    asked again at every event and at every moment a threshold (silence, customs hold) was reached."""
    scans = [Scan(step.at, *STEPS[step.step]) for step in parcel.story.steps]
    watch, eta = _watch(parcel, scans, transit, DEMO_NOW)
    found = detect(watch, RULES, DEMO_NOW)
    history: dict[ExceptionKind, tuple[datetime, datetime | None, int, dict[str, Any]]] = {}
    if found or parcel.story.scenario not in ("normal", "on_time", "not_sent"):
        moments = {parcel.shipped_at, DEMO_NOW}
        for scan in scans:
            moments.add(scan.occurred_at)
            moments.add(scan.occurred_at + timedelta(days=RULES.stalled_days))
            if scan.status is Status.CUSTOMS:
                moments.add(scan.occurred_at + timedelta(days=RULES.customs_hold_days))
        if parcel.story.buyer_says_missing_at is not None:
            moments.add(parcel.story.buyer_says_missing_at)
        open_now: set[ExceptionKind] = set()
        for moment in sorted(m for m in moments if m <= DEMO_NOW):
            seen = [scan for scan in scans if scan.occurred_at <= moment]
            kinds = {f.kind: f for f in detect(_watch(parcel, seen, transit, moment)[0], RULES, moment)}
            for kind, finding in kinds.items():
                opened, _, times, _ = history.get(kind, (moment, None, 0, {}))
                if kind not in open_now:
                    opened, times = moment, times + 1
                history[kind] = (opened, None, times, dict(finding.details))
            for kind in open_now - set(kinds):
                opened, _, times, details = history[kind]
                history[kind] = (opened, moment, times, details)
            open_now = set(kinds)
    for finding in found:  # details as they read now
        opened, _, times, _ = history.get(finding.kind, (DEMO_NOW, None, 1, {}))
        history[finding.kind] = (opened, None, times, dict(finding.details))
    return _Summary(
        progress=watch.progress,
        promised_eta=watch.promised_eta,
        eta=eta.expected if eta else None,
        eta_latest=eta.latest if eta else None,
        open=found,
        history=history,
    )


async def _write(
    session: AsyncSession,
    tenant_id: int,
    parcels: list[_Parcel],
    summaries: list[_Summary],
    warehouses: dict[int, Warehouse],
) -> tuple[int, int]:
    # A return parcel the returns service recorded already is filled in, not recorded twice.
    existing = dict(
        (
            await session.execute(
                select(Shipment.tracking_number, Shipment.id).where(
                    Shipment.tenant_id == tenant_id,
                    Shipment.tracking_number.in_([p.number for p in parcels if p.return_id is not None]),
                )
            )
        ).all()
    )
    rows = []
    for parcel, summary in zip(parcels, summaries, strict=True):
        progress = summary.progress
        first = parcel.story.steps[0].at if parcel.story.steps else parcel.shipped_at
        rows.append(
            {
                "tenant_id": tenant_id,
                "created_at": min(first, parcel.shipped_at),
                "updated_at": progress.last_event_at or parcel.shipped_at,
                "direction": parcel.direction,
                "order_id": parcel.order_id,
                "allocation_id": parcel.allocation_id,
                "return_id": parcel.return_id,
                "customer_id": parcel.customer_id,
                "warehouse_id": parcel.warehouse_id,
                "country": parcel.country,
                "carrier": parcel.slug,
                "tracking_number": parcel.number,
                "status": progress.status,
                "sub_status": progress.sub_status,
                "shipped_at": parcel.shipped_at,
                "last_event_at": progress.last_event_at,
                "status_since": progress.status_since,
                "delivered_at": progress.delivered_at,
                "failed_attempts": progress.failed_attempts,
                "events_count": progress.events,
                "promised_eta": summary.promised_eta,
                "eta": summary.eta,
                "eta_latest": summary.eta_latest,
                "buyer_says_missing_at": parcel.story.buyer_says_missing_at,
                "open_exceptions": [finding.kind.value for finding in summary.open],
                "evaluated_at": DEMO_NOW,
            }
        )
    new = [row for row in rows if row["tracking_number"] not in existing]
    if new:  # plain multi-row INSERT, then the ids by number (cheaper than RETURNING in input order)
        await session.execute(insert(_table(Shipment)), new)
        existing_ids = dict(
            (
                await session.execute(
                    select(Shipment.tracking_number, Shipment.id).where(Shipment.tenant_id == tenant_id)
                )
            ).all()
        )
    else:
        existing_ids = existing
    shipment_ids = [existing_ids[str(row["tracking_number"])] for row in rows]
    if existing:
        await session.execute(
            update(Shipment),
            [
                {**{k: v for k, v in row.items() if k not in ("tenant_id", "created_at")}, "id": shipment_id}
                for row, shipment_id in zip(rows, shipment_ids, strict=True)
                if row["tracking_number"] in existing
            ],
        )
    events: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    delivered_orders: dict[int, datetime] = {}
    for parcel, summary, shipment_id in zip(parcels, summaries, shipment_ids, strict=True):
        events += _event_rows(tenant_id, shipment_id, parcel, warehouses[parcel.warehouse_id].country)
        for kind, (opened, resolved, times, details) in summary.history.items():
            exceptions.append(
                {
                    "tenant_id": tenant_id,
                    "shipment_id": shipment_id,
                    "kind": kind,
                    "details": details,
                    "priority": RULES.priority(kind),
                    "opened_at": opened,
                    "resolved_at": resolved,
                    "times_opened": times,
                    "notified_at": None,
                    "ticket_id": None,
                }
            )
        if parcel.direction is Direction.OUTBOUND and summary.progress.delivered_at is not None:
            delivered_orders[parcel.order_id] = summary.progress.delivered_at
    if events:
        await session.execute(insert(_table(TrackingEvent)), events)
    if exceptions:
        await session.execute(insert(_table(ShipmentException)), exceptions)
    if delivered_orders:
        orders = _table(Order)
        await session.execute(
            # updated_at given, or its on-update default would stamp the wall clock on the demo's history
            update(orders)
            .where(orders.c.id == bindparam("order_id"))
            .values(delivered_at=bindparam("at"), updated_at=orders.c.updated_at),
            [{"order_id": order_id, "at": at} for order_id, at in delivered_orders.items()],
        )
    return len(events), len(exceptions)


def _table(model: type[Any]) -> Table:
    """The model's table, for plain multi-row statements (no ORM bookkeeping per row)."""
    return cast(Table, model.__table__)


def _event_rows(
    tenant_id: int, shipment_id: int, parcel: _Parcel, warehouse_country: str
) -> list[dict[str, Any]]:
    rows = []
    sending, receiving = (
        (warehouse_country, parcel.country)
        if parcel.direction is Direction.OUTBOUND
        else (parcel.country, warehouse_country)
    )
    for index, step in enumerate(parcel.story.steps):
        far_side = step.step in DESTINATION_SIDE
        carrier = parcel.last_mile if far_side and parcel.last_mile is not None else parcel.carrier
        status, sub_status = STEPS[step.step]
        description = carrier.says(step.step, step.place)
        country = receiving if far_side else sending
        update_ = TrackingUpdate(
            tracking_number=parcel.number,
            occurred_at=step.at,
            status=status,
            sub_status=sub_status,
            carrier=carrier.slug,
            description=description,
            location=step.place,
            source=Source.DEMO,
            raw=raw_event(
                carrier, step.step, status, description, step.place, country, step.at, parcel.zones[far_side]
            ),
        )
        rows.append(
            {
                "tenant_id": tenant_id,
                "shipment_id": shipment_id,
                "fingerprint": update_.fingerprint,
                "occurred_at": step.at,
                "received_at": min(step.at + timedelta(minutes=2 + index % 9), DEMO_NOW),
                "status": status,
                "sub_status": sub_status,
                "description": description[:500],
                "location": step.place[:200],
                "source": Source.DEMO,
                "raw": update_.raw,
            }
        )
    return rows
