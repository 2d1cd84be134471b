"""Writes the demo plan into a database in one transaction.

Tenants, users and teams go through the tenants service (argon2 hashing, the same checks as the CLI).
The bulk rows — warehouses, lanes, catalog, stock, customers, live sessions, orders and lines — are written
directly through the ORM with multi-row INSERTs rather than through the catalog and orders services: the
demo is historical data (orders already delivered months ago), not new orders to allocate, and thousands of
single-row service calls would make `make run` slow. On PostgreSQL the transaction is a system one so that
row-level security allows writing two tenants at once; every row still carries its `tenant_id`.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Batch, BundleComponent, Lane, Product, Sku, StockLevel, Warehouse
from aftersail.demo.accounts import DEMO_PASSWORD
from aftersail.demo.plan import DEFAULT_ORDERS, DEFAULT_SEED, SellerPlan, build_demo
from aftersail.demo.returns import write_returns
from aftersail.demo.sellers import DEMO_NOW, DEMO_ONBOARDED, DEMO_SLUGS
from aftersail.demo.support import write_support
from aftersail.demo.tracking import write_tracking
from aftersail.demo.warehouses import LANES, WAREHOUSES
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict
from aftersail.orders.models import Customer, LiveSession, Order, OrderLine
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant


@dataclass(slots=True)
class DemoSummary:
    """What was loaded, per tenant slug, and how long it took."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


async def find_demo_tenants(session: AsyncSession) -> list[str]:
    """Slugs of the demo tenants already in the database (run in a system transaction)."""
    found = await session.scalars(
        select(Tenant.slug).where(Tenant.slug.in_(DEMO_SLUGS)).order_by(Tenant.slug)
    )
    return list(found)


async def demo_present(db: Database) -> bool:
    async with db.transaction(system=True) as session:
        return bool(await find_demo_tenants(session))


async def load_demo(
    db: Database, *, seed: int = DEFAULT_SEED, orders: int = DEFAULT_ORDERS, files_dir: Path | None = None
) -> DemoSummary:
    """Build the plan from `seed` and write it. Raises Conflict if a demo tenant already exists."""
    started = time.perf_counter()
    plans = build_demo(seed, orders)
    summary = DemoSummary()
    async with db.transaction(system=True) as session:
        existing = await find_demo_tenants(session)
        if existing:
            raise Conflict(
                f"demo tenants already exist ({', '.join(existing)}); use an empty database or --if-empty",
                field="tenant",
            )
        for plan in plans:
            summary.counts[plan.seller.slug] = await _write_seller(session, plan)
            # Returns go through the returns service, after the orders they send back (demo/returns.py).
            summary.counts[plan.seller.slug] |= await write_returns(
                session, plan.seller.slug, seed=seed, files_dir=files_dir
            )
            # Then the parcels' carrier events, outbound and back (demo/tracking.py).
            summary.counts[plan.seller.slug] |= await write_tracking(session, plan.seller.slug, seed=seed)
    summary.seconds = time.perf_counter() - started
    return summary


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


async def _insert_returning_ids(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = await session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
    return list(result.scalars().all())


async def _insert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(model), rows)


