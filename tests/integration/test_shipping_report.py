"""The parcels report on a migrated database (SQLite and PostgreSQL): a small known history of parcels shipped
from Frankfurt (to Germany and to France) gives exact lane figures — delivered, median and p90 transit to
the tenth of a day, in flight, exception rates per kind, on-time share — and the parcels at risk are those
with an exception open now (a row or a kind on the parcel), newest exception first, filtered by kind,
warehouse and country. Another tenant's parcels stay out.

The known history sets its exceptions up as rows (exact figures need exact dates); the last test reads what
the evaluation job (`watch.do_evaluate`) itself writes for a parcel held in customs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from aftersail.analytics.rules import last_days
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.shipping import report, ticket_panel
from aftersail.shipping import service as shipping
from aftersail.shipping.models import Shipment, ShipmentException
from aftersail.shipping.normalized import TrackingUpdate
from aftersail.shipping.report import AtRiskFilters
from aftersail.shipping.rules import ExceptionKind, Status, SubStatus
from aftersail.shipping.watch import do_evaluate
from tests.factories import make_tenant
from tests.fulfilment import make_network
from tests.tracking_desk import Shipped, make_shipped, scan

UTC = ZoneInfo("UTC")


async def feed_at(db: Database, tenant_id: int, now: datetime, *updates: TrackingUpdate) -> None:
    """Carrier events arriving at `now` (their received time)."""
    async with db.transaction(tenant_id=tenant_id) as session:
        await shipping.do_ingest(session, tenant_id, list(updates), now=now)


async def set_parcel(db: Database, shipped: Shipped, **values: object) -> None:
    async with db.transaction(tenant_id=shipped.tenant_id) as session:
        await session.execute(
            update(Shipment)
            .where(Shipment.id == shipped.shipment_id, Shipment.tenant_id == shipped.tenant_id)
            .values(**values)
        )


async def add_exception(
    db: Database,
    shipped: Shipped,
    kind: ExceptionKind,
    priority: str,
    opened_at: datetime,
    *,
    resolved_at: datetime | None = None,
    ticket_id: int | None = None,
) -> None:
    """An exception row as the evaluation job writes it; an open one is also listed on the parcel."""
    async with db.transaction(tenant_id=shipped.tenant_id) as session:
        session.add(
            ShipmentException(
                tenant_id=shipped.tenant_id,
                shipment_id=shipped.shipment_id,
                kind=kind,
                priority=priority,
                details={},
                opened_at=opened_at,
                resolved_at=resolved_at,
                ticket_id=ticket_id,
            )
        )
        if resolved_at is None:
            shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
            shipment.open_exceptions = [*shipment.open_exceptions, kind.value]


@dataclass
class History:
    """Parcels by name: a–e delivered Frankfurt → Germany (transit 2, 3, 4, 2.5, 6 days), fr delivered to
    France (3 days), held in customs (P1, open), stalled (P2, open), moving (healthy, in transit)."""

    parcels: dict[str, Shipped] = field(default_factory=dict)
    now: datetime = field(default_factory=utcnow)

    def __getitem__(self, name: str) -> Shipped:
        return self.parcels[name]


async def make_history(db: Database) -> History:
    history = History()
    now = history.now
    tenant = await make_tenant(db)
    network = await make_network(db, tenant.tenant_id)
    for sku in network.skus:
        await network.set_stock(db, "FRA", sku, 100)

    async def parcel(name: str, days_ago: float, country: str = "DE") -> Shipped:
        shipped = await make_shipped(
            db, country=country, days_ago=days_ago, tenant=tenant, network=network, carrier="dhl"
        )
        history.parcels[name] = shipped
        return shipped

    # delivered: (name, shipped days ago, transit days, promised after shipping in days or None)
    for name, days_ago, transit, promised in (
        ("a", 20, 2.0, 3.0),  # on time
        ("b", 19, 3.0, 2.0),  # a day late
        ("c", 18, 4.0, None),  # no promise: not in the on-time share
        ("d", 15, 2.5, 3.0),  # on time
        ("e", 10, 6.0, None),
    ):
        shipped = await parcel(name, days_ago)
        delivered_at = shipped.shipped_at + timedelta(days=transit)
        await feed_at(
            db,
            shipped.tenant_id,
            delivered_at,
            scan(shipped.tracking_number, shipped.shipped_at + timedelta(hours=6), Status.IN_TRANSIT),
            scan(shipped.tracking_number, delivered_at, Status.DELIVERED),
        )
        await set_parcel(
            db,
            shipped,
            delivered_at=delivered_at,
            promised_eta=None if promised is None else shipped.shipped_at + timedelta(days=promised),
        )
    france = await parcel("fr", 9, country="FR")
    await feed_at(
        db, france.tenant_id, now, scan(france.tracking_number, now - timedelta(days=6), Status.DELIVERED)
    )
    await set_parcel(db, france, delivered_at=france.shipped_at + timedelta(days=3))
    # a resolved exception on a delivered parcel counts in the lane's rate but is no risk now
    await add_exception(
        db,
        history["a"],
        ExceptionKind.ETA_SLIPPED,
        "p3",
        now - timedelta(days=19),
        resolved_at=now - timedelta(days=18),
    )

    held = await parcel("held", 6)
    number = held.tracking_number
    # The customs scan arrives first; the earlier departure scan comes an hour later (out of order).
    await feed_at(
        db,
        held.tenant_id,
        now - timedelta(days=2),
        scan(
            number, held.shipped_at + timedelta(hours=5), Status.IN_TRANSIT, description="Shipment picked up"
        ),
        scan(
            number,
            now - timedelta(days=3),
            Status.CUSTOMS,
            SubStatus.CUSTOMS_HELD,
            description="Held by customs",
            location="Frankfurt Airport",
        ),
    )
    await feed_at(
        db,
        held.tenant_id,
        now - timedelta(days=2) + timedelta(hours=1),
        scan(
            number,
            now - timedelta(days=4),
            Status.IN_TRANSIT,
            description="Departed hub Leipzig",
            location="Leipzig",
        ),
    )
    await set_parcel(
        db,
        held,
        eta=now + timedelta(days=3),
        promised_eta=held.shipped_at + timedelta(days=2),
        status_since=now - timedelta(days=3),
    )
    await add_exception(db, held, ExceptionKind.CUSTOMS_HOLD, "p1", now - timedelta(days=1))

    stalled = await parcel("stalled", 12)
    await feed_at(
        db,
        stalled.tenant_id,
        now - timedelta(days=8),
        scan(stalled.tracking_number, now - timedelta(days=8), Status.IN_TRANSIT),
    )
    await add_exception(db, stalled, ExceptionKind.STALLED, "p2", now - timedelta(days=2))

    moving = await parcel("moving", 1)
    await feed_at(
        db, moving.tenant_id, now, scan(moving.tracking_number, now - timedelta(hours=3), Status.IN_TRANSIT)
    )
    return history


async def test_lane_health_figures_are_exact(database: Database) -> None:
    history = await make_history(database)
    tenant_id = history["a"].tenant_id
    period = last_days(90, history.now.astimezone(UTC).date(), UTC)
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        found = await report.lane_health(session, tenant_id, period)
    lanes = {f"{lane.warehouse_code}>{lane.country}": lane for lane in found.lanes}
    # every configured lane is listed, with its figures, even without parcels
    assert set(lanes) == {"FRA>DE", "FRA>FR", "FRA>GB", "FXT>GB", "FXT>DE", "EWR>US"}
    germany = lanes["FRA>DE"]
    assert (germany.configured_median, germany.configured_p90) == (2, 3)
    assert germany.shipped == 8  # a–e, held, stalled, moving
    assert germany.delivered == 5
    assert sorted(round(days, 1) for days in germany.transit_days) == [2.0, 2.5, 3.0, 4.0, 6.0]
    assert (germany.median_days, germany.p90_days) == (3.0, 6.0)
    assert germany.slower_than_configured
    assert germany.in_flight == 3  # held, stalled, moving
    assert (germany.on_time, germany.with_promise) == (2, 3)
    assert germany.on_time_rate == 2 / 3
    assert germany.exceptions == {
        ExceptionKind.ETA_SLIPPED: 1,
        ExceptionKind.CUSTOMS_HOLD: 1,
        ExceptionKind.STALLED: 1,
    }
    assert germany.exception_rate(ExceptionKind.CUSTOMS_HOLD) == 1 / 8
    assert germany.exception_rate(ExceptionKind.LOST) == 0
    france = lanes["FRA>FR"]
    assert (france.shipped, france.delivered, france.median_days, france.p90_days) == (1, 1, 3.0, 3.0)
    assert france.in_flight == 0 and france.on_time_rate is None
    quiet = lanes["EWR>US"]
    assert (quiet.shipped, quiet.delivered, quiet.median_days, quiet.in_flight) == (0, 0, None, 0)
    assert quiet.exception_rate(ExceptionKind.STALLED) is None
    assert found.kinds == [ExceptionKind.STALLED, ExceptionKind.CUSTOMS_HOLD, ExceptionKind.ETA_SLIPPED]

    # A period that ends before any delivery: nothing delivered, nothing shipped; in flight is "now".
    early = last_days(30, (history.now - timedelta(days=60)).astimezone(UTC).date(), UTC)
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        before = await report.lane_health(session, tenant_id, early)
    germany_before = next(
        lane for lane in before.lanes if lane.warehouse_code == "FRA" and lane.country == "DE"
    )
    assert (germany_before.shipped, germany_before.delivered, germany_before.in_flight) == (0, 0, 3)

    # Another tenant sees none of it.
    other = await make_tenant(database)
    async with database.transaction(tenant_id=other.tenant_id, readonly=True) as session:
        theirs = await report.lane_health(session, other.tenant_id, period)
    assert theirs.lanes == [] and theirs.empty


async def test_parcels_at_risk_newest_exception_first_with_filters(database: Database) -> None:
    history = await make_history(database)
    held, stalled = history["held"], history["stalled"]
    tenant_id = held.tenant_id
    now = history.now
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        everything = await report.shipments_at_risk(session, tenant_id, now=now)
        only_stalled = await report.shipments_at_risk(
            session, tenant_id, AtRiskFilters(kind=ExceptionKind.STALLED), now=now
        )
        in_france = await report.shipments_at_risk(session, tenant_id, AtRiskFilters(country="fr"), now=now)
        from_frankfurt = await report.shipments_at_risk(
            session, tenant_id, AtRiskFilters(warehouse_id=held.network.warehouses["FRA"]), now=now
        )
        from_felixstowe = await report.shipments_at_risk(
            session, tenant_id, AtRiskFilters(warehouse_id=held.network.warehouses["FXT"]), now=now
        )
        lost = await report.shipments_at_risk(
            session, tenant_id, AtRiskFilters(kind=ExceptionKind.LOST), now=now
        )
    assert [row.shipment.id for row in everything.rows] == [held.shipment_id, stalled.shipment_id]
    assert everything.total == 2
    first = everything.rows[0]
    assert first.order_number == held.number and first.buyer_email == held.email
    assert first.warehouse_code == "FRA" and first.shipment.country == "DE"
    assert first.shipment.status is Status.CUSTOMS and first.shipment.sub_status is SubStatus.CUSTOMS_HELD
    assert [(item.kind, item.priority) for item in first.exceptions] == [(ExceptionKind.CUSTOMS_HOLD, "p1")]
    assert first.priority == "p1"
    assert first.days_since_scan == 3.0  # the customs scan, 3 days ago (the late scan is older)
    assert first.eta_slip_days == 7.0  # expected in 3 days, promised 4 days ago
    second = everything.rows[1]
    assert second.priority == "p2" and second.days_since_scan == 8.0
    assert [row.shipment.id for row in only_stalled.rows] == [stalled.shipment_id]
    assert in_france.rows == [] and in_france.total == 0
    assert len(from_frankfurt.rows) == 2 and from_felixstowe.rows == []
    assert lost.rows == []

    # A kind listed on the parcel without a row of its own still puts it at risk, with the default priority.
    moving = history["moving"]
    await set_parcel(database, moving, open_exceptions=["eta_slipped"])
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        slipped = await report.shipments_at_risk(
            session, tenant_id, AtRiskFilters(kind=ExceptionKind.ETA_SLIPPED), now=now
        )
        limited = await report.shipments_at_risk(session, tenant_id, now=now, limit=1)
    assert [row.shipment.id for row in slipped.rows] == [moving.shipment_id]
    assert [(item.kind, item.priority, item.ticket_id) for item in slipped.rows[0].exceptions] == [
        (ExceptionKind.ETA_SLIPPED, "p3", None)
    ]
    assert limited.total == 3 and len(limited.rows) == 1

    # Cleared: the row resolved and the kind off the parcel → no longer at risk.
    async with database.transaction(tenant_id=tenant_id) as session:
        await session.execute(
            update(ShipmentException)
            .where(ShipmentException.shipment_id == stalled.shipment_id)
            .values(resolved_at=now)
        )
    await set_parcel(database, stalled, open_exceptions=[])
    other = await make_tenant(database)
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        after = await report.shipments_at_risk(session, tenant_id, now=now)
    async with database.transaction(tenant_id=other.tenant_id, readonly=True) as session:
        theirs = await report.shipments_at_risk(session, other.tenant_id, now=now)
    assert {row.shipment.id for row in after.rows} == {held.shipment_id, moving.shipment_id}
    assert theirs.rows == [] and theirs.total == 0


async def test_a_parcel_the_evaluation_job_found_in_customs_is_at_risk_with_its_case(
    database: Database,
) -> None:
    """The same reads over what `watch.do_evaluate` writes (rows, kinds on the parcel, the care ticket)."""
    shipped = await make_shipped(database, days_ago=5)
    now = utcnow()
    number = shipped.tracking_number
    await feed_at(
        database,
        shipped.tenant_id,
        now - timedelta(days=1),
        scan(number, now - timedelta(days=4), Status.IN_TRANSIT),
        scan(number, now - timedelta(days=3), Status.CUSTOMS, SubStatus.CUSTOMS_HELD),
    )
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        await do_evaluate(session, shipment, now=now)
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        found = await report.shipments_at_risk(session, shipped.tenant_id, now=now)
        [row] = found.rows
        held = next(item for item in row.exceptions if item.kind is ExceptionKind.CUSTOMS_HOLD)
        assert held.ticket_id is not None
        panel = await ticket_panel.ticket_parcels(session, shipped.tenant_id, held.ticket_id)
    assert row.shipment.id == shipped.shipment_id and held.priority == "p1"
    assert row.priority == "p1" and row.ticket_ids == [held.ticket_id]
    assert [parcel.shipment.id for parcel in panel] == [shipped.shipment_id] and panel[0].linked
    assert [event.event.status for event in panel[0].events] == [Status.CUSTOMS, Status.IN_TRANSIT]
