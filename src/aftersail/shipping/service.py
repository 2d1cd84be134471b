"""Use cases of shipping: recording a parcel (an allocation shipped, a return label booked), taking carrier
events in (idempotent, any order, parked until a parcel claims their number), and reading a parcel's story.

Ingest is the hot path (every webhook lands here): a few set-based statements per batch, then one
`shipping.evaluate` job per parcel touched; the rules, ETA and care run in that job (`watch.py`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, Update, bindparam, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import dialect_insert
from aftersail.kit.errors import Conflict, InvalidInput, NotFound
from aftersail.kit.outbox import emit_many
from aftersail.orders import fulfilment
from aftersail.shipping.models import ParkedEvent, Shipment, TrackingEvent
from aftersail.shipping.normalized import TrackingUpdate, normalize_number
from aftersail.shipping.rules import Direction, Status, SubStatus

EVALUATE_TOPIC = "shipping.evaluate"
MAX_NUMBER = 64
MAX_UPDATES = 1000  # one request's events at most


@dataclass(slots=True)
class Ingested:
    """What one batch of carrier events did: new events stored, repeats recognised, events parked for
    numbers no parcel has yet, and the parcels touched."""

    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    shipment_ids: list[int] = field(default_factory=list)

    def add(self, other: Ingested) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.parked += other.parked
        self.shipment_ids.extend(i for i in other.shipment_ids if i not in self.shipment_ids)


def check_number(number: str) -> str:
    normalized = normalize_number(number)
    if not normalized or len(normalized) > MAX_NUMBER:
        raise InvalidInput(
            f"tracking_number: 1 to {MAX_NUMBER} letters or digits, got {number[:80]!r}.",
            field="tracking_number",
        )
    return normalized


# --- reading ---------------------------------------------------------------------------------------------


async def access_shipment(session: AsyncSession, tenant_id: int, shipment_id: int) -> Shipment:
    shipment = await session.get(Shipment, shipment_id)
    if shipment is None or shipment.tenant_id != tenant_id:
        raise NotFound(f"Shipment {shipment_id} does not exist.", shipment_id=shipment_id)
    return shipment


async def find_shipment(session: AsyncSession, tenant_id: int, tracking_number: str) -> Shipment | None:
    return await session.scalar(
        select(Shipment).where(
            Shipment.tenant_id == tenant_id, Shipment.tracking_number == normalize_number(tracking_number)
        )
    )


async def order_shipments(
    session: AsyncSession, tenant_id: int, order_id: int, *, direction: Direction | None = None
) -> list[Shipment]:
    query = select(Shipment).where(Shipment.tenant_id == tenant_id, Shipment.order_id == order_id)
    if direction is not None:
        query = query.where(Shipment.direction == direction)
    return list((await session.scalars(query.order_by(Shipment.shipped_at, Shipment.id))).all())


async def return_shipment(session: AsyncSession, tenant_id: int, return_id: int) -> Shipment | None:
    return await session.scalar(
        select(Shipment)
        .where(Shipment.tenant_id == tenant_id, Shipment.return_id == return_id)
        .order_by(Shipment.id.desc())
        .limit(1)
    )


async def shipment_events(session: AsyncSession, shipment: Shipment) -> list[TrackingEvent]:
    """The parcel's events in event time (the order they happened, not the order they arrived)."""
    return list(
        (
            await session.scalars(
                select(TrackingEvent)
                .where(
                    TrackingEvent.tenant_id == shipment.tenant_id, TrackingEvent.shipment_id == shipment.id
                )
                .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
            )
        ).all()
    )


# --- recording a parcel ------------------------------------------------------------------------------------


async def do_record_shipment(
    session: AsyncSession,
    tenant_id: int,
    *,
    direction: Direction,
    order_id: int,
    customer_id: int,
    warehouse_id: int,
    country: str,
    carrier: str,
    tracking_number: str,
    allocation_id: int | None = None,
    return_id: int | None = None,
    shipped_at: datetime | None = None,
) -> Shipment:
    """A parcel with its carrier and number; events that came for the number before it existed are claimed
    now. The same number twice for the tenant is a conflict (a number names one parcel)."""
    number = check_number(tracking_number)
    carrier = carrier.strip().lower()[:64]
    if not carrier:
        raise InvalidInput("carrier: name the carrier (its slug, such as `dhl` or `ups`).", field="carrier")
    existing = await find_shipment(session, tenant_id, number)
    if existing is not None:
        if existing.order_id == order_id and existing.allocation_id == allocation_id:
            return existing
        raise Conflict(
            f"Tracking number {number} already belongs to another parcel.", field="tracking_number"
        )
    shipment = Shipment(
        tenant_id=tenant_id,
        direction=direction,
        order_id=order_id,
        allocation_id=allocation_id,
        return_id=return_id,
        customer_id=customer_id,
        warehouse_id=warehouse_id,
        country=country.upper(),
        carrier=carrier,
        tracking_number=number,
        status=Status.PENDING,
        sub_status=SubStatus.NONE,
        shipped_at=shipped_at or utcnow(),
        open_exceptions=[],
    )
    session.add(shipment)
    await session.flush()
    await _claim_parked(session, shipment)
    await emit_many(session, [(EVALUATE_TOPIC, {"shipment_id": shipment.id})], tenant_id=tenant_id)
    return shipment


