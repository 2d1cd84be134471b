"""Cooling-off changes over the REST API (SQLite and PostgreSQL): cancel, change address, change a line,
release for picking, and the audit trail; roles, 409 after release, 422 with field paths, nothing
half-applied."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from aftersail.catalog.models import StockLevel
from aftersail.kit.db import Database
from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

API = "/api/v1"
LONDON = {"name": "Lena Vogel", "line1": "10 Downing St", "city": "London", "postal_code": "SW1A 2AA"}


async def shop(database: Database, **stock: dict[str, int]) -> tuple[TenantFixture, Network]:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for warehouse, skus in stock.items():
        for sku, units in skus.items():
            await network.set_stock(database, warehouse, sku, units)
    return tenant, network


async def place(client: httpx.AsyncClient, tenant: TenantFixture, network: Network, **lines: int) -> Any:
    placed = await client.post(f"{API}/orders", json=order_body(network, lines), headers=tenant.headers())
    assert placed.status_code == 201, placed.text
    return placed.json()


async def reserved(database: Database, network: Network) -> dict[tuple[str, str], int]:
    codes = {v: k for k, v in network.warehouses.items()}
    names = {v: k for k, v in network.skus.items()}
    async with database.transaction(tenant_id=network.tenant_id, readonly=True) as session:
        rows = await session.scalars(select(StockLevel).where(StockLevel.tenant_id == network.tenant_id))
        return {(codes[r.warehouse_id], names[r.sku_id]): r.reserved for r in rows.all() if r.reserved}


async def test_cancel_returns_stock_and_shows_in_the_audit_trail(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 5})
    order = await place(client, tenant, network, lamp=2)
    assert await reserved(database, network) == {("FRA", "lamp"): 2}
    agent = tenant.headers(Role.AGENT)
    answer = await client.post(
        f"{API}/orders/{order['id']}/cancel", json={"reason": "Buyer ordered twice"}, headers=agent
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "cancelled" and body["cancelled_at"] and body["changeable"] is False
    assert body["allocations"] == []
    assert await reserved(database, network) == {}
    trail = (
        await client.get(f"{API}/orders/{order['id']}/events", headers=tenant.headers(Role.VIEWER))
    ).json()
    assert [e["action"] for e in trail] == ["created", "allocated", "cancelled"]
    assert (
        trail[-1]["actor"].startswith("api_key:") and trail[-1]["details"]["reason"] == "Buyer ordered twice"
    )
    again = await client.post(f"{API}/orders/{order['id']}/cancel", json={"reason": "x"}, headers=agent)
    assert again.status_code == 409 and again.json()["error"]["code"] == "change_window_closed"


async def test_address_change_moves_the_order_to_another_warehouse(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 5}, FXT={"lamp": 5})
    order = await place(client, tenant, network, lamp=1)
    assert await reserved(database, network) == {("FRA", "lamp"): 1}
    answer = await client.put(
        f"{API}/orders/{order['id']}/address",
        json={"address": {**LONDON, "country": "gb"}},
        headers=tenant.headers(Role.AGENT),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["country"] == "GB" and body["shipping_address"]["city"] == "London"
    (allocation,) = body["allocations"]
    assert allocation["warehouse_code"] == "FXT" and allocation["status"] == "reserved"
    assert "GB" in allocation["reason"]
    assert await reserved(database, network) == {("FXT", "lamp"): 1}


async def test_address_nobody_ships_to_is_422_on_the_field_and_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 5})
    order = await place(client, tenant, network, lamp=1)
    refused = await client.put(
        f"{API}/orders/{order['id']}/address",
        json={"address": {**LONDON, "country": "JP"}},
        headers=tenant.headers(),
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "no_warehouse_serves" and error["fields"][0]["path"] == "address.country"
    assert "JP" in error["message"]
    unchanged = (await client.get(f"{API}/orders/{order['id']}", headers=tenant.headers())).json()
    assert unchanged["country"] == "DE" and unchanged["status"] == "allocated"
    assert await reserved(database, network) == {("FRA", "lamp"): 1}
    bad = await client.put(
        f"{API}/orders/{order['id']}/address", json={"address": {"country": "XX"}}, headers=tenant.headers()
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "address.country"


async def test_line_change_reallocates_and_recomputes_the_total(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 3, "cable": 3})
    order = await place(client, tenant, network, lamp=1, cable=1)
    lamp_line = next(line for line in order["lines"] if line["sku_id"] == network.skus["lamp"])
    url = f"{API}/orders/{order['id']}/lines/{lamp_line['id']}"
    more = await client.patch(url, json={"quantity": 5}, headers=tenant.headers(Role.AGENT))
    assert more.status_code == 200, more.text
    body = more.json()
    assert body["status"] == "backordered" and body["total_minor"] == 6 * 1999
    changed = next(line for line in body["lines"] if line["id"] == lamp_line["id"])
    assert (changed["quantity"], changed["backordered_quantity"]) == (5, 2)
    assert await reserved(database, network) == {("FRA", "lamp"): 3, ("FRA", "cable"): 1}
    variant = await client.patch(
        url, json={"sku_id": network.skus["case"], "quantity": 1}, headers=tenant.headers()
    )
    assert variant.status_code == 200 and variant.json()["status"] == "backordered"  # no case in stock
    assert await reserved(database, network) == {("FRA", "cable"): 1}


async def test_line_change_bad_input_is_422_with_field_paths(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 3})
    other_tenant, other = await shop(database)
    order = await place(client, tenant, network, lamp=1)
    url = f"{API}/orders/{order['id']}/lines/{order['lines'][0]['id']}"
    cases = [
        ({"sku_id": other.skus["lamp"]}, "sku_id", "invalid_input"),  # another tenant's SKU: no such SKU
        ({"quantity": 0}, "quantity", "validation_error"),
        ({}, "", "validation_error"),
        ({"quantity": 2, "colour": "red"}, "colour", "validation_error"),
    ]
    for body, path, code in cases:
        answer = await client.patch(url, json=body, headers=tenant.headers())
        assert answer.status_code == 422, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code and (not path or error["fields"][0]["path"] == path), (body, error)
    missing = await client.patch(
        f"{API}/orders/{order['id']}/lines/999999999", json={"quantity": 1}, headers=tenant.headers()
    )
    assert missing.status_code == 404 and missing.json()["error"]["fields"][0]["path"] == "line_id"
    assert await reserved(database, network) == {("FRA", "lamp"): 1}
    del other_tenant


async def test_variant_of_another_product_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await shop(database, FRA={"lamp": 3})
    product = await client.post(
        f"{API}/products",
        json={
            "handle": f"mug-{tenant.slug}",
            "title": "Mug",
            "category": "kitchen",
            "skus": [
                {"code": f"MUG-{tenant.slug}", "title": "Mug", "declared_value_minor": 900, "currency": "USD"}
            ],
        },
        headers=tenant.headers(),
    )
    assert product.status_code == 201, product.text
    mug_id = product.json()["skus"][0]["id"]
    order = await place(client, tenant, network, lamp=1)
    answer = await client.patch(
        f"{API}/orders/{order['id']}/lines/{order['lines'][0]['id']}",
        json={"sku_id": mug_id},
        headers=tenant.headers(),
    )
    assert answer.status_code == 422
    assert "same product" in answer.json()["error"]["message"]
    assert answer.json()["error"]["fields"][0]["path"] == "sku_id"


async def test_release_needs_the_warehouse_and_closes_the_window(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await shop(database, FRA={"lamp": 3})
    order = await place(client, tenant, network, lamp=1)
    url = f"{API}/orders/{order['id']}"
    assert (await client.post(f"{url}/release", headers=tenant.headers(Role.AGENT))).status_code == 403
    assert (
        await client.post(f"{url}/cancel", json={"reason": "x"}, headers=tenant.headers(Role.VIEWER))
    ).status_code == 403
    released = await client.post(f"{url}/release", headers=tenant.headers(Role.WAREHOUSE))
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["status"] == "released" and body["released_at"] and body["changeable"] is False
    assert body["allocations"][0]["status"] == "released"
    line = order["lines"][0]["id"]
    for method, path, payload in [
        ("POST", "/cancel", {"reason": "too late"}),
        ("PUT", "/address", {"address": {**LONDON, "country": "GB"}}),
        ("PATCH", f"/lines/{line}", {"quantity": 2}),
    ]:
        refused = await client.request(method, url + path, json=payload, headers=tenant.headers())
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "change_window_closed" and "return or an exchange" in error["message"]
    again = await client.post(f"{url}/release", headers=tenant.headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_releasable"
    after = (await client.get(url, headers=tenant.headers())).json()
    assert after["status"] == "released" and after["country"] == "DE" and after["lines"][0]["quantity"] == 1
    assert await reserved(database, network) == {("FRA", "lamp"): 1}


async def test_another_tenants_order_is_not_found(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await shop(database, FRA={"lamp": 3})
    stranger = await make_tenant(database)
    order = await place(client, tenant, network, lamp=1)
    answer = await client.post(
        f"{API}/orders/{order['id']}/cancel", json={"reason": "x"}, headers=stranger.headers()
    )
    assert answer.status_code == 404
    assert (
        await client.get(f"{API}/orders/{order['id']}/events", headers=stranger.headers())
    ).status_code == 404
    assert await reserved(database, network) == {("FRA", "lamp"): 1}
