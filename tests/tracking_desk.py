"""A shipped parcel ready to be tracked, built through the services: the fulfilment network of
tests/fulfilment.py with stock, one order placed and allocated, its allocation shipped with a carrier and
tracking number (`shipping.service.do_ship_allocation`), and helpers feeding it normalized events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders.models import Allocation, Customer, Order
from aftersail.shipping import service as shipping
from aftersail.shipping.normalized import Source, TrackingUpdate
from aftersail.shipping.rules import Status, SubStatus
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, place_order


@dataclass
class Shipped:
    tenant: TenantFixture
    network: Network
    order_id: int
    number: str
    email: str
    shipment_id: int
    tracking_number: str
    shipped_at: datetime

    @property
    def tenant_id(self) -> int:
        return self.tenant.tenant_id


async def make_shipped(
    db: Database,
    *,
    country: str = "DE",
    language: str = "de",
    lines: dict[str, int] | None = None,
    carrier: str = "dhl",
    tracking_number: str | None = None,
    days_ago: float = 2,
    email: str | None = None,
    tenant: TenantFixture | None = None,
    network: Network | None = None,
) -> Shipped:
    """An order of `lines` (default 1 lamp at 19.99 EUR) to `country`, shipped from Frankfurt `days_ago`
    with `carrier`; the buyer speaks `language`."""
    tenant = tenant or await make_tenant(db)
    if network is None:
        network = await make_network(db, tenant.tenant_id)
        for sku in network.skus:
            await network.set_stock(db, "FRA", sku, 50)
    email = email or f"lena-{uuid.uuid4().hex[:8]}@example.de"
    tracking_number = tracking_number or f"JD{uuid.uuid4().int % 10**16:016d}"
    order_id = await place_order(db, network, lines or {"lamp": 1}, country=country, email=email)
    shipped_at = utcnow() - timedelta(days=days_ago)
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        order = await session.get(Order, order_id)
        assert order is not None
        customer = await session.get(Customer, order.customer_id)
        assert customer is not None
        customer.preferred_language = language
        allocation_id = await session.scalar(
            select(Allocation.id).where(
                Allocation.tenant_id == tenant.tenant_id, Allocation.order_id == order_id
            )
        )
        assert allocation_id is not None
        shipment = await shipping.do_ship_allocation(
            session,
            tenant.tenant_id,
            allocation_id,
            carrier=carrier,
            tracking_number=tracking_number,
            actor="test",
            shipped_at=shipped_at,
        )
        number = order.number
        shipment_id = shipment.id
    return Shipped(
        tenant, network, order_id, number, email, shipment_id, shipment.tracking_number, shipped_at
    )


def scan(
    tracking_number: str,
    when: datetime,
    status: Status,
    sub_status: SubStatus = SubStatus.NONE,
    *,
    description: str = "",
    location: str = "",
    source: str = Source.GENERIC,
) -> TrackingUpdate:
    return TrackingUpdate(
        tracking_number=tracking_number,
        occurred_at=when,
        status=status,
        sub_status=sub_status,
        carrier="dhl",
        description=description or f"{status.value} {sub_status.value}".strip(),
        location=location,
        source=source,
        raw={"status": status.value, "sub_status": sub_status.value, "time": when.isoformat()},
    )


async def feed(db: Database, tenant_id: int, *updates: TrackingUpdate) -> shipping.Ingested:
    async with db.transaction(tenant_id=tenant_id) as session:
        return await shipping.do_ingest(session, tenant_id, list(updates))