async def _claim_parked(session: AsyncSession, shipment: Shipment) -> int:
    parked = list(
        (
            await session.scalars(
                select(ParkedEvent).where(
                    ParkedEvent.tenant_id == shipment.tenant_id,
                    ParkedEvent.tracking_number == shipment.tracking_number,
                )
            )
        ).all()
    )
    if not parked:
        return 0
    rows = [
        {
            "tenant_id": shipment.tenant_id,
            "shipment_id": shipment.id,
            "fingerprint": event.fingerprint,
            "occurred_at": as_utc(event.occurred_at),
            "received_at": as_utc(event.received_at),
            "status": event.status,
            "sub_status": event.sub_status,
            "description": event.description,
            "location": event.location,
            "source": event.source,
            "raw": event.raw,
        }
        for event in parked
    ]
    await session.execute(
        dialect_insert(session, TrackingEvent.__table__).on_conflict_do_nothing(
            index_elements=["shipment_id", "fingerprint"]
        ),
        rows,
    )
    await session.execute(delete(ParkedEvent).where(ParkedEvent.id.in_([event.id for event in parked])))
    latest = max(parked, key=lambda event: as_utc(event.occurred_at))
    shipment.status, shipment.sub_status = latest.status, latest.sub_status
    shipment.last_event_at = as_utc(latest.occurred_at)
    shipment.events_count = len({event.fingerprint for event in parked})
    await session.flush()
    return len(parked)


# --- taking events in -------------------------------------------------------------------------------------


def _event_row(tenant_id: int, update_: TrackingUpdate, now: datetime) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "fingerprint": update_.fingerprint,
        "occurred_at": update_.occurred_at,
        "received_at": now,
        "status": update_.status,
        "sub_status": update_.sub_status,
        "description": update_.description[:500],
        "location": update_.location[:200],
        "source": update_.source[:16],
        "raw": update_.raw,
    }


async def do_ingest(
    session: AsyncSession, tenant_id: int, updates: Sequence[TrackingUpdate], *, now: datetime | None = None
) -> Ingested:
    """Store carrier events: a replayed event (same fingerprint on the same parcel) changes nothing, an older
    event arriving late is kept in its place in the story without moving the parcel's current status back,
    and events for an unknown number are parked until a parcel claims it. One `shipping.evaluate` job per
    parcel that got something new."""
    now = now or utcnow()
    if len(updates) > MAX_UPDATES:
        raise InvalidInput(f"At most {MAX_UPDATES} events per request.", field="events")
    result = Ingested()
    by_number: dict[str, dict[str, TrackingUpdate]] = defaultdict(dict)
    for item in updates:
        number = check_number(item.tracking_number)
        if item.fingerprint in by_number[number]:
            result.duplicates += 1
        by_number[number].setdefault(item.fingerprint, item)
    if not by_number:
        return result
    known = {
        number: (shipment_id, as_utc(last) if last else None)
        for shipment_id, number, last in (
            await session.execute(
                select(Shipment.id, Shipment.tracking_number, Shipment.last_event_at).where(
                    Shipment.tenant_id == tenant_id, Shipment.tracking_number.in_(sorted(by_number))
                )
            )
        ).all()
    }
    rows: list[dict[str, object]] = []
    parked_rows: list[dict[str, object]] = []
    for number, events in by_number.items():
        if number in known:
            rows.extend(
                {**_event_row(tenant_id, e, now), "shipment_id": known[number][0]} for e in events.values()
            )
        else:
            parked_rows.extend(
                {**_event_row(tenant_id, e, now), "tracking_number": number, "carrier": e.carrier[:64]}
                for e in events.values()
            )
    fresh: dict[int, list[tuple[datetime, Status, SubStatus]]] = defaultdict(list)
    if rows:
        inserted = await session.execute(
            dialect_insert(session, TrackingEvent.__table__)
            .on_conflict_do_nothing(index_elements=["shipment_id", "fingerprint"])
            .returning(
                TrackingEvent.shipment_id,
                TrackingEvent.occurred_at,
                TrackingEvent.status,
                TrackingEvent.sub_status,
            ),
            rows,
        )
        for shipment_id, occurred_at, status, sub_status in inserted.all():
            fresh[shipment_id].append((as_utc(occurred_at), Status(status), SubStatus(sub_status)))
        applied = sum(len(v) for v in fresh.values())
        result.applied += applied
        result.duplicates += len(rows) - applied
    if parked_rows:
        inserted = await session.execute(
            dialect_insert(session, ParkedEvent.__table__)
            .on_conflict_do_nothing(index_elements=["tenant_id", "tracking_number", "fingerprint"])
            .returning(ParkedEvent.id),
            parked_rows,
        )
        parked = len(inserted.all())
        result.parked += parked
        result.duplicates += len(parked_rows) - parked
    await _advance(session, tenant_id, fresh)
    result.shipment_ids = sorted(fresh)
    await emit_many(
        session,
        ((EVALUATE_TOPIC, {"shipment_id": shipment_id}) for shipment_id in result.shipment_ids),
        tenant_id=tenant_id,
    )
    return result