async def _write_seller(session: AsyncSession, plan: SellerPlan) -> dict[str, int]:
    seller = plan.seller
    tenant = await tenants.do_create_tenant(
        session,
        slug=seller.slug,
        name=seller.name,
        default_locale=seller.default_locale,
        time_zone=seller.time_zone,
    )
    tenant.created_at = tenant.updated_at = DEMO_ONBOARDED
    # The demo sellers let the assistant answer their buyers (a real seller switches it on in settings).
    tenant.settings = {**(tenant.settings or {}), "assistant": {"enabled": True}}
    tenant_id = tenant.id
    stamps = {"tenant_id": tenant_id, "created_at": DEMO_ONBOARDED, "updated_at": DEMO_ONBOARDED}

    user_ids: dict[str, int] = {}
    for spec in seller.users:
        user = await tenants.do_create_user(
            session,
            tenant_id=tenant_id,
            email=spec.email,
            name=spec.name,
            password=DEMO_PASSWORD,
            role=spec.role,
            locale=spec.locale,
            time_zone=spec.time_zone,
            languages=list(spec.languages),
        )
        user.created_at = user.updated_at = DEMO_ONBOARDED
        user_ids[spec.email] = user.id
    for team in seller.teams:
        await tenants.do_create_team(
            session,
            tenant_id=tenant_id,
            name=team.name,
            languages=list(team.languages),
            member_ids=[user_ids[email] for email in team.members],
        )

    warehouse_specs = [WAREHOUSES[code] for code in seller.warehouses]
    warehouse_ids = dict(
        zip(
            seller.warehouses,
            await _insert_returning_ids(
                session,
                Warehouse,
                [
                    {
                        **stamps,
                        "code": w.code,
                        "name": w.name,
                        "country": w.country,
                        "regions_served": list(w.regions_served),
                        "time_zone": w.time_zone,
                        "address": dict(w.address),
                        "capabilities": list(w.capabilities),
                        "is_active": True,
                    }
                    for w in warehouse_specs
                ],
            ),
            strict=True,
        )
    )
    lanes = [lane for lane in LANES if lane.warehouse in warehouse_ids]
    await _insert(
        session,
        Lane,
        [
            {
                **stamps,
                "warehouse_id": warehouse_ids[lane.warehouse],
                "country": lane.country,
                "carrier": lane.carrier,
                "transit_days_median": lane.median_days,
                "transit_days_p90": lane.p90_days,
                "cost_minor": lane.cost_minor,
                "currency": lane.currency,
            }
            for lane in lanes
        ],
    )

    products = [(p.code, p.title, p.category, p.brand) for p in seller.products]
    products += [(b.code, b.title, b.category, seller.name) for b in seller.bundles]
    product_ids = dict(
        zip(
            [code for code, *_ in products],
            await _insert_returning_ids(
                session,
                Product,
                [
                    {
                        **stamps,
                        "handle": slugify(title),
                        "title": title,
                        "category": category,
                        "brand": brand,
                        "description": "",
                    }
                    for _, title, category, brand in products
                ],
            ),
            strict=True,
        )
    )

    sku_ids = dict(
        zip(
            [sku.code for sku in plan.skus],
            await _insert_returning_ids(
                session,
                Sku,
                [
                    {
                        **stamps,
                        "product_id": product_ids[sku.product_code],
                        "code": sku.code,
                        "title": sku.title,
                        "attributes": sku.attributes,
                        "category": sku.category,
                        "declared_value_minor": sku.declared_usd,
                        "currency": "USD",
                        "weight_grams": sku.weight_grams,
                        "hs_code": sku.hs_code,
                        "is_bundle": sku.is_bundle,
                        "barcode": sku.barcode,
                    }
                    for sku in plan.skus
                ],
            ),
            strict=True,
        )
    )
    await _insert(
        session,
        BundleComponent,
        [
            {
                "tenant_id": tenant_id,
                "bundle_sku_id": sku_ids[sku.code],
                "component_sku_id": sku_ids[code],
                "quantity": quantity,
            }
            for sku in plan.skus
            for code, quantity in sku.components
        ],
    )

    batch_keys = [(sku.code, batch.code) for sku in plan.skus for batch in sku.batches]
    batch_ids = dict(
        zip(
            batch_keys,
            await _insert_returning_ids(
                session,
                Batch,
                [
                    {
                        **stamps,
                        "sku_id": sku_ids[sku.code],
                        "code": batch.code,
                        "manufactured_on": batch.manufactured_on,
                        "expires_on": batch.expires_on,
                        "received_at": batch.received_at,
                    }
                    for sku in plan.skus
                    for batch in sku.batches
                ],
            ),
            strict=True,
        )
    )
    await _insert(
        session,
        StockLevel,
        [
            {
                "tenant_id": tenant_id,
                "warehouse_id": warehouse_ids[row.warehouse],
                "sku_id": sku_ids[row.sku_code],
                "batch_id": None if row.batch_code is None else batch_ids[(row.sku_code, row.batch_code)],
                "on_hand": row.on_hand,
                "reserved": 0,
                "low_stock_threshold": row.low_stock_threshold,
                "updated_at": DEMO_NOW,
            }
            for row in plan.stock
        ],
    )

    session_ids = await _insert_returning_ids(
        session,
        LiveSession,
        [
            {
                "tenant_id": tenant_id,
                "created_at": spec.starts_at - timedelta(days=7),
                "updated_at": spec.starts_at + spec.duration,
                "title": spec.title,
                "host": spec.host,
                "market": spec.market,
                "platform": spec.platform,
                "starts_at": spec.starts_at,
                "ends_at": spec.starts_at + spec.duration,
            }
            for spec in seller.live_sessions
        ],
    )
    customer_ids = await _insert_returning_ids(
        session,
        Customer,
        [
            {
                "tenant_id": tenant_id,
                "created_at": c.created_at,
                "updated_at": c.created_at,
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "country": c.country,
                "preferred_language": c.language,
                "time_zone": c.time_zone,
            }
            for c in plan.customers
        ],
    )
    order_ids = await _insert_returning_ids(
        session,
        Order,
        [
            {
                "tenant_id": tenant_id,
                "created_at": o.placed_at,
                "updated_at": o.updated_at,
                "number": o.number,
                "customer_id": customer_ids[o.customer],
                "channel": o.channel,
                "status": o.status,
                "currency": o.currency,
                "total_minor": o.total_minor,
                "shipping_address": o.shipping_address,
                "country": o.country,
                "live_session_id": None if o.live_session is None else session_ids[o.live_session],
                "external_ref": o.external_ref,
                "placed_at": o.placed_at,
                "cancelled_at": o.cancelled_at,
            }
            for o in plan.orders
        ],
    )
    lines = [
        {
            "tenant_id": tenant_id,
            "order_id": order_id,
            "sku_id": sku_ids[code],
            "quantity": quantity,
            "unit_price_minor": unit,
            "currency": order.currency,
        }
        for order, order_id in zip(plan.orders, order_ids, strict=True)
        for code, quantity, unit in order.lines
    ]
    await _insert(session, OrderLine, lines)
    support = await write_support(session, tenant_id, seller.time_zone)
    return {
        **support,
        "users": len(user_ids),
        "teams": len(seller.teams),
        "warehouses": len(warehouse_ids),
        "lanes": len(lanes),
        "products": len(product_ids),
        "skus": len(sku_ids),
        "batches": len(batch_ids),
        "stock_levels": len(plan.stock),
        "customers": len(customer_ids),
        "orders": len(order_ids),
        "order_lines": len(lines),
        "live_sessions": len(session_ids),
    }
