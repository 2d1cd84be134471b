"""`POST /api/v1/orders` answered by its own handler (orders/intake_route.py) once the caller's key is
known, and by the framework otherwise: the same answers either way, byte for byte where they can be."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aftersail.tenants.models import Role
from aftersail.web.deps import api_key_cache
from tests.factories import make_tenant
from tests.fulfilment import Network, make_network, order_body


async def _network(database: Any) -> tuple[Network, Any]:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 10)
    return network, tenant


async def test_the_handler_and_the_framework_answer_alike(client: httpx.AsyncClient, database: Any) -> None:
    network, tenant = await _network(database)
    auth = tenant.headers()
    api_key_cache.clear()  # the first request goes through the framework, which learns the key
    body = order_body(network, {"lamp": 1})
    first = await client.post("/api/v1/orders", json=body, headers=auth | {"X-Request-ID": "req-one"})
    second = await client.post("/api/v1/orders", json=body, headers=auth | {"X-Request-ID": "req-two"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.headers["x-request-id"] == "req-one" and second.headers["x-request-id"] == "req-two"
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    one, two = first.json(), second.json()
    assert one.keys() == two.keys() and one["id"] != two["id"]
    for answer in (one, two):  # each answer is what a later read shows
        stored = await client.get(f"/api/v1/orders/{answer['id']}", headers=auth)
        assert stored.json() == answer


@pytest.mark.parametrize("known", [False, True], ids=["framework", "handler"])
async def test_refusals_are_the_same_through_both(
    client: httpx.AsyncClient, database: Any, known: bool
) -> None:
    network, tenant = await _network(database)
    auth = tenant.headers()
    api_key_cache.clear()
    if known:
        assert (await client.get("/api/v1/me", headers=auth)).status_code == 200  # the key is known now
    unknown_sku = order_body(network, {"lamp": 1})
    unknown_sku["lines"][0]["sku_id"] = 999_999_999
    refused = await client.post("/api/v1/orders", json=unknown_sku, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == [{"path": "lines.0.sku_id", "message": "no such SKU"}]
    invalid = order_body(network, {"lamp": 0})
    bad = await client.post("/api/v1/orders", json=invalid, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert bad.json()["error"]["fields"][0]["path"] == "lines.0.quantity"
    not_json = await client.post(
        "/api/v1/orders", content=b"{nope", headers=auth | {"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    bad_key = await client.post(
        "/api/v1/orders", json=order_body(network, {"lamp": 1}), headers=auth | {"Idempotency-Key": " x"}
    )
    assert bad_key.status_code == 422
    assert bad_key.json()["error"]["fields"][0]["path"] == "idempotency-key"
    no_auth = await client.post("/api/v1/orders", json=order_body(network, {"lamp": 1}))
    assert no_auth.status_code == 401


async def test_a_key_without_the_right_to_place_orders_is_refused(
    client: httpx.AsyncClient, database: Any
) -> None:
    network, tenant = await _network(database)
    auth = tenant.headers(Role.VIEWER)
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200  # known to the process
    refused = await client.post("/api/v1/orders", json=order_body(network, {"lamp": 1}), headers=auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