def _advance_statement() -> Update:
    """One UPDATE per parcel, run as one executemany: the status moves to the newest new event only if it is
    not older than what the parcel has (every SET reads the row as it was), the count always grows."""
    shipments = cast(Table, Shipment.__table__)
    at = bindparam("at", type_=shipments.c.last_event_at.type)
    moves = or_(shipments.c.last_event_at.is_(None), shipments.c.last_event_at <= at)

    def newest_or_kept(column: Any, value: Any) -> Any:
        return case((moves, value), else_=column)

    return (
        update(shipments)
        .where(shipments.c.id == bindparam("shipment_id"), shipments.c.tenant_id == bindparam("tenant"))
        .values(
            status=newest_or_kept(shipments.c.status, bindparam("status", type_=shipments.c.status.type)),
            sub_status=newest_or_kept(
                shipments.c.sub_status, bindparam("sub_status", type_=shipments.c.sub_status.type)
            ),
            last_event_at=newest_or_kept(shipments.c.last_event_at, at),
            events_count=shipments.c.events_count + bindparam("count", type_=Integer),
            updated_at=bindparam("now", type_=shipments.c.updated_at.type),
        )
    )


async def _advance(
    session: AsyncSession,
    tenant_id: int,
    fresh: Mapping[int, Sequence[tuple[datetime, Status, SubStatus]]],
) -> None:
    """Each parcel's status follows its newest event by event time: an older one arriving late only counts.
    Rows are updated in shipment-id order (the lock order of concurrent ingests), in one round trip."""
    if not fresh:
        return
    now = utcnow()
    rows = []
    for shipment_id, events in sorted(fresh.items()):
        occurred_at, status, sub_status = max(events, key=lambda event: event[0])
        rows.append(
            {
                "shipment_id": shipment_id,
                "tenant": tenant_id,
                "at": occurred_at,
                "status": status,
                "sub_status": sub_status,
                "count": len(events),
                "now": now,
            }
        )
    connection = await session.connection()
    await connection.execute(_ADVANCE, rows)


_ADVANCE = _advance_statement()


async def do_ship_allocation(
    session: AsyncSession,
    tenant_id: int,
    allocation_id: int,
    *,
    carrier: str,
    tracking_number: str,
    actor: str,
    shipped_at: datetime | None = None,
) -> Shipment:
    """The warehouse handed an allocation's parcel to `carrier` under `tracking_number`: units leave stock,
    the order is shipped once all its parcels are, and the parcel is tracked from now on. Recording the same
    allocation with the same number again returns the parcel recorded the first time."""
    number = check_number(tracking_number)
    allocation = await fulfilment.access_allocation(session, tenant_id, allocation_id)
    when = shipped_at or utcnow()
    order = await fulfilment.do_ship_allocation(
        session, allocation, actor=actor, now=when, details={"carrier": carrier, "tracking_number": number}
    )
    return await do_record_shipment(
        session,
        tenant_id,
        direction=Direction.OUTBOUND,
        order_id=order.id,
        customer_id=order.customer_id,
        warehouse_id=allocation.warehouse_id,
        country=order.country,
        carrier=carrier,
        tracking_number=number,
        allocation_id=allocation.id,
        shipped_at=when,
    )
