"""The tracking benchmark's world: one tenant with the generic-webhook and AfterShip secrets, a warehouse with
its lane to Germany, and parcels on their way to German buyers (shipped orders, one parcel each, numbers
`BT0000000001`…), written in bulk. A seller taking carrier webhooks has a history too: `seed_history` adds
delivered parcels with their events, then ANALYZE, so that PostgreSQL plans the ingest's statements on the
statistics of a database in service (as the allocation benchmark does for the order path)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from aftersail.catalog import service as catalog
from aftersail.catalog.schemas import LaneCreate, WarehouseCreate
from aftersail.kit.db import Database
from aftersail.tenants import service as tenants

SLUG = "bench-tracking"


@dataclass
class TrackingWorld:
    tenant_id: int
    slug: str
    generic_secret: str
    aftership_secret: str
    parcels: int
    warehouse_id: int = 0
    first_shipment_id: int = 0  # the run's parcels have ids from here on (the history comes before)
    history_events: int = 0


def number(index: int) -> str:
    """The tracking number of the run's parcel `index` (0-based)."""
    return f"BT{index + 1:010d}"


async def seed_world(db: Database, *, parcels: int) -> TrackingWorld:
    generic, aftership = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with db.transaction(system=True) as session:
        tenant = await tenants.do_create_tenant(session, slug=SLUG, name="Bench Tracking")
        tenant.settings = {
            **(tenant.settings or {}),
            "tracking_sources": {"generic_secret": generic, "aftership_secret": aftership},
        }
    world = TrackingWorld(tenant.id, SLUG, generic, aftership, parcels)
    async with db.transaction(tenant_id=tenant.id) as session:
        warehouse = await catalog.do_create_warehouse(
            session,
            tenant.id,
            WarehouseCreate(
                code="FRA",
                name="Frankfurt (Raunheim)",
                country="DE",
                time_zone="Europe/Berlin",
                regions_served=["DE"],
                capabilities=["fulfilment", "returns"],
            ),
        )
        await catalog.do_create_lane(
            session,
            tenant.id,
            LaneCreate(
                warehouse_id=warehouse.id,
                country="DE",
                carrier="DHL Paket",
                transit_days_median=2,
                transit_days_p90=3,
                cost_minor=495,
                currency="EUR",
            ),
        )
    world.warehouse_id = warehouse.id
    return world


PARCELS = (
    """
    INSERT INTO customers (tenant_id, name, email, phone, country, preferred_language, time_zone,
        created_at, updated_at)
    SELECT :tenant, 'Buyer ' || g, :prefix || g || '@example.com', '', 'DE', 'de', 'Europe/Berlin',
        now() - interval '100 days', now() - interval '100 days'
    FROM generate_series(1, :count) AS g
    """,
    """
    INSERT INTO orders (tenant_id, number, customer_id, channel, status, currency, total_minor,
        shipping_address, country, external_ref, host, placed_at, created_at, updated_at, delivered_at)
    SELECT :tenant, :prefix || c.id, c.id, 'api', :order_status, 'EUR', 4990, '{}'::json, 'DE', '', '',
        CAST(:placed AS timestamptz), CAST(:placed AS timestamptz), CAST(:shipped AS timestamptz),
        CAST(:delivered AS timestamptz)
    FROM customers AS c WHERE c.tenant_id = :tenant AND c.email LIKE :prefix || '%'
    """,
    """
    INSERT INTO shipments (tenant_id, direction, order_id, customer_id, warehouse_id, country, carrier,
        tracking_number, status, sub_status, shipped_at, last_event_at, status_since, delivered_at,
        failed_attempts, events_count, promised_eta, open_exceptions, created_at, updated_at)
    SELECT :tenant, 'outbound', o.id, o.customer_id, :warehouse, 'DE', 'dhl-germany',
        :prefix || lpad((row_number() OVER (ORDER BY o.id))::text, 10, '0'), :shipment_status, '',
        CAST(:shipped AS timestamptz), CAST(:delivered AS timestamptz), CAST(:delivered AS timestamptz),
        CAST(:delivered AS timestamptz), 0, :events, CAST(:promised AS timestamptz), '[]'::json,
        CAST(:shipped AS timestamptz), CAST(:shipped AS timestamptz)
    FROM orders AS o WHERE o.tenant_id = :tenant AND o.number LIKE :prefix || '%'
    """,
)
HISTORY_EVENTS = """
    INSERT INTO tracking_events (tenant_id, shipment_id, fingerprint, occurred_at, received_at, status,
        sub_status, description, location, source, raw)
    SELECT :tenant, s.id, md5(s.id || ':' || k), s.shipped_at + k * interval '8 hours',
        s.shipped_at + k * interval '8 hours', (ARRAY['info_received', 'in_transit', 'in_transit',
        'in_transit', 'out_for_delivery', 'delivered'])[k + 1], '', 'Scan ' || k, 'Hamburg', 'generic',
        json_build_object('code', k)
    FROM shipments AS s CROSS JOIN generate_series(0, 5) AS k
    WHERE s.tenant_id = :tenant AND s.tracking_number LIKE 'PAST%'
"""


async def _write_parcels(
    db: Database, world: TrackingWorld, *, prefix: str, count: int, ago: timedelta
) -> None:
    """`count` parcels shipped `ago`: pending ones (the run's), or delivered two days later with six events
    each (the history)."""
    history = prefix != "BT"
    async with db.transaction(tenant_id=world.tenant_id) as session:
        now = await session.scalar(text("SELECT now()"))
        shipped = now - ago
        params = {
            "tenant": world.tenant_id,
            "warehouse": world.warehouse_id,
            "prefix": prefix,
            "count": count,
            "order_status": "delivered" if history else "shipped",
            "shipment_status": "delivered" if history else "pending",
            "placed": shipped - timedelta(days=1),
            "shipped": shipped,
            "delivered": shipped + timedelta(days=2) if history else None,
            "promised": shipped + timedelta(days=2),
            "events": 6 if history else 0,
        }
        for statement in PARCELS:
            await session.execute(text(statement), params)
        if history:
            await session.execute(text(HISTORY_EVENTS), params)


async def seed_history(db: Database, world: TrackingWorld, *, parcels: int) -> None:
    """`parcels` delivered parcels of two months ago with six events each."""
    await _write_parcels(db, world, prefix="PAST", count=parcels, ago=timedelta(days=60))
    world.history_events = parcels * 6


async def seed_parcels(db: Database, world: TrackingWorld) -> None:
    """The run's parcels, shipped yesterday, nothing heard from the carrier yet; then ANALYZE."""
    await _write_parcels(db, world, prefix="BT", count=world.parcels, ago=timedelta(days=1))
    async with db.transaction(system=True) as session:
        world.first_shipment_id = int(
            await session.scalar(
                text(
                    "SELECT min(id) FROM shipments WHERE tenant_id = :tenant AND tracking_number LIKE 'BT%'"
                ),
                {"tenant": world.tenant_id},
            )
            or 0
        )
        await session.execute(text("ANALYZE"))
