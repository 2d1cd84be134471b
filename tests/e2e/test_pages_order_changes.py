"""The console order page over HTTP (SQLite and PostgreSQL): allocations with their reasons, backorders,
merged parcels, the audit trail in the viewer's zone, and the cooling-off actions as CSRF-protected forms."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from aftersail.catalog.models import StockLevel
from aftersail.kit.db import Database
from aftersail.kit.i18n import format_when
from aftersail.orders.models import OrderEvent
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.test_pages_shop import PASSWORD, meta_csrf, sign_in
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

API = "/api/v1"


@dataclass
class Desk:
    tenant: TenantFixture
    network: Network
    users: dict[Role, str]  # role → email


NAMES = {Role.AGENT: "Mia Chen", Role.WAREHOUSE: "Jonas Weber", Role.VIEWER: "Vic"}


async def make_desk(
    database: Database,
    *,
    locale: str = "en",
    roles: tuple[Role, ...] = (Role.AGENT,),
    **stock: dict[str, int],
) -> Desk:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for warehouse, skus in stock.items():
        for sku, units in skus.items():
            await network.set_stock(database, warehouse, sku, units)
    users = {}
    async with database.transaction(system=True) as session:
        for role in roles:
            email = f"{role.value}-{uuid.uuid4().hex[:6]}@{tenant.slug}.test"
            await tenants.do_create_user(
                session,
                tenant_id=tenant.tenant_id,
                email=email,
                name=NAMES[role],
                password=PASSWORD,
                role=role,
                locale=locale,
                time_zone="Asia/Shanghai",
            )
            users[role] = email
    return Desk(tenant, network, users)


async def place(client: httpx.AsyncClient, desk: Desk, lines: dict[str, int], **extra: Any) -> Any:
    body = order_body(desk.network, lines, **extra)
    placed = await client.post(f"{API}/orders", json=body, headers=desk.tenant.headers())
    assert placed.status_code == 201, placed.text
    return placed.json()


async def reserved(database: Database, network: Network) -> dict[tuple[str, str], int]:
    codes = {v: k for k, v in network.warehouses.items()}
    names = {v: k for k, v in network.skus.items()}
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        rows = await session.scalars(select(StockLevel).where(StockLevel.tenant_id == network.tenant_id))
        return {(codes[r.warehouse_id], names[r.sku_id]): r.reserved for r in rows.all() if r.reserved}


async def open_page(client: httpx.AsyncClient, order_id: int) -> tuple[str, str]:
    page = await client.get(f"/orders/{order_id}")
    assert page.status_code == 200, page.text
    return page.text, meta_csrf(page.text)


async def test_order_page_shows_allocation_backorders_parcels_and_trail(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, FRA={"lamp": 3, "cable": 1})
    email = f"repeat-{uuid.uuid4().hex[:6]}@example.com"
    first = await place(client, desk, {"lamp": 1}, email=email)
    second = await place(client, desk, {"lamp": 2, "cable": 2}, email=email)  # one cable short
    await sign_in(client, desk.users[Role.AGENT])
    text, _ = await open_page(client, second["id"])
    assert "Frankfurt (Raunheim)" in text and "Why: Frankfurt" in text
    assert "Units waiting for stock (backordered): 1" in text
    assert re.search(r"merged with\s*<a class=\"mono\" href=\"/orders\?q=[^\"]+\">" + first["number"], text)
    assert "Audit trail" in text and "Order placed" in text and "Backordered" in text
    async with database.transaction(tenant_id=desk.tenant.tenant_id, readonly=True) as session:
        created = await session.scalar(
            select(OrderEvent.created_at).where(OrderEvent.order_id == second["id"]).order_by(OrderEvent.id)
        )
    assert format_when(created, "Asia/Shanghai", "en", "short") in text  # the viewer's zone
    assert 'action="/orders/{}/cancel"'.format(second["id"]) in text
    assert 'action="/orders/{}/release"'.format(second["id"]) not in text  # agents do not release


async def test_line_change_through_the_form(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database, FRA={"lamp": 2}, FXT={"lamp": 5})
    order = await place(client, desk, {"lamp": 1})
    await sign_in(client, desk.users[Role.AGENT])
    _, csrf = await open_page(client, order["id"])
    line = order["lines"][0]["id"]
    form = {"sku_id": str(desk.network.skus["lamp"]), "quantity": "4"}
    forged = await client.post(f"/orders/{order['id']}/lines/{line}", data={**form, "csrf_token": "nope"})
    assert forged.status_code == 403 and await reserved(database, desk.network) == {("FRA", "lamp"): 1}
    changed = await client.post(f"/orders/{order['id']}/lines/{line}", data={**form, "csrf_token": csrf})
    assert changed.status_code == 303 and changed.headers["location"] == f"/orders/{order['id']}"
    assert await reserved(database, desk.network) == {("FXT", "lamp"): 4}
    text, _ = await open_page(client, order["id"])
    assert "The line was changed and the order allocated again." in text
    assert "Line changed" in text and "Mia Chen" in text and "×1 → " in text and "×4" in text
    again, _ = await open_page(client, order["id"])
    assert "The line was changed" not in again  # the notice shows once
    zero = await client.post(
        f"/orders/{order['id']}/lines/{line}", data={**form, "quantity": "0", "csrf_token": csrf}
    )
    assert zero.status_code == 422 and "Enter a quantity between 1 and 10000." in zero.text


async def test_address_change_and_refusals_through_the_form(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, FRA={"lamp": 2}, FXT={"lamp": 2})
    order = await place(client, desk, {"lamp": 1})
    await sign_in(client, desk.users[Role.AGENT])
    text, csrf = await open_page(client, order["id"])
    assert '<option value="GB"' in text and '<option value="JP"' not in text  # served countries only
    url = f"/orders/{order['id']}/address"
    london = {"name": "Lena", "line1": "10 Downing St", "city": "London", "postal_code": "SW1A 2AA"}
    missing = await client.post(url, data={**london, "city": "", "country": "GB", "csrf_token": csrf})
    assert missing.status_code == 422 and "Enter the city." in missing.text
    nowhere = await client.post(url, data={**london, "country": "JP", "csrf_token": csrf})
    assert nowhere.status_code == 422 and "No warehouse ships to JP." in nowhere.text
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 1}
    moved = await client.post(url, data={**london, "country": "GB", "csrf_token": csrf})
    assert moved.status_code == 303
    assert await reserved(database, desk.network) == {("FXT", "lamp"): 1}
    text, _ = await open_page(client, order["id"])
    assert "The address was changed and the order allocated again." in text
    assert "Address changed" in text and "Hauptstraße 5, Berlin, DE → 10 Downing St, London, GB" in text


async def test_cancel_and_release_through_the_forms(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(Role.AGENT, Role.WAREHOUSE), FRA={"lamp": 5})
    cancelled, released = await place(client, desk, {"lamp": 1}), await place(client, desk, {"lamp": 2})
    await sign_in(client, desk.users[Role.AGENT])
    _, csrf = await open_page(client, cancelled["id"])
    no_reason = await client.post(f"/orders/{cancelled['id']}/cancel", data={"csrf_token": csrf})
    assert no_reason.status_code == 422 and "Give a reason for the cancellation." in no_reason.text
    done = await client.post(
        f"/orders/{cancelled['id']}/cancel", data={"reason": "Duplicate order", "csrf_token": csrf}
    )
    assert done.status_code == 303
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 2}
    text, _ = await open_page(client, cancelled["id"])
    assert "The order was cancelled and its stock returned." in text and "Duplicate order" in text
    assert 'action="/orders/{}/cancel"'.format(cancelled["id"]) not in text
    agent_release = await client.post(f"/orders/{released['id']}/release", data={"csrf_token": csrf})
    assert agent_release.status_code == 403

    warehouse = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with warehouse:
        await sign_in(warehouse, desk.users[Role.WAREHOUSE])
        page = await warehouse.get(f"/orders/{released['id']}")
        assert 'action="/orders/{}/release"'.format(released["id"]) in page.text
        ok = await warehouse.post(
            f"/orders/{released['id']}/release", data={"csrf_token": meta_csrf(page.text)}
        )
        assert ok.status_code == 303
    text, _ = await open_page(client, released["id"])
    assert "Changes now go through a return or an exchange." in text
    assert 'action="/orders/{}/cancel"'.format(released["id"]) not in text  # actions replaced by the note
    assert "Released to warehouse" in text and "Jonas Weber" in text
    stale = await client.post(f"/orders/{released['id']}/cancel", data={"reason": "late", "csrf_token": csrf})
    assert stale.status_code == 409 and "can no longer change" in stale.text
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 2}


async def test_viewers_see_no_actions_and_cannot_post_them(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(Role.VIEWER,), FRA={"lamp": 5})
    order = await place(client, desk, {"lamp": 1})
    await sign_in(client, desk.users[Role.VIEWER])
    text, csrf = await open_page(client, order["id"])
    assert 'id="actions"' not in text
    refused = await client.post(f"/orders/{order['id']}/cancel", data={"reason": "x", "csrf_token": csrf})
    assert refused.status_code == 403
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 1}


async def test_order_page_in_chinese(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database, locale="zh", FRA={"lamp": 5})
    order = await place(client, desk, {"lamp": 1})
    await sign_in(client, desk.users[Role.AGENT])
    text, _ = await open_page(client, order["id"])
    for expected in ("分仓", "操作记录", "取消订单", "修改地址", "保存地址", "订单已创建"):
        assert expected in text, expected
