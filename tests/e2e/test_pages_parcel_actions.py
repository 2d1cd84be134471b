"""Parcel actions in the console over HTTP (SQLite and PostgreSQL): the warehouse hands an allocation to the
carrier from the order page (stock leaves, the order ships, the parcel is tracked; a number already used and
an empty one are refused in Chinese with a 4xx and nothing changes; an agent may not ship); an agent opens a
delivered-not-received claim for the buyer from the parcel page and decides it (a free replacement order)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.orders.models import Allocation, AllocationStatus, Order, OrderStatus
from aftersail.shipping import service as shipping
from aftersail.shipping.models import DeliveryClaim
from aftersail.shipping.rules import ClaimStatus, Status
from aftersail.shipping.watch import do_evaluate
from aftersail.tenants.models import Role
from tests.e2e.test_pages_knowledge import person
from tests.e2e.test_pages_shop import sign_in
from tests.factories import make_tenant
from tests.fulfilment import make_network, place_order
from tests.tracking_desk import feed, make_shipped, scan


async def test_the_warehouse_hands_a_parcel_to_the_carrier(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 5)
    order_id = await place_order(database, network, {"lamp": 2})
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        allocation_id = await session.scalar(select(Allocation.id).where(Allocation.order_id == order_id))
    url = f"/orders/{order_id}/allocations/{allocation_id}/ship"

    csrf = await sign_in(client, await person(database, tenant, Role.AGENT))
    refused = await client.post(url, data={"csrf_token": csrf, "carrier": "dhl", "tracking_number": "JD1"})
    assert refused.status_code == 403
    await client.post("/logout", data={"csrf_token": csrf})

    csrf = await sign_in(client, await person(database, tenant, Role.WAREHOUSE))
    page = await client.get(f"/orders/{order_id}")
    assert "data-ship-form" in page.text and "交给承运商" in page.text
    empty = await client.post(url, data={"csrf_token": csrf, "carrier": "dhl", "tracking_number": " - "})
    assert empty.status_code == 422 and "请填写承运商和运单号" in empty.text
    shipped = await client.post(
        url, data={"csrf_token": csrf, "carrier": "DHL", "tracking_number": "jd 0142 7788"}
    )
    assert shipped.status_code == 303
    after = await client.get(f"/orders/{order_id}")
    assert (
        "包裹已交给承运商" in after.text and "JD01427788" in after.text and "data-ship-form" not in after.text
    )
    assert await network.stock_levels(database) == {("FRA", "lamp", None): (3, 0)}
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        order = await session.get(Order, order_id)
        allocation = await session.get(Allocation, allocation_id)
        parcel = await shipping.find_shipment(session, tenant.tenant_id, "JD01427788")
        assert order is not None and order.status is OrderStatus.SHIPPED
        assert allocation is not None and allocation.status is AllocationStatus.SHIPPED
        assert parcel is not None and parcel.carrier == "dhl" and parcel.allocation_id == allocation_id

    second = await place_order(database, network, {"lamp": 1})
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        other = await session.scalar(select(Allocation.id).where(Allocation.order_id == second))
    taken = await client.post(
        f"/orders/{second}/allocations/{other}/ship",
        data={"csrf_token": csrf, "carrier": "dhl", "tracking_number": "JD01427788"},
    )
    assert taken.status_code == 409 and "该运单号已属于另一个包裹" in taken.text
    assert await network.stock_levels(database) == {("FRA", "lamp", None): (3, 1)}  # nothing left


async def test_an_agent_opens_and_decides_a_claim(client: httpx.AsyncClient, database: Database) -> None:
    shipped = await make_shipped(database, days_ago=3)
    await feed(
        database,
        shipped.tenant_id,
        scan(shipped.tracking_number, utcnow() - timedelta(hours=3), Status.DELIVERED),
    )
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        await do_evaluate(session, shipment, now=utcnow())
    csrf = await sign_in(client, await person(database, shipped.tenant, Role.AGENT))
    page = await client.get(f"/shipments/{shipped.shipment_id}")
    assert "data-missing-form" in page.text and "data-claim-form" not in page.text
    opened = await client.post(
        f"/shipments/{shipped.shipment_id}/missing",
        data={"csrf_token": csrf, "note": "Der Nachbar hat nichts"},
    )
    assert opened.status_code == 303
    page = await client.get(f"/shipments/{shipped.shipment_id}")
    assert "data-claim-form" in page.text and "Der Nachbar hat nichts" in page.text
    wrong = await client.post(
        f"/shipments/{shipped.shipment_id}/claim", data={"csrf_token": csrf, "outcome": "pray"}
    )
    assert wrong.status_code == 422
    decided = await client.post(
        f"/shipments/{shipped.shipment_id}/claim", data={"csrf_token": csrf, "outcome": "reship"}
    )
    assert decided.status_code == 303
    again = await client.post(
        f"/shipments/{shipped.shipment_id}/claim", data={"csrf_token": csrf, "outcome": "refund"}
    )
    assert again.status_code == 409  # decided already: nothing paid on top
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        claim = await session.scalar(
            select(DeliveryClaim).where(DeliveryClaim.shipment_id == shipped.shipment_id)
        )
        assert claim is not None and claim.status is ClaimStatus.RESHIPPED and claim.refunded_minor == 0
        assert claim.replacement_order_id is not None
    page = await client.get(f"/shipments/{shipped.shipment_id}")
    assert "data-claim-form" not in page.text
