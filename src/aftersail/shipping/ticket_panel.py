"""The parcels an agent sees beside a ticket and on an order's page: each with its status, ETA, open
exceptions and its latest events (in event time, late arrivals marked). Reads only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.shipping.console_labels import ShownEvent, shown_events
from aftersail.shipping.models import Shipment, ShipmentException, TrackingEvent
from aftersail.shipping.report import OpenException, merge_exceptions, warehouse_codes

MOST = 6  # parcels beside a ticket; a buyer with more has them on their orders' pages
PANEL_EVENTS = 5  # events per parcel beside a ticket (the parcel's page has them all)


@dataclass(frozen=True, slots=True)
class PanelParcel:
    shipment: Shipment
    warehouse_code: str
    exceptions: list[OpenException]  # open now, most urgent first
    events: list[ShownEvent]  # newest first
    all_events: int
    linked: bool  # one of its exceptions opened this ticket

    @property
    def more_events(self) -> int:
        return max(self.all_events - len(self.events), 0)


async def _parcels(
    session: AsyncSession,
    tenant_id: int,
    shipments: list[Shipment],
    *,
    events_each: int | None,
    ticket_id: int | None = None,
) -> list[PanelParcel]:
    if not shipments:
        return []
    ids = sorted(shipment.id for shipment in shipments)
    codes = await warehouse_codes(session, tenant_id)
    exceptions: dict[int, list[ShipmentException]] = defaultdict(list)
    linked: set[int] = set()
    for row in (
        await session.scalars(
            select(ShipmentException).where(
                ShipmentException.tenant_id == tenant_id, ShipmentException.shipment_id.in_(ids)
            )
        )
    ).all():
        if row.resolved_at is None:
            exceptions[row.shipment_id].append(row)
        if ticket_id is not None and row.ticket_id == ticket_id:
            linked.add(row.shipment_id)
    events: dict[int, list[TrackingEvent]] = defaultdict(list)
    for event in (
        await session.scalars(
            select(TrackingEvent).where(
                TrackingEvent.tenant_id == tenant_id, TrackingEvent.shipment_id.in_(ids)
            )
        )
    ).all():
        events[event.shipment_id].append(event)
    parcels = []
    for shipment in shipments:
        shown = shown_events(events[shipment.id])
        parcels.append(
            PanelParcel(
                shipment=shipment,
                warehouse_code=codes.get(shipment.warehouse_id, ("", ""))[0],
                exceptions=merge_exceptions(exceptions[shipment.id], shipment.open_exceptions),
                events=shown if events_each is None else shown[:events_each],
                all_events=len(shown),
                linked=shipment.id in linked,
            )
        )
    return parcels


async def ticket_parcels(
    session: AsyncSession, tenant_id: int, ticket_id: int, *, order_ids: Iterable[int] = ()
) -> list[PanelParcel]:
    """The parcels of `order_ids` (the ticket's order and the buyer's orders shown beside it) and those
    whose exception opened this ticket; the ticket's own first, then the newest shipped, at most MOST."""
    wanted = [
        Shipment.id.in_(
            select(ShipmentException.shipment_id).where(
                ShipmentException.tenant_id == tenant_id, ShipmentException.ticket_id == ticket_id
            )
        )
    ]
    if orders := sorted(set(order_ids)):
        wanted.append(Shipment.order_id.in_(orders))
    rows = await session.scalars(
        select(Shipment)
        .where(Shipment.tenant_id == tenant_id, or_(*wanted))
        .order_by(Shipment.shipped_at.desc(), Shipment.id.desc())
        .limit(MOST * 2)
    )
    parcels = await _parcels(
        session, tenant_id, list(rows.all()), events_each=PANEL_EVENTS, ticket_id=ticket_id
    )
    parcels.sort(key=lambda parcel: not parcel.linked)  # stable: newest first within each group
    return parcels[:MOST]


async def order_parcels(session: AsyncSession, tenant_id: int, order_id: int) -> list[PanelParcel]:
    """Every parcel of the order (outbound and return), in the order they were shipped, with all events."""
    rows = await session.scalars(
        select(Shipment)
        .where(Shipment.tenant_id == tenant_id, Shipment.order_id == order_id)
        .order_by(Shipment.shipped_at, Shipment.id)
    )
    return await _parcels(session, tenant_id, list(rows.all()), events_each=None)
