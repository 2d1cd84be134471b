"""The allocation benchmark's world, built through the services like any seller's: one tenant with an
API key, six warehouses with lanes to six destination countries, a catalog of SKUs stocked everywhere,
a few hot SKUs for the live-stream sell-out, and the live session the orders belong to.

A seller going live has a history: `seed_history` writes past buyers, delivered orders and closed
parcels in bulk, and the tables are analysed, so that PostgreSQL plans the intake's statements on the
statistics a database in service has (on empty, never-analysed tables it would plan them for a handful
of rows and keep those plans while the tables grow during the run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text

from aftersail.catalog import service as catalog
from aftersail.catalog import stock
from aftersail.catalog.schemas import LaneCreate, ProductCreate, SkuCreate, StockSet, WarehouseCreate
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.schemas import LiveSessionCreate
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role

# code → (name, country, time zone, {destination: (median days, p90 days, cost in cents)})
WAREHOUSES: dict[str, tuple[str, str, str, dict[str, tuple[int, int, int]]]] = {
    "FRA": (
        "Frankfurt (Raunheim)",
        "DE",
        "Europe/Berlin",
        {"DE": (2, 3, 450), "FR": (3, 4, 650), "GB": (4, 6, 900)},
    ),
    "FXT": ("Felixstowe (Suffolk)", "GB", "Europe/London", {"GB": (1, 2, 350), "DE": (4, 6, 800)}),
    "EWR": ("New Jersey (Cranbury, NJ)", "US", "America/New_York", {"US": (3, 5, 600)}),
    "LAX": ("Los Angeles (Ontario, CA)", "US", "America/Los_Angeles", {"US": (2, 4, 700)}),
    "DXB": ("Dubai (Jebel Ali)", "AE", "Asia/Dubai", {"AE": (2, 3, 900)}),
    "KIX": ("Osaka (Izumisano)", "JP", "Asia/Tokyo", {"JP": (1, 2, 400)}),
}
# Where buyers live in the steady phase, and during the hot phase (a stream for the European market).
COUNTRIES = ("DE", "FR", "GB", "US", "AE", "JP")
HOT_COUNTRIES = ("DE", "FR", "GB")
# Hot SKUs sit in the two European warehouses only; Frankfurt holds the larger share.
HOT_WAREHOUSES = {"FRA": 0.6, "FXT": 0.4}
COLD_STOCK = 20_000  # per warehouse and SKU: never runs out during a run
HOT_LOW_STOCK = 20


@dataclass
class World:
    tenant_id: int
    api_key: str
    live_session_id: int
    warehouses: dict[str, int] = field(default_factory=dict)
    cold_skus: list[int] = field(default_factory=list)
    hot_skus: list[int] = field(default_factory=list)
    stock_rows: int = 0
    history_until: int = 0  # the last order id of the seeded history; the run's orders come after it
    outbox_until: int = 0  # the last outbox event id of the seeded history


async def seed_world(db: Database, *, skus: int, hot: int) -> World:
    """Everything but the hot SKUs' stock, which `set_hot_stock` sizes from the measured rate."""
    async with db.transaction(system=True) as session:
        tenant = await tenants.do_create_tenant(session, slug="bench-seller", name="Bench Seller")
        api_key, _ = await tenants.do_create_api_key(
            session, tenant_id=tenant.id, name="order intake", role=Role.ADMIN
        )
    world = World(tenant_id=tenant.id, api_key=api_key, live_session_id=0)
    async with db.transaction(tenant_id=tenant.id) as session:
        for code, (name, country, zone, lanes) in WAREHOUSES.items():
            warehouse = await catalog.do_create_warehouse(
                session,
                tenant.id,
                WarehouseCreate(
                    code=code,
                    name=name,
                    country=country,
                    time_zone=zone,
                    regions_served=list(lanes),
                    capabilities=["fulfilment", "returns"],
                ),
            )
            world.warehouses[code] = warehouse.id
            for destination, (median, p90, cost) in lanes.items():
                await catalog.do_create_lane(
                    session,
                    tenant.id,
                    LaneCreate(
                        warehouse_id=warehouse.id,
                        country=destination,
                        transit_days_median=median,
                        transit_days_p90=p90,
                        cost_minor=cost,
                        currency="EUR",
                    ),
                )
        _, created = await catalog.do_create_product(
            session,
            tenant.id,
            ProductCreate(
                handle="live-drop",
                title="Live drop collection",
                category="home/lighting",
                skus=[
                    SkuCreate(
                        code=f"DROP-{n:04d}",
                        title=f"Drop item {n}",
                        declared_value_minor=1500,
                        currency="EUR",
                        weight_grams=300,
                    )
                    for n in range(1, skus + 1)
                ],
            ),
        )
        world.hot_skus = [sku.id for sku in created[:hot]]
        world.cold_skus = [sku.id for sku in created[hot:]]
        for sku_id in world.cold_skus:
            for warehouse_id in world.warehouses.values():
                await stock.do_set_stock(
                    session, tenant.id, StockSet(warehouse_id=warehouse_id, sku_id=sku_id, on_hand=COLD_STOCK)
                )
        world.stock_rows = len(world.cold_skus) * len(world.warehouses)
        live = await orders.do_create_live_session(
            session,
            tenant.id,
            LiveSessionCreate(
                title="Friday night drop",
                host="Mia",
                market="DE",
                platform="TikTok Live",
                starts_at=utcnow(),
                ends_at=utcnow() + timedelta(hours=2),
            ),
        )
        world.live_session_id = live.id
    return world


