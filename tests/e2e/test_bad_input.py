"""Bad input gets a clear 4xx naming what is wrong, never a 5xx, and never leaves a partial write."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import func, select

from aftersail.catalog.models import Product, Sku, StockLevel, Warehouse
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentGroup,
)
from aftersail.tenants.models import Role
from tests.e2e.test_api_catalog import product_body, warehouse_body
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import make_network, order_body, set_order_policy

API = "/api/v1"
COUNTED = (
    Product,
    Sku,
    Warehouse,
    StockLevel,
    Customer,
    Order,
    OrderLine,
    Allocation,
    AllocationLine,
    ShipmentGroup,
    OrderEvent,
    OutboxEvent,
)


async def counts(database: Any, tenant: TenantFixture) -> dict[str, int]:
    """Rows of every kind the tenant has, and the units reserved across its stock."""
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        found = {
            model.__tablename__: int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant.tenant_id)
                )
                or 0
            )
            for model in COUNTED
        }
        reserved = await session.scalar(
            select(func.coalesce(func.sum(StockLevel.reserved), 0)).where(
                StockLevel.tenant_id == tenant.tenant_id
            )
        )
        return found | {"reserved units": int(reserved or 0)}


def fields(answer: httpx.Response) -> list[str]:
    return [f["path"] for f in answer.json()["error"].get("fields", [])]


async def test_malformed_and_mistyped_bodies_name_the_field(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers() | {"content-type": "application/json"}
    before = await counts(database, tenant)
    broken = await client.post(f"{API}/products", content=b'{"handle": "x", "title": ', headers=h)
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "validation_error"
    assert "JSON" in broken.json()["error"]["message"]
    not_object = await client.post(f"{API}/products", json=["a", "list"], headers=tenant.headers())
    assert not_object.status_code == 422
    body = product_body("shoe")
    body["skus"][1]["declared_value_minor"] = "lots"
    body["skus"][0]["currency"] = "ZZZ"
    body["surprise"] = True
    mistyped = await client.post(f"{API}/products", json=body, headers=tenant.headers())
    assert mistyped.status_code == 422
    assert set(fields(mistyped)) == {"skus.1.declared_value_minor", "skus.0.currency", "surprise"}
    assert "skus.1.declared_value_minor" in mistyped.json()["error"]["message"]
    missing = await client.post(f"{API}/warehouses", json={"code": "W1"}, headers=tenant.headers())
    assert {"name", "country", "time_zone"} <= set(fields(missing))
    assert await counts(database, tenant) == before


async def test_out_of_range_values_are_422_not_500(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    before = await counts(database, tenant)
    huge = 10**20
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("GET", f"{API}/products/{huge}", None, "product_id"),
        ("GET", f"{API}/orders/0", None, "order_id"),
        ("GET", f"{API}/orders/abc", None, "order_id"),
        ("GET", f"{API}/stock?warehouse_id={huge}", None, "warehouse_id"),
        ("GET", f"{API}/products?q=a%00b", None, "q"),
        ("GET", f"{API}/orders?placed_from=2025-01-01T00:00:00", None, "placed_from"),
        ("PUT", f"{API}/stock", {"warehouse_id": huge, "sku_id": 1, "on_hand": 1}, "warehouse_id"),
        ("PUT", f"{API}/stock", {"warehouse_id": 1, "sku_id": 1, "on_hand": huge}, "on_hand"),
        ("POST", f"{API}/products", product_body() | {"title": "nul\x00byte"}, "title"),
        ("POST", f"{API}/products", product_body() | {"title": "x" * 301}, "title"),
        (
            "POST",
            f"{API}/customers",
            {"name": "A", "email": "a@b.test", "country": "US", "time_zone": "../etc"},
            "time_zone",
        ),
        ("POST", f"{API}/warehouses", warehouse_body() | {"address": {"country": "DE"}}, "address.country"),
    ]
    for method, url, body, path in cases:
        answer = await client.request(method, url, json=body, headers=h)
        assert answer.status_code == 422, (url, body and str(body)[:80], answer.text)
        assert path in fields(answer), (url, answer.json())
    forged = await client.get(
        f"{API}/orders", params={"cursor": "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"}, headers=h
    )
    assert forged.status_code == 422
    assert await counts(database, tenant) == before


async def test_credentials_and_roles(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    before = await counts(database, tenant)
    body = product_body()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ask_unknown.secret"},
        {"Authorization": f"Bearer {tenant.api_keys[Role.ADMIN]}x"},
        {"Authorization": "Token abc"},
    ):
        answer = await client.post(f"{API}/products", json=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json()["error"]["code"] == "unauthenticated"
    refused = [
        (Role.VIEWER, "POST", "/products", body),
        (Role.AGENT, "POST", "/warehouses", warehouse_body()),
        (Role.WAREHOUSE, "POST", "/customers", {"name": "A", "email": "a@b.test", "country": "US"}),
        (Role.WAREHOUSE, "POST", "/orders", {}),
        (Role.AGENT, "PUT", "/stock", {"warehouse_id": 1, "sku_id": 1, "on_hand": 1}),
        (Role.AGENT, "GET", "/api-keys", None),
        (Role.VIEWER, "POST", "/api-keys", {"name": "x", "role": "admin"}),
    ]
    for role, method, path, payload in refused:
        answer = await client.request(method, f"{API}{path}", json=payload, headers=tenant.headers(role))
        assert answer.status_code == 403, (role, path, answer.text)
        assert answer.json()["error"]["code"] == "permission_denied"
    assert await counts(database, tenant) == before


async def _chunks(payload: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


async def test_bodies_over_the_limit_are_413(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    before = await counts(database, tenant)
    # Valid JSON of a valid shape, only too long: the limit, not the schema, refuses it.
    big = product_body("big")
    big["skus"] = [
        dict(big["skus"][0], code=f"BIG-{i}", title="t" * 290, attributes={"note": "n" * 3000})
        for i in range(400)
    ]
    payload = json.dumps(big).encode()
    assert len(payload) > 1_048_576
    h = tenant.headers() | {"content-type": "application/json"}
    declared = await client.post(f"{API}/products", content=payload, headers=h)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    assert await counts(database, tenant) == before


def _big_payload() -> bytes:
    big = product_body("big")
    big["skus"] = [
        dict(big["skus"][0], code=f"BIG-{i}", title="t" * 290, attributes={"note": "n" * 3000})
        for i in range(400)
    ]
    return json.dumps(big).encode()


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    before = await counts(database, tenant)
    h = tenant.headers() | {"content-type": "application/json"}
    streamed = await client.post(f"{API}/products", content=_chunks(_big_payload()), headers=h)
    assert await counts(database, tenant) == before
    assert streamed.status_code == 413


async def test_a_refused_order_leaves_no_customer_or_lines(client: httpx.AsyncClient, database: Any) -> None:
    """The inline customer is created before the lines are checked; the refusal must roll it back."""
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "EWR", "lamp", 5)
    before = await counts(database, tenant)
    order = {
        "customer": {"name": "New Buyer", "email": "new@buyer.test", "country": "US"},
        "currency": "USD",
        "number": "DUP-1",
        "shipping_address": {"country": "US"},
        "lines": [{"sku_id": network.skus["lamp"], "quantity": 1, "unit_price_minor": 100}],
    }
    assert (await client.post(f"{API}/orders", json=order, headers=tenant.headers())).status_code == 201
    after_first = await counts(database, tenant)
    assert after_first["customers"] == before["customers"] + 1
    assert after_first["reserved units"] == 1 and after_first["allocations"] == 1
    again = order | {"customer": {"name": "Other", "email": "other@buyer.test", "country": "US"}}
    assert (await client.post(f"{API}/orders", json=again, headers=tenant.headers())).status_code == 409
    stock = {"warehouse_id": 10**6, "sku_id": network.skus["lamp"], "on_hand": 3}
    assert (await client.put(f"{API}/stock", json=stock, headers=tenant.headers())).status_code == 422
    assert await counts(database, tenant) == after_first


async def test_refused_orders_say_why_and_write_nothing(client: httpx.AsyncClient, database: Any) -> None:
    """Each refusal names the field and the reason; no customer, order, allocation, reservation, audit line
    or event is left behind (the new buyer's email is never seen again)."""
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 3)
    lamp, cable = network.skus["lamp"], network.skus["cable"]
    h = tenant.headers()
    before = await counts(database, tenant)

    def body(lines: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        made = order_body(network, {"lamp": 1}, country="DE", currency="USD", **extra)
        return made | ({"lines": lines} if lines is not None else {})

    def line(**fields: Any) -> dict[str, Any]:
        return {"sku_id": lamp, "quantity": 1, "unit_price_minor": 100} | fields

    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (body([line(sku_id=None, sku_code="GHOST-1")]), 422, "lines.0.sku_code", "no such SKU"),
        (body([line(), line(sku_id=10**12)]), 422, "lines.1.sku_id", "no such SKU"),
        (body([line(quantity=0)]), 422, "lines.0.quantity", "greater than 0"),
        (body([line(quantity=-2)]), 422, "lines.0.quantity", "greater than 0"),
        (body([line(quantity=10_001)]), 422, "lines.0.quantity", "less than or equal to 10000"),
        (
            body(
                shipping_address={"name": "Kenji", "line1": "1-2-3", "city": "Tokyo", "country": "JP"},
            ),
            422,
            "shipping_address.country",
            "No warehouse ships to JP: add a lane to JP first.",
        ),
        (
            body([line(currency="EUR")]),
            422,
            "lines.0.currency",
            "lines.0.currency: EUR differs from the order currency USD",
        ),
        (body([line(), line(sku_id=cable, currency="eur")]), 422, "lines.1.currency", "differs from"),
        (body([line(currency="XYZ")]), 422, "lines.0.currency", "ISO 4217"),
    ]
    for payload, status, path, message in cases:
        refused = await client.post(f"{API}/orders", json=payload, headers=h)
        assert refused.status_code == status, (path, refused.text)
        error = refused.json()["error"]
        assert path in [f["path"] for f in error.get("fields", [])], (path, error)
        assert message in error["message"], (path, error)
        assert await counts(database, tenant) == before, path
    # A line in the order's own currency is fine.
    fine = await client.post(f"{API}/orders", json=body([line(currency="usd")]), headers=h)
    assert fine.status_code == 201, fine.text
    assert fine.json()["lines"][0]["currency"] == "USD"


async def test_shortage_under_a_reject_policy_is_409_and_reserves_nothing(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 2)
    await network.set_stock(database, "FRA", "cable", 9)
    await set_order_policy(database, tenant.tenant_id, on_shortage="reject")
    before = await counts(database, tenant)
    refused = await client.post(
        f"{API}/orders", json=order_body(network, {"cable": 1, "lamp": 3}), headers=tenant.headers()
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "stock_exhausted"
    assert (
        error["message"] == f"Not enough stock in warehouses serving DE: {network.codes['lamp']} ×1 missing."
    )
    assert await counts(database, tenant) == before
    assert await network.stock_levels(database) == {
        ("FRA", "lamp", None): (2, 0),
        ("FRA", "cable", None): (9, 0),
    }


async def test_api_key_name_with_a_nul_byte_is_422(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    refused = await client.post(
        f"{API}/api-keys", json={"name": "shop\u0000", "role": "agent"}, headers=tenant.headers()
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["path"] == "name"
