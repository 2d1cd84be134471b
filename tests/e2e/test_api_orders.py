"""Customers, orders and live sessions over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx

from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network

API = "/api/v1"
ADDRESS = {
    "name": "Ana Buyer",
    "line1": "5 Elm St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "us",
}


def order_body(network: Network, **extra: Any) -> dict[str, Any]:
    """Two lamps by SKU id and a cable by SKU code, shipped to the US (New Jersey serves it)."""
    return {
        "customer": {"name": "Ana Buyer", "email": "Ana@Example.com", "country": "US"},
        "currency": "USD",
        "lines": [
            {"sku_id": network.skus["lamp"], "quantity": 2, "unit_price_minor": 1999},
            {"sku_code": network.codes["cable"], "quantity": 1, "unit_price_minor": 500},
        ],
        "shipping_address": ADDRESS,
        "channel": "web_shop",
    } | extra


async def stocked_network(database: Any, tenant: TenantFixture, units: int = 10) -> Network:
    network = await make_network(database, tenant.tenant_id)
    for sku in ("lamp", "cable"):
        await network.set_stock(database, "EWR", sku, units)
    return network


async def test_order_with_inline_customer_and_lines(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await stocked_network(database, tenant)
    made = await client.post(f"{API}/orders", json=order_body(network), headers=tenant.headers(Role.AGENT))
    assert made.status_code == 201, made.text
    order = made.json()
    assert re.fullmatch(r"AS-\d{6}-[2-9A-HJKMNP-Z]{5}", order["number"])
    assert (order["status"], order["total_minor"], order["currency"], order["country"]) == (
        "allocated",
        2 * 1999 + 500,
        "USD",
        "US",
    )
    assert (order["host"], order["released_at"]) == ("", None)
    assert [
        (ln["sku_code"], ln["quantity"], ln["backordered_quantity"], ln["total_minor"])
        for ln in order["lines"]
    ] == [(network.codes["lamp"], 2, 0, 3998), (network.codes["cable"], 1, 0, 500)]
    [allocation] = order["allocations"]
    assert allocation["warehouse_id"] == network.warehouses["EWR"]
    assert (allocation["warehouse_code"], allocation["warehouse_name"], allocation["status"]) == (
        "EWR",
        "New Jersey (Cranbury, NJ)",
        "reserved",
    )
    assert allocation["reason"] == "New Jersey: all 2 lines in stock, 3 days to US"
    assert allocation["transit_days"] == 3 and allocation["shipment_group_id"] is not None
    lamp_line, cable_line = (ln["id"] for ln in order["lines"])
    assert [
        (al["order_line_id"], al["sku_code"], al["batch_id"], al["quantity"]) for al in allocation["lines"]
    ] == [
        (lamp_line, network.codes["lamp"], None, 2),
        (cable_line, network.codes["cable"], None, 1),
    ]
    assert order["customer"]["email"] == "ana@example.com"
    # The same email (any case) is the same customer.
    again = await client.post(
        f"{API}/orders",
        json=order_body(network, customer={"name": "A. Buyer", "email": "ANA@example.COM", "country": "US"}),
        headers=tenant.headers(),
    )
    assert again.json()["customer_id"] == order["customer_id"]
    assert again.json()["number"] != order["number"]
    fetched = await client.get(f"{API}/orders/{order['id']}", headers=tenant.headers(Role.VIEWER))
    assert fetched.json() == order


async def test_backordered_lines_and_the_audit_trail(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "EWR", "lamp", 1)
    live = await client.post(
        f"{API}/live-sessions",
        json={"title": "Night drop", "host": "Mia", "market": "US", "starts_at": "2025-03-07T12:00:00Z"},
        headers=tenant.headers(),
    )
    body = order_body(network, channel="live_session", live_session_id=live.json()["id"])
    made = await client.post(f"{API}/orders", json=body, headers=tenant.headers(Role.AGENT))
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["status"], order["host"], order["live_session_id"]) == (
        "backordered",
        "Mia",
        live.json()["id"],
    )
    assert [(ln["quantity"], ln["backordered_quantity"]) for ln in order["lines"]] == [(2, 1), (1, 1)]
    [allocation] = order["allocations"]
    assert allocation["reason"] == f"New Jersey: 1 line of 2 ({network.codes['lamp']}), 3 days to US"
    assert [al["quantity"] for al in allocation["lines"]] == [1]
    events = await client.get(f"{API}/orders/{order['id']}/events", headers=tenant.headers(Role.VIEWER))
    assert events.status_code == 200, events.text
    trail = events.json()
    assert [e["action"] for e in trail] == ["created", "backordered"]
    assert {e["actor"] for e in trail} == {trail[0]["actor"]} and trail[0]["actor"]
    assert trail[0]["details"] == {"channel": "live_session"}
    assert trail[1]["details"]["backordered"] == {str(ln["id"]): 1 for ln in order["lines"]}
    assert "not in stock at any warehouse serving US" in trail[1]["details"]["summary"]
    listed = await client.get(f"{API}/orders", params={"status": "backordered"}, headers=tenant.headers())
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]
    assert (await client.get(f"{API}/orders/{10**9}/events", headers=tenant.headers())).status_code == 404


async def test_order_by_customer_id_and_given_number(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FXT", "lamp", 5)
    customer = await client.post(
        f"{API}/customers",
        json={
            "name": "Kenji",
            "email": "kenji@example.jp",
            "country": "JP",
            "preferred_language": "ja",
            "time_zone": "Asia/Tokyo",
        },
        headers=tenant.headers(),
    )
    assert customer.status_code == 201, customer.text
    body = order_body(network, number="SHOP-1001", customer_id=customer.json()["id"]) | {"customer": None}
    body["shipping_address"] = ADDRESS | {"city": "Leeds", "country": "GB"}
    made = await client.post(f"{API}/orders", json=body, headers=tenant.headers())
    assert made.status_code == 201, made.text
    assert (made.json()["number"], made.json()["country"]) == ("SHOP-1001", "GB")
    # Felixstowe is the fastest lane to GB; the cable it lacks is backordered rather than split off.
    assert [a["warehouse_code"] for a in made.json()["allocations"]] == ["FXT"]
    dup = await client.post(f"{API}/orders", json=body, headers=tenant.headers())
    assert dup.status_code == 409


async def test_order_refusals_name_the_field(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await stocked_network(database, tenant)
    lamp = network.skus["lamp"]
    h = tenant.headers()
    cases: list[tuple[dict[str, Any], str]] = [
        (
            order_body(network, lines=[{"sku_code": "NOPE", "quantity": 1, "unit_price_minor": 1}]),
            "lines.0.sku_code",
        ),
        (
            order_body(network, lines=[{"sku_id": 10**9, "quantity": 1, "unit_price_minor": 1}]),
            "lines.0.sku_id",
        ),
        (
            order_body(network, lines=[{"sku_id": lamp, "quantity": 0, "unit_price_minor": 1}]),
            "lines.0.quantity",
        ),
        (
            order_body(network, lines=[{"sku_id": lamp, "quantity": 1, "unit_price_minor": -5}]),
            "lines.0.unit_price_minor",
        ),
        (order_body(network, currency="DOLLARS"), "currency"),
        (order_body(network, shipping_address={"city": "Nowhere"}), "shipping_address.country"),
        (order_body(network, shipping_address=ADDRESS | {"country": "JP"}), "shipping_address.country"),
        (order_body(network, live_session_id=10**9), "live_session_id"),
        (order_body(network, customer_id=10**9) | {"customer": None}, "customer_id"),
        (order_body(network, lines=[]), "lines"),
        (order_body(network, status="shipped"), "status"),
    ]
    for body, path in cases:
        refused = await client.post(f"{API}/orders", json=body, headers=h)
        assert refused.status_code == 422, (path, refused.text)
        assert path in [f["path"] for f in refused.json()["error"]["fields"]], (path, refused.json())
    assert (await client.get(f"{API}/orders", headers=h)).json()["items"] == []
    assert (await client.get(f"{API}/customers", headers=h)).json()["items"] == []


async def test_order_list_filters(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await stocked_network(database, tenant)
    h = tenant.headers()
    live = await client.post(
        f"{API}/live-sessions",
        json={
            "title": "Friday drop",
            "host": "Mia",
            "market": "US",
            "platform": "TikTok",
            "starts_at": "2025-03-07T12:00:00Z",
        },
        headers=h,
    )
    assert live.status_code == 201, live.text
    first = (
        await client.post(
            f"{API}/orders",
            json=order_body(network, number="A-1", placed_at="2025-03-01T00:00:00Z"),
            headers=h,
        )
    ).json()
    second = (
        await client.post(
            f"{API}/orders",
            json=order_body(
                network,
                number="B-2",
                channel="live_session",
                live_session_id=live.json()["id"],
                placed_at="2025-03-07T12:30:00+00:00",
                customer={"name": "Lena Vogel", "email": "lena@example.de", "country": "DE"},
                shipping_address=ADDRESS | {"country": "DE"},
            ),
            headers=h,
        )
    ).json()

    async def numbers(**params: Any) -> list[str]:
        page = await client.get(f"{API}/orders", params=params, headers=h)
        assert page.status_code == 200, page.text
        return [o["number"] for o in page.json()["items"]]

    assert await numbers() == ["B-2", "A-1"]
    assert await numbers(channel="live_session") == ["B-2"]
    assert await numbers(live_session_id=live.json()["id"]) == ["B-2"]
    assert await numbers(country="de") == ["B-2"]
    assert await numbers(customer_id=first["customer_id"]) == ["A-1"]
    assert await numbers(q="A-") == ["A-1"]
    assert await numbers(q="lena@example.de") == ["B-2"]
    assert await numbers(q="vogel") == ["B-2"]
    assert await numbers(placed_from="2025-03-05T00:00:00Z") == ["B-2"]
    assert await numbers(placed_to="2025-03-05T00:00:00Z") == ["A-1"]
    # The stock is in New Jersey: the US order is allocated, the German one waits for stock.
    assert await numbers(status="allocated") == ["A-1"]
    assert await numbers(status="backordered", limit=1) == ["B-2"]
    assert await numbers(status="pending") == []
    assert (await client.get(f"{API}/orders", params={"limit": 201}, headers=h)).status_code == 422
    assert (await client.get(f"{API}/orders", params={"status": "lost"}, headers=h)).status_code == 422
    sessions = (await client.get(f"{API}/live-sessions", headers=h)).json()
    assert [s["title"] for s in sessions] == ["Friday drop"]
    assert (second["live_session_id"], second["host"]) == (live.json()["id"], "Mia")


async def test_customers_create_list_and_get(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers(Role.AGENT)
    for name, email, country in [
        ("Ana", "ana@x.test", "US"),
        ("Ben", "ben@x.test", "GB"),
        ("Cai", "cai@y.test", "GB"),
    ]:
        made = await client.post(
            f"{API}/customers", json={"name": name, "email": email, "country": country}, headers=h
        )
        assert made.status_code == 201, made.text
    dup = await client.post(
        f"{API}/customers", json={"name": "Ana 2", "email": "ANA@x.test", "country": "US"}, headers=h
    )
    assert dup.status_code == 409

    async def names(**params: Any) -> list[str]:
        return [
            c["name"]
            for c in (await client.get(f"{API}/customers", params=params, headers=h)).json()["items"]
        ]

    assert await names() == ["Cai", "Ben", "Ana"]
    assert await names(country="gb") == ["Cai", "Ben"]
    assert await names(email="BEN@x.test") == ["Ben"]
    assert await names(q="y.test") == ["Cai"]
    one = (await client.get(f"{API}/customers", headers=h)).json()["items"][0]
    assert (await client.get(f"{API}/customers/{one['id']}", headers=h)).json() == one
    bad = await client.post(
        f"{API}/customers",
        json={"name": "X", "email": "not-an-email", "country": "US", "time_zone": "Nowhere/City"},
        headers=h,
    )
    assert {f["path"] for f in bad.json()["error"]["fields"]} == {"email", "time_zone"}


async def test_me_and_api_keys(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    me = (await client.get(f"{API}/me", headers=tenant.headers(Role.VIEWER))).json()
    assert (me["tenant"]["slug"], me["role"]) == (tenant.slug, "viewer")
    made = await client.post(
        f"{API}/api-keys", json={"name": "shop sync", "role": "agent"}, headers=tenant.headers()
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith(key["prefix"] + ".")
    as_new = await client.get(f"{API}/me", headers={"Authorization": f"Bearer {key['key']}"})
    assert as_new.json()["role"] == "agent"
    listed = await client.get(f"{API}/api-keys", headers=tenant.headers())
    assert key["key"].split(".")[1] not in listed.text
    row = next(k for k in listed.json() if k["id"] == key["id"])
    assert row["last_used_at"] is not None and "key" not in row
    assert (await client.get(f"{API}/api-keys", headers=tenant.headers(Role.AGENT))).status_code == 403
    revoked = await client.delete(f"{API}/api-keys/{key['id']}", headers=tenant.headers())
    assert revoked.status_code == 204
    assert (
        await client.get(f"{API}/me", headers={"Authorization": f"Bearer {key['key']}"})
    ).status_code == 401