HISTORY = (
    """
    INSERT INTO customers (tenant_id, name, email, phone, country, preferred_language, time_zone,
        created_at, updated_at)
    SELECT :tenant, 'Past buyer ' || g, 'past' || g || '@example.com', '', 'DE', 'de', 'Europe/Berlin',
        now() - interval '200 days', now() - interval '200 days'
    FROM generate_series(1, :orders) AS g
    """,
    """
    INSERT INTO orders (tenant_id, number, customer_id, channel, status, currency, total_minor,
        shipping_address, country, external_ref, host, placed_at, created_at, updated_at)
    SELECT :tenant, 'PAST-' || c.id, c.id, 'api', 'delivered', 'EUR', 4990, '{}'::json, 'DE', '', '',
        now() - interval '100 days', now() - interval '100 days', now() - interval '90 days'
    FROM customers AS c WHERE c.tenant_id = :tenant AND c.email LIKE 'past%'
    """,
    """
    INSERT INTO order_lines (tenant_id, order_id, sku_id, quantity, unit_price_minor, currency)
    SELECT :tenant, o.id, s.ids[1 + (o.id + k) % cardinality(s.ids)], 1, 2495, 'EUR'
    FROM orders AS o CROSS JOIN generate_series(1, 2) AS k
        CROSS JOIN (SELECT CAST(:skus AS bigint[]) AS ids) AS s
    WHERE o.tenant_id = :tenant
    """,
    """
    INSERT INTO shipment_groups (tenant_id, warehouse_id, customer_id, address_key, is_open, closes_at,
        created_at, updated_at)
    SELECT :tenant, :warehouse, o.customer_id, md5(o.number), false, o.placed_at + interval '1 hour',
        o.placed_at, o.placed_at
    FROM orders AS o WHERE o.tenant_id = :tenant
    """,
    """
    INSERT INTO allocations (tenant_id, order_id, warehouse_id, shipment_group_id, status, reason,
        transit_days, created_at, updated_at)
    SELECT :tenant, o.id, :warehouse, g.id, 'shipped', 'Frankfurt: all 2 lines in stock, 2 days to DE', 2,
        o.placed_at, o.updated_at
    FROM orders AS o
    JOIN shipment_groups AS g
        ON g.tenant_id = :tenant AND g.customer_id = o.customer_id AND g.address_key = md5(o.number)
    WHERE o.tenant_id = :tenant
    """,
    """
    INSERT INTO allocation_lines (tenant_id, allocation_id, order_line_id, stock_level_id, sku_id, batch_id,
        quantity)
    SELECT :tenant, a.id, l.id, s.id, l.sku_id, s.batch_id, l.quantity
    FROM order_lines AS l
    JOIN allocations AS a ON a.tenant_id = :tenant AND a.order_id = l.order_id
    JOIN LATERAL (
        SELECT id, batch_id FROM stock_levels
        WHERE tenant_id = :tenant AND sku_id = l.sku_id AND warehouse_id = :warehouse
        ORDER BY id LIMIT 1
    ) AS s ON true
    WHERE l.tenant_id = :tenant
    """,
    """
    INSERT INTO order_events (tenant_id, order_id, actor, action, details, created_at)
    SELECT :tenant, o.id, 'api_key:0', v.action, '{}'::json, o.placed_at
    FROM orders AS o CROSS JOIN (VALUES ('created'), ('allocated'), ('delivered')) AS v (action)
    WHERE o.tenant_id = :tenant
    """,
    """
    INSERT INTO outbox_events (tenant_id, topic, payload, status, due_at, attempts, max_attempts,
        created_at, finished_at)
    SELECT :tenant, v.topic, json_build_object('order_id', o.id), 'done', o.placed_at, 1, 8, o.placed_at,
        o.placed_at
    FROM orders AS o CROSS JOIN (VALUES ('live.orders'), ('live.stock')) AS v (topic)
    WHERE o.tenant_id = :tenant
    """,
)


async def seed_history(db: Database, world: World, *, orders: int) -> None:
    """`orders` past buyers with one delivered two-line order each, shipped from Frankfurt (a closed parcel,
    an allocation and its lines, the audit trail, delivered outbox events); then ANALYZE, so that the run
    is planned on the statistics of a database in service, as every table of the order path has rows."""
    params = {
        "tenant": world.tenant_id,
        "orders": orders,
        "skus": world.cold_skus,
        "warehouse": world.warehouses["FRA"],
    }
    async with db.transaction(tenant_id=world.tenant_id) as session:
        for statement in HISTORY:
            await session.execute(text(statement), params)
        last = await session.scalar(text("SELECT max(id) FROM orders WHERE tenant_id = :tenant"), params)
        last_event = await session.scalar(text("SELECT max(id) FROM outbox_events"))
    world.history_until = int(last or 0)
    world.outbox_until = int(last_event or 0)
    async with db.transaction(system=True) as session:
        await session.execute(text("ANALYZE"))


async def set_hot_stock(db: Database, world: World, units: int) -> dict[tuple[str, int], int]:
    """Spread `units` over the hot SKUs and their warehouses, as a warehouse snapshot would set them."""
    per_sku = max(units // max(len(world.hot_skus), 1), 1)
    placed: dict[tuple[str, int], int] = {}
    async with db.transaction(tenant_id=world.tenant_id) as session:
        for sku_id in world.hot_skus:
            for code, share in HOT_WAREHOUSES.items():
                on_hand = max(int(per_sku * share), 1)
                await stock.do_set_stock(
                    session,
                    world.tenant_id,
                    StockSet(
                        warehouse_id=world.warehouses[code],
                        sku_id=sku_id,
                        on_hand=on_hand,
                        low_stock_threshold=HOT_LOW_STOCK,
                    ),
                )
                placed[(code, sku_id)] = on_hand
    world.stock_rows += len(placed)
    return placed
