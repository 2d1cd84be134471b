"""Shopify `orders/create` webhooks end to end: payloads signed with the tenant's secret and sent as raw bytes
with Shopify's headers (both backends)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.orders.models import Customer, IdempotencyKey, Order, OrderEvent
from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network

API = "/api/v1"
SECRET = "whsec_" + "3f9a1c" * 8


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_order(network: Network, *, order_id: int | None = None, **overrides: Any) -> dict[str, Any]:
    order_id = order_id or int(uuid.uuid4().int % 10**15)
    return {
        "id": order_id,
        "name": f"#{order_id % 100000}",
        "email": f"buyer-{order_id}@example.com",
        "currency": "EUR",
        "created_at": "2025-03-01T12:34:56+01:00",
        "total_price": "59.97",
        "line_items": [
            {"id": 1, "sku": network.codes["lamp"], "title": "Lamp", "quantity": 2, "price": "19.99"},
            {"id": 2, "sku": network.codes["cable"], "title": "Cable", "quantity": 1, "price": "19.99"},
        ],
        "shipping_address": {
            "first_name": "Lena",
            "last_name": "Vogel",
            "address1": "Hauptstraße 5",
            "city": "Berlin",
            "zip": "10115",
            "country_code": "DE",
        },
        "customer": {"first_name": "Lena", "last_name": "Vogel", "email": "lena@example.com"},
    } | overrides


def headers(
    body: bytes, *, secret: str = SECRET, webhook_id: str | None = None, **extra: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": signature(secret, body),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "desk-kit.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2025-01",
    } | extra


async def _world(
    client: httpx.AsyncClient, database: Database, *, secret: str | None = SECRET
) -> tuple[TenantFixture, Network]:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for sku in ("lamp", "cable"):
        await network.set_stock(database, "FRA", sku, 10)
    if secret:
        answer = await client.put(
            f"{API}/settings/shopify", json={"webhook_secret": secret}, headers=tenant.headers()
        )
        assert answer.status_code == 200, answer.text
    return tenant, network


def url(tenant: TenantFixture) -> str:
    return f"/webhooks/shopify/{tenant.slug}/orders-create"


async def _counts(database: Database, tenant_id: int) -> dict[str, int]:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        return {
            model.__tablename__: int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )
            for model in (Order, Customer, IdempotencyKey)
        }


async def test_a_signed_order_is_placed_and_allocated(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(client, database)
    body = json.dumps(shopify_order(network, order_id=5550001001)).encode()
    answer = await client.post(url(tenant), content=body, headers=headers(body))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "allocated" and answer.json()["replayed"] is False
    order = (await client.get(f"{API}/orders/{answer.json()['order_id']}", headers=tenant.headers())).json()
    assert (order["channel"], order["external_ref"], order["number"], order["currency"]) == (
        "web_shop",
        "5550001001",
        "1001",
        "EUR",
    )
    assert order["placed_at"].startswith("2025-03-01T11:34:56")
    assert order["customer"]["email"] == "buyer-5550001001@example.com"
    assert [(ln["sku_code"], ln["quantity"], ln["unit_price_minor"]) for ln in order["lines"]] == [
        (network.codes["lamp"], 2, 1999),
        (network.codes["cable"], 1, 1999),
    ]
    assert order["total_minor"] == 5997 and order["shipping_address"]["line1"] == "Hauptstraße 5"
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        events = (await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order["id"]))).all()
    received = next(e for e in events if e.action == "received")
    assert received.actor == "webhook:shopify"
    assert received.details["shop_domain"] == "desk-kit.myshopify.com"
    assert {"created", "allocated"} <= {e.action for e in events}


async def test_a_redelivery_places_no_second_order(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(client, database)
    body = json.dumps(shopify_order(network)).encode()
    sent = headers(body)
    first = await client.post(url(tenant), content=body, headers=sent)
    again = await client.post(url(tenant), content=body, headers=sent)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["order_id"] == first.json()["order_id"] and again.json()["replayed"] is True
    # Another notification of the same Shopify order (a new webhook id) is the same order too.
    other = await client.post(url(tenant), content=body, headers=headers(body))
    assert other.status_code == 200 and other.json()["order_id"] == first.json()["order_id"]
    assert (await _counts(database, tenant.tenant_id))["orders"] == 1
    stock = (
        await client.get(f"{API}/stock", params={"sku_id": network.skus["lamp"]}, headers=tenant.headers())
    ).json()
    assert [s["reserved"] for s in stock["items"]] == [2]


async def test_the_same_webhook_id_with_another_body_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database)
    webhook_id = str(uuid.uuid4())
    body = json.dumps(shopify_order(network)).encode()
    assert (
        await client.post(url(tenant), content=body, headers=headers(body, webhook_id=webhook_id))
    ).status_code == 201
    forged = json.dumps(shopify_order(network)).encode()
    answer = await client.post(url(tenant), content=forged, headers=headers(forged, webhook_id=webhook_id))
    assert answer.status_code == 409
    assert answer.json()["error"]["fields"][0]["path"] == "X-Shopify-Webhook-Id"


async def test_wrong_or_missing_signatures_write_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database)
    before = await _counts(database, tenant.tenant_id)
    body = json.dumps(shopify_order(network)).encode()
    tampered = body.replace(b'"19.99"', b'"0.01"', 1)
    cases = [
        (body, headers(body, secret=SECRET + "-other")),
        (tampered, headers(body)),  # the signature of the original body
        (body, {k: v for k, v in headers(body).items() if k != "X-Shopify-Hmac-Sha256"}),
        (body, headers(body, **{"X-Shopify-Hmac-Sha256": "garbage"})),
    ]
    for content, sent in cases:
        answer = await client.post(url(tenant), content=content, headers=sent)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthenticated"
    assert await _counts(database, tenant.tenant_id) == before


async def test_unknown_tenant_is_404_and_a_tenant_without_a_secret_accepts_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database, secret=None)
    body = json.dumps(shopify_order(network)).encode()
    missing = await client.post(
        "/webhooks/shopify/no-such-seller/orders-create", content=body, headers=headers(body)
    )
    assert missing.status_code == 404
    unset = await client.post(url(tenant), content=body, headers=headers(body))
    assert unset.status_code == 401 and "not set up" in unset.json()["error"]["message"]
    assert (await _counts(database, tenant.tenant_id))["orders"] == 0


async def test_an_unknown_sku_is_a_422_naming_the_line_item(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database)
    order = shopify_order(network)
    order["line_items"].insert(
        0, {"id": 9, "title": "Gift card", "quantity": 1, "price": "10.00", "requires_shipping": False}
    )
    order["line_items"].append(
        {"id": 3, "sku": "GHOST-9", "title": "Ghost lamp", "quantity": 1, "price": "5.00"}
    )
    body = json.dumps(order).encode()
    answer = await client.post(url(tenant), content=body, headers=headers(body))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["fields"][0]["path"] == "line_items.3.sku"
    assert "GHOST-9" in error["message"] and "Ghost lamp" in error["message"]
    assert (await _counts(database, tenant.tenant_id))["orders"] == 0


async def test_bad_deliveries_are_clear_4xx(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(client, database)
    not_json = b"{not json"
    answer = await client.post(url(tenant), content=not_json, headers=headers(not_json))
    assert answer.status_code == 422 and "JSON" in answer.json()["error"]["message"]
    no_lines = json.dumps(shopify_order(network, line_items=[])).encode()
    answer = await client.post(url(tenant), content=no_lines, headers=headers(no_lines))
    assert answer.status_code == 422 and answer.json()["error"]["fields"][0]["path"] == "line_items"
    bad_quantity = shopify_order(network)
    bad_quantity["line_items"][1]["quantity"] = 0
    body = json.dumps(bad_quantity).encode()
    answer = await client.post(url(tenant), content=body, headers=headers(body))
    assert (
        answer.status_code == 422 and answer.json()["error"]["fields"][0]["path"] == "line_items.1.quantity"
    )
    body = json.dumps(shopify_order(network)).encode()
    answer = await client.post(
        url(tenant), content=body, headers=headers(body, **{"X-Shopify-Topic": "orders/paid"})
    )
    assert answer.status_code == 422 and answer.json()["error"]["fields"][0]["path"] == "X-Shopify-Topic"
    far = json.dumps(
        shopify_order(network, shipping_address={"first_name": "Ken", "country_code": "JP"})
    ).encode()
    answer = await client.post(url(tenant), content=far, headers=headers(far))
    assert answer.status_code == 422 and "JP" in answer.json()["error"]["message"]
    assert (await _counts(database, tenant.tenant_id))["orders"] == 0


async def test_settings_hide_the_secret_and_can_pin_the_shop(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database)
    shown = await client.get(f"{API}/settings/shopify", headers=tenant.headers())
    assert shown.status_code == 200
    assert shown.json() == {
        "configured": True,
        "webhook_secret_hint": "…" + SECRET[-4:],
        "shop_domain": None,
        "webhook_path": url(tenant),
    }
    assert SECRET not in shown.text
    for role in (Role.AGENT, Role.WAREHOUSE, Role.VIEWER):
        refused = await client.put(
            f"{API}/settings/shopify", json={"webhook_secret": SECRET}, headers=tenant.headers(role)
        )
        assert refused.status_code == 403
    short = await client.put(
        f"{API}/settings/shopify", json={"webhook_secret": "short"}, headers=tenant.headers()
    )
    assert short.status_code == 422 and "short" not in short.text
    pinned = await client.put(
        f"{API}/settings/shopify",
        json={"webhook_secret": SECRET, "shop_domain": "Desk-Kit.myshopify.com"},
        headers=tenant.headers(),
    )
    assert pinned.json()["shop_domain"] == "desk-kit.myshopify.com" and SECRET not in pinned.text
    body = json.dumps(shopify_order(network)).encode()
    stranger = await client.post(
        url(tenant), content=body, headers=headers(body, **{"X-Shopify-Shop-Domain": "other.myshopify.com"})
    )
    assert stranger.status_code == 401
    assert (await client.post(url(tenant), content=body, headers=headers(body))).status_code == 201


async def test_deliveries_arriving_together_make_one_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(client, database)
    body = json.dumps(shopify_order(network)).encode()
    same_id, other_id = headers(body), headers(body)
    answers = await asyncio.gather(
        *(client.post(url(tenant), content=body, headers=sent) for sent in (same_id, same_id, other_id))
    )
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert (await _counts(database, tenant.tenant_id))["orders"] == 1
