"""A delivered order ready to be sent back, built through the services: the fulfilment network of
tests/fulfilment.py (Frankfurt, Felixstowe, New Jersey, all taking returns) with stock, one order placed and
allocated there, then marked delivered some days ago (the order's last status change is its delivery); and the
buyer's return request for it, made through the service as the buyer page makes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from aftersail.catalog import service as catalog
from aftersail.catalog.schemas import LaneCreate
from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.models import Order, OrderStatus
from aftersail.returns import policy as policies
from aftersail.returns import service as returns
from aftersail.returns.rules import Reason, Resolution, ReturnPolicy
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, place_order


@dataclass
class Delivered:
    tenant: TenantFixture
    network: Network
    order_id: int
    number: str
    email: str
    delivered_at: datetime

    @property
    def tenant_id(self) -> int:
        return self.tenant.tenant_id


async def deliver(db: Database, tenant_id: int, order_id: int, *, days_ago: float) -> datetime:
    when = utcnow() - timedelta(days=days_ago)
    async with db.transaction(tenant_id=tenant_id) as session:
        await session.execute(
            update(Order)
            .where(Order.tenant_id == tenant_id, Order.id == order_id)
            .values(status=OrderStatus.DELIVERED, updated_at=when)
        )
    return when


async def add_frankfurt_spain_lane(db: Database, tenant_id: int, network: Network) -> None:
    """Frankfurt serves Spain too (3 days, 7.00 EUR): the way back of a Spanish order."""
    async with db.transaction(tenant_id=tenant_id) as session:
        await catalog.do_create_lane(
            session,
            tenant_id,
            LaneCreate(
                warehouse_id=network.warehouses["FRA"],
                country="ES",
                transit_days_median=3,
                transit_days_p90=5,
                cost_minor=700,
                currency="EUR",
            ),
        )


async def make_delivered(
    db: Database,
    *,
    lines: dict[str, int] | None = None,
    country: str = "ES",
    days_ago: float = 3,
    tenant: TenantFixture | None = None,
    network: Network | None = None,
    email: str | None = None,
    **policy: Any,
) -> Delivered:
    """An order of `lines` (default 2 lamps and 1 cable at 19.99 EUR) to `country`, delivered `days_ago`."""
    tenant = tenant or await make_tenant(db)
    if network is None:
        network = await make_network(db, tenant.tenant_id)
        for sku in network.skus:
            await network.set_stock(db, "FRA", sku, 50)
        await add_frankfurt_spain_lane(db, tenant.tenant_id, network)
    email = email or f"lucia-{utcnow().timestamp():.6f}@example.es"
    order_id = await place_order(db, network, lines or {"lamp": 2, "cable": 1}, country=country, email=email)
    delivered_at = await deliver(db, tenant.tenant_id, order_id, days_ago=days_ago)
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        order = await session.get(Order, order_id)
        assert order is not None
        number = order.number
        if policy:
            await policies.do_set_return_policy(session, tenant.tenant_id, ReturnPolicy(**policy))
    return Delivered(tenant, network, order_id, number, email, delivered_at)


async def order_line_ids(db: Database, delivered: Delivered) -> dict[str, int]:
    """SKU short name (`lamp`, `cable`, …) → order line id of the delivered order."""
    names = {sku_id: name for name, sku_id in delivered.network.skus.items()}
    async with db.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        rows = await orders.order_lines(session, delivered.tenant_id, delivered.order_id)
    return {names[line.sku_id]: line.id for line, _ in rows}


async def request_return(
    db: Database,
    delivered: Delivered,
    ask: returns.ReturnAsk,
    files_dir: Path,
    *,
    key: str = "",
    actor: str = "buyer:test",
) -> int:
    """The request as the buyer page sends it (it opens or joins the order's ticket); `key` (default: one per
    order) is its submission key. Returns the return's id."""
    key = key or f"order-{delivered.order_id}"
    async with db.transaction(tenant_id=delivered.tenant_id) as session:
        order = await session.get(Order, delivered.order_id)
        assert order is not None
        ret = await returns.do_request_return(
            session, order, ask, submission_key=key, actor=actor, files_dir=files_dir
        )
        return ret.id


async def request_fit_refund(
    db: Database,
    delivered: Delivered,
    sku: str,
    quantity: int,
    *,
    key: str,
    files_dir: Path,
    actor: str = "buyer:test",
) -> int:
    """`quantity` of `sku` sent back for the money because they did not fit, the buyer writing in Spanish."""
    line_id = (await order_line_ids(db, delivered))[sku]
    ask = returns.ReturnAsk(
        Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(line_id, quantity)], language="es"
    )
    return await request_return(db, delivered, ask, files_dir, key=key, actor=actor)
