"""Customers, orders and live sessions over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx

from aftersail.tenants.models import Role
from tests.e2e.test_api_catalog import product_body
from tests.factories import TenantFixture, make_tenant

API = "/api/v1"
ADDRESS = {
    "name": "Ana Buyer",
    "line1": "5 Elm St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "us",
}


def order_body(skus: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "customer": {"name": "Ana Buyer", "email": "Ana@Example.com", "country": "US"},
        "currency": "USD",
        "lines": [
            {"sku_id": skus[0]["id"], "quantity": 2, "unit_price_minor": 1999},
            {"sku_code": skus[1]["code"], "quantity": 1, "unit_price_minor": 500},
        ],
        "shipping_address": ADDRESS,
        "channel": "web_shop",
    } | extra


async def skus_of(client: httpx.AsyncClient, tenant: TenantFixture) -> list[dict[str, Any]]:
    product = await client.post(f"{API}/products", json=product_body(), headers=tenant.headers())
    return list(product.json()["skus"])


async def test_order_with_inline_customer_and_lines(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    skus = await skus_of(client, tenant)
    made = await client.post(f"{API}/orders", json=order_body(skus), headers=tenant.headers(Role.AGENT))
    assert made.status_code == 201, made.text
    order = made.json()
    assert re.fullmatch(r"AS-\d{6}-[2-9A-HJKMNP-Z]{5}", order["number"])
    assert (order["status"], order["total_minor"], order["currency"], order["country"]) == (
        "pending",
        2 * 1999 + 500,
        "USD",
        "US",
    )
    assert [(ln["sku_code"], ln["quantity"], ln["total_minor"]) for ln in order["lines"]] == [
        (skus[0]["code"], 2, 3998),
        (skus[1]["code"], 1, 500),
    ]
    assert order["customer"]["email"] == "ana@example.com"
    # The same email (any case) is the same customer.
    again = await client.post(
        f"{API}/orders",
        json=order_body(skus, customer={"name": "A. Buyer", "email": "ANA@example.COM", "country": "US"}),
        headers=tenant.headers(),
    )
    assert again.json()["customer_id"] == order["customer_id"]
    assert again.json()["number"] != order["number"]
    fetched = await client.get(f"{API}/orders/{order['id']}", headers=tenant.headers(Role.VIEWER))
    assert fetched.json() == order


async def test_order_by_customer_id_and_given_number(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    skus = await skus_of(client, tenant)
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
    body = order_body(skus, number="SHOP-1001", customer_id=customer.json()["id"]) | {"customer": None}
    body["shipping_address"] = ADDRESS | {"country": "JP"}
    made = await client.post(f"{API}/orders", json=body, headers=tenant.headers())
    assert made.status_code == 201, made.text
    assert (made.json()["number"], made.json()["country"]) == ("SHOP-1001", "JP")
    dup = await client.post(f"{API}/orders", json=body, headers=tenant.headers())
    assert dup.status_code == 409


async def test_order_refusals_name_the_field(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    skus = await skus_of(client, tenant)
    h = tenant.headers()
    cases: list[tuple[dict[str, Any], str]] = [
        (
            order_body(skus, lines=[{"sku_code": "NOPE", "quantity": 1, "unit_price_minor": 1}]),
            "lines.0.sku_code",
        ),
        (order_body(skus, lines=[{"sku_id": 10**9, "quantity": 1, "unit_price_minor": 1}]), "lines.0.sku_id"),
        (
            order_body(skus, lines=[{"sku_id": skus[0]["id"], "quantity": 0, "unit_price_minor": 1}]),
            "lines.0.quantity",
        ),
        (
            order_body(skus, lines=[{"sku_id": skus[0]["id"], "quantity": 1, "unit_price_minor": -5}]),
            "lines.0.unit_price_minor",
        ),
        (order_body(skus, currency="DOLLARS"), "currency"),
        (order_body(skus, shipping_address={"city": "Nowhere"}), "shipping_address.country"),
        (order_body(skus, live_session_id=10**9), "live_session_id"),
        (order_body(skus, customer_id=10**9) | {"customer": None}, "customer_id"),
        (order_body(skus, lines=[]), "lines"),
        (order_body(skus, status="shipped"), "status"),
    ]
    for body, path in cases:
        refused = await client.post(f"{API}/orders", json=body, headers=h)
        assert refused.status_code == 422, (path, refused.text)
        assert path in [f["path"] for f in refused.json()["error"]["fields"]], (path, refused.json())
    assert (await client.get(f"{API}/orders", headers=h)).json()["items"] == []
    assert (await client.get(f"{API}/customers", headers=h)).json()["items"] == []


async def test_order_list_filters(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    skus = await skus_of(client, tenant)
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
            f"{API}/orders", json=order_body(skus, number="A-1", placed_at="2025-03-01T00:00:00Z"), headers=h
        )
    ).json()
    second = (
        await client.post(
            f"{API}/orders",
            json=order_body(
                skus,
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
    assert await numbers(status="pending", limit=1) == ["B-2"]
    assert (await client.get(f"{API}/orders", params={"limit": 201}, headers=h)).status_code == 422
    assert (await client.get(f"{API}/orders", params={"status": "lost"}, headers=h)).status_code == 422
    sessions = (await client.get(f"{API}/live-sessions", headers=h)).json()
    assert [s["title"] for s in sessions] == ["Friday drop"]
    assert second["live_session_id"] == live.json()["id"]


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
