"""The demo loader on a fresh, migrated database (SQLite and PostgreSQL): the shape of what it loads, the
live-session bursts, and determinism (same seed, same rows)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Batch, BundleComponent, Lane, Sku, StockLevel, Warehouse
from aftersail.demo.accounts import DEMO_LOGINS, DEMO_PASSWORD, DEMO_TENANT_SLUGS
from aftersail.demo.loader import demo_present, load_demo
from aftersail.demo.markets import MARKETS
from aftersail.demo.sellers import DEMO_NOW, DEMO_SLUGS, ORDER_WINDOW
from aftersail.kit.db import Database, create_engine
from aftersail.kit.errors import Conflict
from aftersail.kit.migrate import upgrade_async
from aftersail.orders.models import Customer, LiveSession, Order, OrderChannel, OrderLine, OrderStatus
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role, Team, TeamMember, Tenant, User

SMALL = 800  # orders in most tests; one full-size run lives in test_demo_cli.py


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(statement))
    await engine.dispose()


@asynccontextmanager
async def fresh_database(db_url: str, folder: Path, *, migrate: bool = True) -> AsyncIterator[Database]:
    """A new, empty database on the same backend as `db_url` (the demo needs an empty one)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{folder / f'demo-{uuid.uuid4().hex[:8]}.db'}"
        name = ""
    else:
        name = f"aftersail_demo_{uuid.uuid4().hex[:10]}"
        await _admin(db_url, f'CREATE DATABASE "{name}"')
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    if migrate:
        await upgrade_async(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()
        if name:
            await _admin(db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def demo_digest(db: Database) -> str:
    """A SHA-256 over customers, orders and lines by their natural keys (never database ids or wall clock)."""
    async with db.transaction(system=True) as session:
        customers = await session.execute(
            select(
                Tenant.slug,
                Customer.email,
                Customer.name,
                Customer.phone,
                Customer.country,
                Customer.preferred_language,
                Customer.time_zone,
                Customer.created_at,
            )
            .join(Tenant, Tenant.id == Customer.tenant_id)
            .order_by(Tenant.slug, Customer.email)
        )
        orders = await session.execute(
            select(
                Tenant.slug,
                Order.number,
                Customer.email,
                Order.channel,
                Order.status,
                Order.currency,
                Order.total_minor,
                Order.shipping_address,
                Order.country,
                LiveSession.title,
                Order.external_ref,
                Order.placed_at,
                Order.cancelled_at,
                Order.updated_at,
            )
            .join(Tenant, Tenant.id == Order.tenant_id)
            .join(Customer, (Customer.id == Order.customer_id) & (Customer.tenant_id == Order.tenant_id))
            .outerjoin(LiveSession, LiveSession.id == Order.live_session_id)
            .order_by(Tenant.slug, Order.number)
        )
        lines = await session.execute(
            select(
                Tenant.slug,
                Order.number,
                Sku.code,
                OrderLine.quantity,
                OrderLine.unit_price_minor,
                OrderLine.currency,
            )
            .join(Order, (Order.id == OrderLine.order_id) & (Order.tenant_id == OrderLine.tenant_id))
            .join(Sku, (Sku.id == OrderLine.sku_id) & (Sku.tenant_id == OrderLine.tenant_id))
            .join(Tenant, Tenant.id == OrderLine.tenant_id)
            .order_by(Tenant.slug, Order.number, Sku.code)
        )
        rows = [list(customers.all()), list(orders.all()), list(lines.all())]

    def plain(value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    payload = json.dumps([[list(row) for row in table] for table in rows], sort_keys=True, default=plain)
    return hashlib.sha256(payload.encode()).hexdigest()


@pytest.fixture(scope="module")
async def demo_db(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with fresh_database(db_url, tmp_path_factory.mktemp("demo")) as db:
        await load_demo(db, orders=SMALL)
        yield db


async def _tenant(session: AsyncSession, slug: str) -> Tenant:
    return await tenants.find_tenant_by_slug(session, slug)


async def test_tenants_users_and_teams(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        shenzhen = await _tenant(session, "shenzhen-gadgets")
        lumiere = await _tenant(session, "lumiere-beauty")
        assert (shenzhen.name, shenzhen.time_zone, shenzhen.default_locale) == (
            "Shenzhen Gadgets & Apparel",
            "Asia/Shanghai",
            "zh",
        )
        assert lumiere.name == "Lumière Beauty"
        assert set(DEMO_SLUGS) == set(DEMO_TENANT_SLUGS)  # what `serve` looks for before printing logins
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 2

        users = {user.email: user for user in await session.scalars(select(User))}
        assert set(users) == {email for email, _ in DEMO_LOGINS}
        for email, description in DEMO_LOGINS:
            user = await tenants.check_login(session, email=email, password=DEMO_PASSWORD)
            expected_tenant = shenzhen if "shenzhen" in email else lumiere
            assert user.tenant_id == expected_tenant.id
            assert user.role is Role(email.split("@")[0])
            assert user.role.value in description
            if "中文" in description or "English" in description:
                assert user.locale == ("zh" if "中文" in description else "en")

        teams = (await session.scalars(select(Team).where(Team.tenant_id == shenzhen.id))).all()
        assert {team.name for team in teams} == {"Returns", "Complaints", "Inquiries"}
        assert all(team.languages for team in teams)
        members = await session.scalar(
            select(func.count()).select_from(TeamMember).where(TeamMember.tenant_id == shenzhen.id)
        )
        assert members and members >= 3


async def test_warehouses_and_lanes(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        shenzhen = await _tenant(session, "shenzhen-gadgets")
        lumiere = await _tenant(session, "lumiere-beauty")
        warehouses = {
            w.code: w
            for w in await session.scalars(select(Warehouse).where(Warehouse.tenant_id == shenzhen.id))
        }
        assert set(warehouses) == {"LAX", "EWR", "FRA", "FXT", "DXB"}
        assert warehouses["FRA"].country == "DE" and warehouses["FRA"].time_zone == "Europe/Berlin"
        assert {"DE", "FR", "IT", "ES", "NL", "PL", "AT", "BE"} <= set(warehouses["FRA"].regions_served)
        assert warehouses["DXB"].time_zone == "Asia/Dubai" and "SA" in warehouses["DXB"].regions_served
        assert "video_inspection" in warehouses["LAX"].capabilities
        assert all("fulfilment" in w.capabilities and w.address["city"] for w in warehouses.values())
        lumiere_codes = set(
            await session.scalars(select(Warehouse.code).where(Warehouse.tenant_id == lumiere.id))
        )
        assert 3 <= len(lumiere_codes) <= 5

        lanes = {
            (code, lane.country): lane
            for lane, code in await session.execute(
                select(Lane, Warehouse.code)
                .join(Warehouse, Warehouse.id == Lane.warehouse_id)
                .where(Lane.tenant_id == shenzhen.id)
            )
        }
        assert 1 <= lanes[("FRA", "DE")].transit_days_median <= lanes[("FRA", "DE")].transit_days_p90 <= 3
        assert lanes[("FRA", "FR")].transit_days_median >= 2 and lanes[("FRA", "FR")].transit_days_p90 <= 4
        assert lanes[("FXT", "GB")].transit_days_p90 <= 2 and lanes[("DXB", "AE")].transit_days_p90 <= 2
        assert lanes[("DXB", "SA")].transit_days_median >= 2 and lanes[("DXB", "SA")].transit_days_p90 <= 4
        for code in ("LAX", "EWR"):
            assert lanes[(code, "US")].transit_days_median >= 2 and lanes[(code, "US")].transit_days_p90 <= 5
        # Cross-region lanes are slower and dearer than the domestic one from the same warehouse.
        assert lanes[("FRA", "US")].transit_days_median > lanes[("FRA", "DE")].transit_days_p90
        assert lanes[("FRA", "US")].cost_minor > lanes[("FRA", "DE")].cost_minor
        assert lanes[("DXB", "AE")].currency == "AED" and lanes[("FXT", "GB")].currency == "GBP"


async def test_catalog_bundles_batches_and_stock(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        skus = list(await session.scalars(select(Sku)))
        assert 180 <= len(skus) <= 220
        assert all(
            sku.currency == "USD" and sku.declared_value_minor > 0 and sku.weight_grams > 0 for sku in skus
        )
        assert all(re.fullmatch(r"\d{4}\.\d{2}", sku.hs_code) for sku in skus)
        assert all(len(sku.barcode) == 13 for sku in skus)
        categories = {sku.category for sku in skus}
        assert {
            "electronics/audio",
            "electronics/charging",
            "apparel/tops",
            "apparel/dresses",
            "beauty/skincare",
            "beauty/cosmetics",
            "beauty/hygiene",
        } <= categories
        plugs = {sku.attributes.get("plug") for sku in skus} - {None}
        assert plugs == {"US", "EU", "UK"}
        assert any("shade" in sku.attributes for sku in skus) and any(
            "size" in sku.attributes for sku in skus
        )

        bundles = [sku for sku in skus if sku.is_bundle]
        assert len(bundles) >= 5
        components = list(await session.scalars(select(BundleComponent)))
        by_id = {sku.id: sku for sku in skus}
        assert {c.bundle_sku_id for c in components} == {sku.id for sku in bundles}
        for component in components:
            part = by_id[component.component_sku_id]
            assert (
                not part.is_bundle
                and part.tenant_id == component.tenant_id == by_id[component.bundle_sku_id].tenant_id
            )

        batches = list(await session.scalars(select(Batch)))
        assert len(batches) >= 100
        cosmetics = {
            sku.id for sku in skus if sku.category.startswith("beauty/") and sku.category != "beauty/hygiene"
        }
        cosmetic_batches = [
            batch for batch in batches if batch.sku_id in cosmetics and not by_id[batch.sku_id].is_bundle
        ]
        assert cosmetic_batches and all(
            b.expires_on and b.manufactured_on < b.expires_on for b in cosmetic_batches
        )
        assert any(
            b.expires_on and b.expires_on < (DEMO_NOW + timedelta(days=120)).date() for b in cosmetic_batches
        )

        stock = list(await session.scalars(select(StockLevel)))
        assert len(stock) > 500
        # Only the demo's exchanges hold stock (reserved for the replacement); the books balance.
        assert all(0 <= row.reserved <= row.on_hand for row in stock)
        assert sum(row.reserved for row in stock) < 100  # an exchange waiting for its parcel, if any
        assert all(
            by_id[row.sku_id].tenant_id == row.tenant_id and not by_id[row.sku_id].is_bundle for row in stock
        )
        near_sell_out = [
            row for row in stock if row.low_stock_threshold and row.on_hand <= row.low_stock_threshold
        ]
        assert 10 <= len(near_sell_out) <= len(stock) // 5


async def test_customers_fit_their_markets(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        customers = list(await session.scalars(select(Customer)))
    by_country: dict[str, list[Customer]] = {}
    for customer in customers:
        by_country.setdefault(customer.country, []).append(customer)
    assert len(by_country) >= 8
    assert all(c.name and "@" in c.email and c.phone.startswith("+") for c in customers)
    assert Counter(c.preferred_language for c in by_country["JP"]).most_common(1)[0][0] == "ja"
    assert Counter(c.preferred_language for c in by_country["SA"]).most_common(1)[0][0] == "ar"
    assert "ar" in {c.preferred_language for c in by_country["AE"]}
    assert {c.preferred_language for c in by_country["DE"]} == {"de"}
    assert {c.time_zone for c in by_country["JP"]} == {"Asia/Tokyo"}
    assert {c.time_zone for c in by_country["GB"]} == {"Europe/London"}
    assert len({c.time_zone for c in by_country["US"]}) >= 3
    assert any(re.search(r"[\u0600-\u06FF]", c.name) for c in by_country["SA"])  # Arabic script names
    assert any(re.search(r"[\u4E00-\u9FFF]", c.name) for c in by_country["JP"])  # kanji names
    emails = Counter((c.tenant_id, c.email) for c in customers)
    assert emails.most_common(1)[0][1] == 1


async def test_orders_money_dates_and_statuses(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        everything = list(await session.scalars(select(Order)))
        lines = list(await session.scalars(select(OrderLine)))
        customer_tenant = dict((await session.execute(select(Customer.id, Customer.tenant_id))).all())
        sku_tenant = dict((await session.execute(select(Sku.id, Sku.tenant_id))).all())
        slugs = dict((await session.execute(select(Tenant.id, Tenant.slug))).all())
    # The demo's exchanges (demo/returns.py) placed replacement orders, at nothing, within the window.
    exchanges = [o for o in everything if o.external_ref.startswith("exchange:RMA")]
    assert all(o.total_minor == 0 and DEMO_NOW - ORDER_WINDOW < o.placed_at < DEMO_NOW for o in exchanges)
    orders = [o for o in everything if o not in exchanges]
    assert len(orders) == SMALL
    lines_by_order: dict[int, list[OrderLine]] = {}
    for line in lines:
        lines_by_order.setdefault(line.order_id, []).append(line)
    prefix = {"shenzhen-gadgets": "SZG", "lumiere-beauty": "LUM"}
    for order in orders:
        assert re.fullmatch(rf"{prefix[slugs[order.tenant_id]]}-1\d{{5}}", order.number)
        assert order.currency == MARKETS[order.country].currency
        assert order.shipping_address["country"] == order.country and order.shipping_address["line1"]
        assert customer_tenant[order.customer_id] == order.tenant_id
        assert DEMO_NOW - ORDER_WINDOW <= order.placed_at < DEMO_NOW
        order_lines = lines_by_order[order.id]
        assert all(
            line.currency == order.currency and line.tenant_id == order.tenant_id for line in order_lines
        )
        assert all(sku_tenant[line.sku_id] == order.tenant_id for line in order_lines)
        assert order.total_minor == sum(line.quantity * line.unit_price_minor for line in order_lines) > 0
        assert (order.status is OrderStatus.CANCELLED) == (order.cancelled_at is not None)
        assert (order.channel is OrderChannel.LIVE_SESSION) == (order.live_session_id is not None)
    assert len({order.country for order in orders}) >= 8
    assert {order.currency for order in orders} >= {"USD", "EUR", "GBP", "AED", "SAR", "JPY"}
    channels = Counter(order.channel for order in orders)
    assert (
        channels[OrderChannel.WEB_SHOP]
        and channels[OrderChannel.MARKETPLACE]
        and channels[OrderChannel.LIVE_SESSION]
    )
    old = Counter(o.status for o in orders if o.placed_at < DEMO_NOW - timedelta(days=20))
    assert old[OrderStatus.DELIVERED] > 0.8 * sum(old.values())
    assert old[OrderStatus.CANCELLED] > 0
    recent = Counter(o.status for o in orders if o.placed_at > DEMO_NOW - timedelta(days=2))
    assert recent[OrderStatus.ALLOCATED] + recent[OrderStatus.PENDING] > 0
    assert recent[OrderStatus.DELIVERED] == 0


async def test_live_sessions_are_bursts(demo_db: Database) -> None:
    async with demo_db.transaction(system=True) as session:
        sessions = list(await session.scalars(select(LiveSession)))
        assert len(sessions) == 3
        for live in sessions:
            assert live.host and live.ends_at is not None
            assert timedelta(hours=1) <= live.ends_at - live.starts_at <= timedelta(hours=2)
            orders = list(
                await session.scalars(
                    select(Order).where(Order.tenant_id == live.tenant_id, Order.live_session_id == live.id)
                )
            )
            assert len(orders) >= SMALL * 0.03
            assert all(
                live.starts_at <= o.placed_at <= live.ends_at and o.channel is OrderChannel.LIVE_SESSION
                for o in orders
            )
            skus = set(
                await session.scalars(
                    select(OrderLine.sku_id).where(OrderLine.order_id.in_([o.id for o in orders]))
                )
            )
            assert len(skus) <= 6
            # A burst: the first half hour carries far more orders than an even spread would.
            window = (live.ends_at - live.starts_at).total_seconds()
            early = sum(1 for o in orders if (o.placed_at - live.starts_at).total_seconds() < 1800)
            assert early > len(orders) * 1800 / window * 1.2
            # Outside the session the same hour of that day is quiet.
            before = await session.scalar(
                select(func.count())
                .select_from(Order)
                .where(
                    Order.tenant_id == live.tenant_id,
                    Order.live_session_id.is_(None),
                    Order.placed_at >= live.starts_at,
                    Order.placed_at <= live.ends_at,
                )
            )
            assert (before or 0) < len(orders) / 5


async def test_loading_twice_is_refused(demo_db: Database) -> None:
    assert await demo_present(demo_db)
    with pytest.raises(Conflict):
        await load_demo(demo_db, orders=10)


async def test_same_seed_same_data(db_url: str, tmp_path: Path) -> None:
    digests = []
    for seed in (7, 7, 8):
        async with fresh_database(db_url, tmp_path) as db:
            await load_demo(db, seed=seed, orders=300)
            digests.append(await demo_digest(db))
    assert digests[0] == digests[1]
    assert digests[2] != digests[0]


async def test_support_desk_cases_in_buyers_languages(demo_db: Database) -> None:
    from aftersail.support.models import CsatRating, Macro, TeamRouting, Ticket, TicketMessage

    async with demo_db.transaction(system=True) as session:
        for slug in DEMO_SLUGS:
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            assert tenant is not None
            cases = list(await session.scalars(select(Ticket).where(Ticket.tenant_id == tenant.id)))
            assert len(cases) >= 5, slug
            assert len({t.language for t in cases}) >= 5  # buyers write in their own languages
            assert all(t.team_id is not None for t in cases)  # routed to a team, waiting for an agent
            assert {t.status.value for t in cases} >= {"open", "pending_customer", "resolved"}
            first = await session.scalar(
                select(TicketMessage).where(TicketMessage.ticket_id == cases[0].id).order_by(TicketMessage.id)
            )
            assert first is not None and first.language == cases[0].language
            routing = list(
                await session.scalars(select(TeamRouting).where(TeamRouting.tenant_id == tenant.id))
            )
            assert routing and all(r.calendar.get("time_zone") == tenant.time_zone for r in routing)
            assert await session.scalar(select(func.count()).where(Macro.tenant_id == tenant.id)) >= 4
            assert await session.scalar(select(func.count()).where(CsatRating.tenant_id == tenant.id)) >= 1


async def test_returns_in_several_states(demo_db: Database) -> None:
    """demo/returns.py: delivered orders sent back through the returns service and taken as far as their age
    allows, shipped from batches (so that returns count per batch)."""
    from aftersail.orders.models import Allocation
    from aftersail.returns.models import ReturnLine, ReturnRequest

    async with demo_db.transaction(system=True) as session:
        found = (
            await session.execute(select(ReturnRequest.status, func.count()).group_by(ReturnRequest.status))
        ).all()
        statuses = {status.value: count for status, count in found}
        assert len(statuses) >= 5, statuses
        assert {"approved", "refunded"} <= set(statuses)  # every state: the full demo (test_demo_cli.py)
        delivered = await session.scalar(
            select(func.count()).select_from(Order).where(Order.status == OrderStatus.DELIVERED)
        )
        assert delivered and 0.005 * delivered < sum(statuses.values()) < 0.1 * delivered  # a few per cent
        routed = (
            await session.scalars(select(ReturnRequest).where(ReturnRequest.warehouse_id.is_not(None)))
        ).all()
        assert routed and all(r.tracking_number and r.requested_at < DEMO_NOW for r in routed)
        assert await session.scalar(select(func.count()).select_from(Allocation)) >= delivered
        batched = await session.scalar(
            select(func.count()).select_from(ReturnLine).where(ReturnLine.batch_id.is_not(None))
        )
        assert batched


async def test_tracked_parcels_and_their_events(demo_db: Database) -> None:
    """demo/tracking.py: a parcel per shipped allocation and per return on its way, carrier events in time
    order that fold to the parcel's status, exceptions of several kinds, delivered orders dated by their
    delivery scan."""
    from aftersail.orders.models import Allocation, AllocationStatus
    from aftersail.returns.models import ReturnRequest
    from aftersail.shipping.models import Shipment, ShipmentException, TrackingEvent
    from aftersail.shipping.rules import Direction, Scan, Status, fold

    async with demo_db.transaction(system=True) as session:
        shipped = set(
            await session.scalars(select(Allocation.id).where(Allocation.status == AllocationStatus.SHIPPED))
        )
        parcels = list(await session.scalars(select(Shipment)))
        events: dict[int, list[TrackingEvent]] = {}
        for event in await session.scalars(select(TrackingEvent).order_by(TrackingEvent.id)):
            events.setdefault(event.shipment_id, []).append(event)
        exceptions = list(await session.scalars(select(ShipmentException)))
        delivered = {
            o.id: o for o in await session.scalars(select(Order).where(Order.status == OrderStatus.DELIVERED))
        }
        on_the_way = {
            o.id for o in await session.scalars(select(Order).where(Order.status == OrderStatus.SHIPPED))
        }
        labelled = set(
            await session.scalars(
                select(ReturnRequest.id).where(
                    ReturnRequest.tracking_number != "",
                    ReturnRequest.keep_item.is_(False),
                    ReturnRequest.status.not_in(["rejected", "cancelled"]),
                )
            )
        )

    outbound = [p for p in parcels if p.direction is Direction.OUTBOUND]
    assert sorted(p.allocation_id for p in outbound if p.allocation_id) == sorted(shipped)  # one each
    assert {p.return_id for p in parcels if p.direction is Direction.RETURN} == labelled
    assert len({(p.tenant_id, p.tracking_number) for p in parcels}) == len(parcels)
    for parcel in parcels:
        story = events.get(parcel.id, [])
        assert parcel.events_count == len(story)
        if not story:
            assert parcel.status is Status.PENDING and parcel.direction is Direction.RETURN
            continue
        in_time = sorted(story, key=lambda e: e.occurred_at)
        assert [e.id for e in in_time] == [e.id for e in story]  # written in the order they happened
        newest = in_time[-1]
        assert (parcel.status, parcel.sub_status, parcel.last_event_at) == (
            newest.status,
            newest.sub_status,
            newest.occurred_at,
        )
        assert fold(Scan(e.occurred_at, e.status, e.sub_status) for e in story).status is parcel.status
        assert all(e.raw and e.description and e.source == "demo" for e in story)
        assert in_time[0].occurred_at <= parcel.shipped_at <= DEMO_NOW and newest.occurred_at <= DEMO_NOW
        if parcel.direction is Direction.OUTBOUND:
            assert (parcel.status is Status.DELIVERED) == (parcel.order_id in delivered)
        if parcel.status is Status.DELIVERED:
            assert parcel.delivered_at == newest.occurred_at
    for order in delivered.values():
        if any(p.order_id == order.id for p in outbound):
            assert order.delivered_at is not None and order.delivered_at == order.updated_at
    # Exceptions: several kinds, the open ones listed on their parcel.
    kinds = Counter(x.kind.value for x in exceptions)
    assert len(kinds) >= 5, kinds
    assert {"stalled", "failed_attempts"} <= set(kinds), kinds
    open_by_parcel: dict[int, set[str]] = {}
    for x in exceptions:
        if x.resolved_at is None:
            open_by_parcel.setdefault(x.shipment_id, set()).add(x.kind.value)
        assert x.opened_at <= DEMO_NOW and (x.resolved_at is None or x.opened_at <= x.resolved_at)
    assert all(set(p.open_exceptions) == open_by_parcel.get(p.id, set()) for p in parcels)
    statuses = Counter(p.status for p in outbound if p.order_id in on_the_way)
    assert statuses[Status.IN_TRANSIT] and len(statuses) >= 3, statuses
