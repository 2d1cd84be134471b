"""`Idempotency-Key` on POST /api/v1/orders: a retry gets the first order, a reused key with another body is
refused, and two identical requests at once still make one order (both backends)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.orders.models import IdempotencyKey, Order
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

API = "/api/v1"


async def _world(database: Database) -> tuple[TenantFixture, Network]:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for sku in ("lamp", "cable"):
        await network.set_stock(database, "FRA", sku, 20)
    return tenant, network


async def _count(database: Database, tenant_id: int, model: Any) -> int:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        return int(
            await session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
            or 0
        )


def _key() -> str:
    return f"order-{uuid.uuid4()}"


async def test_a_retry_with_the_same_key_and_body_gets_the_same_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(database)
    body, key = order_body(network, {"lamp": 2}), _key()
    headers = tenant.headers() | {"Idempotency-Key": key}
    first = await client.post(f"{API}/orders", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # The same document with its keys in another order and other whitespace is the same request.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = await client.post(
        f"{API}/orders", content=reordered, headers=headers | {"Content-Type": "application/json"}
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["number"] == first.json()["number"]
    assert again.json()["status"] == "allocated"
    assert await _count(database, tenant.tenant_id, Order) == 1
    stock = (
        await client.get(f"{API}/stock", params={"sku_id": network.skus["lamp"]}, headers=tenant.headers())
    ).json()
    assert [s["reserved"] for s in stock["items"]] == [2]  # reserved once
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant.tenant_id))
        assert row is not None
        assert (row.scope, row.key, row.resource_id, len(row.request_hash)) == (
            "orders.create",
            key,
            first.json()["id"],
            64,
        )


async def test_the_same_key_with_another_body_is_a_409(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    key = _key()
    headers = tenant.headers() | {"Idempotency-Key": key}
    body = order_body(network, {"lamp": 1})
    assert (await client.post(f"{API}/orders", json=body, headers=headers)).status_code == 201
    changed = body | {"lines": [{"sku_id": network.skus["lamp"], "quantity": 3, "unit_price_minor": 1999}]}
    refused = await client.post(f"{API}/orders", json=changed, headers=headers)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert key in error["message"] and "different request body" in error["message"]
    assert error["fields"][0]["path"] == "Idempotency-Key"
    assert await _count(database, tenant.tenant_id, Order) == 1


async def test_two_identical_requests_at_once_make_one_order(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(database)
    for _ in range(3):
        body, headers = (
            order_body(network, {"lamp": 1, "cable": 1}),
            tenant.headers() | {"Idempotency-Key": _key()},
        )
        answers = await asyncio.gather(
            *(client.post(f"{API}/orders", json=body, headers=headers) for _ in range(2))
        )
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        assert answers[0].json()["id"] == answers[1].json()["id"]
        assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true"]
    assert await _count(database, tenant.tenant_id, Order) == 3
    levels = (
        await client.get(
            f"{API}/stock", params={"warehouse_id": network.warehouses["FRA"]}, headers=tenant.headers()
        )
    ).json()
    assert sorted(s["reserved"] for s in levels["items"]) == [3, 3]


async def test_keys_are_per_tenant(client: httpx.AsyncClient, database: Database) -> None:
    (tenant_a, network_a), (tenant_b, network_b) = await _world(database), await _world(database)
    key = _key()
    a = await client.post(
        f"{API}/orders",
        json=order_body(network_a, {"lamp": 1}),
        headers=tenant_a.headers() | {"Idempotency-Key": key},
    )
    b = await client.post(
        f"{API}/orders",
        json=order_body(network_b, {"lamp": 1}),
        headers=tenant_b.headers() | {"Idempotency-Key": key},
    )
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"] and "idempotent-replayed" not in b.headers


async def test_a_failed_request_leaves_the_key_free(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    headers = tenant.headers() | {"Idempotency-Key": _key()}
    wrong = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 1}, country="JP"), headers=headers
    )
    assert wrong.status_code == 422
    assert await _count(database, tenant.tenant_id, IdempotencyKey) == 0
    fixed = await client.post(f"{API}/orders", json=order_body(network, {"lamp": 1}), headers=headers)
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


async def test_bad_keys_are_a_422(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    body = order_body(network, {"lamp": 1})
    for key in ("k" * 201, " padded ", ""):
        answer = await client.post(
            f"{API}/orders", json=body, headers=tenant.headers() | {"Idempotency-Key": key}
        )
        assert answer.status_code == 422, (key, answer.text)
        assert answer.json()["error"]["fields"][0]["path"] == "idempotency-key"
    longest = await client.post(
        f"{API}/orders", json=body, headers=tenant.headers() | {"Idempotency-Key": "k" * 200}
    )
    assert longest.status_code == 201
    assert await _count(database, tenant.tenant_id, Order) == 1


async def test_the_route_documents_idempotency(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"][f"{API}/orders"]["post"]
    assert "Idempotency-Key" in operation["description"]
    assert "Idempotent-Replayed: true" in operation["description"]
    assert any(p["name"] == "idempotency-key" and p["in"] == "header" for p in operation["parameters"])
