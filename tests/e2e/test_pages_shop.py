"""A small shop for the page tests (console, buyer and browser): warehouses, stock, customers, live session
and orders inserted with the ORM inside one tenant, plus helpers that sign in through the login form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from aftersail.catalog.models import Product, Sku, StockLevel, Warehouse
from aftersail.kit.db import Database
from aftersail.orders.models import Customer, LiveSession, Order, OrderChannel, OrderLine, OrderStatus
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.factories import PASSWORD, TenantFixture, make_tenant

PLACED = datetime(2024, 5, 20, 9, 30, tzinfo=UTC)


@dataclass
class Shop:
    tenant: TenantFixture
    agent_email: str
    orders: dict[str, int] = field(default_factory=dict)  # number → id
    emails: dict[str, str] = field(default_factory=dict)  # customer key → email
    live_session_id: int = 0
    warehouses: dict[str, int] = field(default_factory=dict)  # code → id


async def seed_shop(db: Database, *, name: str = "Harbor & Pine Goods", agent_locale: str = "en") -> Shop:
    """Two warehouses with stock (one SKU low), three customers, one live session and four orders."""
    tenant = await make_tenant(db, name=name)
    tag = uuid.uuid4().hex[:6]
    shop = Shop(tenant=tenant, agent_email=f"agent-{tag}@{tenant.slug}.test")
    async with db.transaction(system=True) as session:
        await tenants.do_create_user(
            session,
            tenant_id=tenant.tenant_id,
            email=shop.agent_email,
            name="Mia Chen",
            password=PASSWORD,
            role=Role.AGENT,
            locale=agent_locale,
            time_zone="Asia/Shanghai",
        )
    tid = tenant.tenant_id
    async with db.transaction(tenant_id=tid) as session:
        product = Product(tenant_id=tid, handle=f"lamp-{tag}", title="Aurora desk lamp", category="lighting")
        session.add(product)
        await session.flush()
        skus = {
            code: Sku(
                tenant_id=tid,
                product_id=product.id,
                code=f"{code}-{tag}",
                title=title,
                category="lighting",
                declared_value_minor=value,
                currency="USD",
            )
            for code, title, value in [
                ("LAMP-BLK", "Aurora desk lamp, black", 3900),
                ("LAMP-WHT", "Aurora desk lamp, white", 3900),
                ("BULB-E27", "Warm LED bulb E27", 600),
            ]
        }
        session.add_all(skus.values())
        us = Warehouse(
            tenant_id=tid,
            code="US-LAX",
            name="Los Angeles",
            country="US",
            time_zone="America/Los_Angeles",
            capabilities=["fulfilment", "returns"],
            regions_served=["US"],
        )
        de = Warehouse(
            tenant_id=tid,
            code="DE-FRA",
            name="Frankfurt",
            country="DE",
            time_zone="Europe/Berlin",
            capabilities=["fulfilment", "video_inspection"],
            regions_served=["DE", "FR"],
        )
        session.add_all([us, de])
        await session.flush()
        shop.warehouses = {"US-LAX": us.id, "DE-FRA": de.id}
        session.add_all(
            [
                StockLevel(
                    tenant_id=tid,
                    warehouse_id=us.id,
                    sku_id=skus["LAMP-BLK"].id,
                    on_hand=120,
                    reserved=20,
                    low_stock_threshold=10,
                ),
                StockLevel(
                    tenant_id=tid,
                    warehouse_id=us.id,
                    sku_id=skus["LAMP-WHT"].id,
                    on_hand=8,
                    reserved=5,
                    low_stock_threshold=10,
                ),
                StockLevel(
                    tenant_id=tid,
                    warehouse_id=de.id,
                    sku_id=skus["BULB-E27"].id,
                    on_hand=400,
                    reserved=0,
                    low_stock_threshold=50,
                ),
            ]
        )
        customers = {
            "emma": Customer(
                tenant_id=tid,
                name="Emma Stone",
                email=f"emma-{tag}@example.com",
                country="US",
                preferred_language="en",
                time_zone="America/New_York",
            ),
            "layla": Customer(
                tenant_id=tid,
                name="Layla Haddad",
                email=f"layla-{tag}@example.com",
                country="AE",
                preferred_language="ar",
                time_zone="Asia/Dubai",
                phone="+971 50 123 4567",
            ),
            "jonas": Customer(
                tenant_id=tid,
                name="Jonas Weber",
                email=f"jonas-{tag}@example.com",
                country="DE",
                preferred_language="de",
                time_zone="Europe/Berlin",
            ),
        }
        session.add_all(customers.values())
        live = LiveSession(
            tenant_id=tid,
            title="Spring lighting live",
            host="Lina",
            market="US",
            platform="TikTok",
            starts_at=PLACED - timedelta(hours=2),
        )
        session.add(live)
        await session.flush()
        shop.live_session_id = live.id
        shop.emails = {key: c.email for key, c in customers.items()}
        plans = [
            (
                "emma",
                f"US-{tag}-1001",
                OrderChannel.WEB_SHOP,
                OrderStatus.SHIPPED,
                "US",
                None,
                0,
                [("LAMP-BLK", 1, 3900), ("BULB-E27", 2, 600)],
                5600,
            ),
            (
                "emma",
                f"US-{tag}-1002",
                OrderChannel.LIVE_SESSION,
                OrderStatus.PENDING,
                "US",
                live.id,
                1,
                [("LAMP-WHT", 1, 3900)],
                3900,
            ),
            (
                "layla",
                f"AE-{tag}-2001",
                OrderChannel.MARKETPLACE,
                OrderStatus.ALLOCATED,
                "AE",
                None,
                3,
                [("LAMP-BLK", 2, 3900)],
                8300,
            ),
            (
                "jonas",
                f"DE-{tag}-3001",
                OrderChannel.WEB_SHOP,
                OrderStatus.DELIVERED,
                "DE",
                None,
                10,
                [("BULB-E27", 4, 600)],
                2400,
            ),
        ]
        for key, number, channel, status, country, live_id, days_ago, lines, total in plans:
            address = {
                "name": customers[key].name,
                "line1": "12 Harbor Street",
                "city": "Springfield",
                "postal_code": "12345",
                "country": country,
            }
            order = Order(
                tenant_id=tid,
                number=number,
                customer_id=customers[key].id,
                channel=channel,
                status=status,
                currency="USD",
                total_minor=total,
                shipping_address=address,
                country=country,
                live_session_id=live_id,
                placed_at=PLACED - timedelta(days=days_ago),
            )
            session.add(order)
            await session.flush()
            shop.orders[number] = order.id
            for sku_key, quantity, price in lines:
                session.add(
                    OrderLine(
                        tenant_id=tid,
                        order_id=order.id,
                        sku_id=skus[sku_key].id,
                        quantity=quantity,
                        unit_price_minor=price,
                        currency="USD",
                    )
                )
    return shop


def hidden_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name!r} in the page"
    return found.group(1)


def meta_csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found, "no csrf-token meta in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Signs in through the login form; returns the session's CSRF token from the console page."""
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "next": "/",
            "form_token": hidden_value(form.text, "form_token"),
        },
    )
    assert response.status_code == 303, response.text
    home = await client.get("/")
    assert home.status_code == 200
    return meta_csrf(home.text)


async def test_seeded_shop_shows_on_the_console_home(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    home = await client.get("/")
    assert "Harbor &amp; Pine Goods" in home.text
    assert "Welcome, Mia Chen" in home.text
    for number in shop.orders:
        assert number in home.text
    assert "Los Angeles" in home.text and "Frankfurt" in home.text
