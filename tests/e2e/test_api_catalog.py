"""Catalog over HTTP: products with SKUs, bundles, batches, warehouses, lanes and stock levels."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant

API = "/api/v1"


def product_body(handle: str | None = None, *, skus: int = 2, currency: str = "USD") -> dict[str, Any]:
    handle = handle or f"p-{uuid.uuid4().hex[:8]}"
    return {
        "handle": handle,
        "title": "Trail Jacket",
        "category": "apparel",
        "brand": "North",
        "skus": [
            {
                "code": f"{handle}-{i}",
                "title": f"Trail Jacket {size}",
                "attributes": {"size": size, "color": "red"},
                "declared_value_minor": 4500 + i,
                "currency": currency,
                "weight_grams": 800,
                "hs_code": "6201.40",
                "barcode": f"0000{i}",
            }
            for i, size in zip(range(skus), ["S", "M", "L", "XL"], strict=False)
        ],
    }


def warehouse_body(code: str | None = None, country: str = "US") -> dict[str, Any]:
    return {
        "code": code or f"W-{uuid.uuid4().hex[:6]}",
        "name": "LA West",
        "country": country,
        "regions_served": ["us", "CA", "MX"],
        "time_zone": "America/Los_Angeles",
        "address": {"line1": "1 Dock Rd", "city": "Ontario", "postal_code": "91761", "country": country},
        "capabilities": ["fulfilment", "returns"],
    }


async def seed(client: httpx.AsyncClient, tenant: TenantFixture) -> dict[str, Any]:
    h = tenant.headers()
    product = (await client.post(f"{API}/products", json=product_body(), headers=h)).json()
    warehouse = (await client.post(f"{API}/warehouses", json=warehouse_body(), headers=h)).json()
    return {"product": product, "sku": product["skus"][0], "warehouse": warehouse}


async def test_product_with_skus_round_trips(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    created = await client.post(f"{API}/products", json=product_body("jacket"), headers=tenant.headers())
    assert created.status_code == 201, created.text
    product = created.json()
    assert [s["code"] for s in product["skus"]] == ["jacket-0", "jacket-1"]
    assert product["skus"][1]["attributes"] == {"size": "M", "color": "red"}
    assert product["skus"][0]["category"] == "apparel"
    assert product["skus"][0]["declared_value_minor"] == 4500
    fetched = await client.get(f"{API}/products/{product['id']}", headers=tenant.headers(Role.VIEWER))
    assert fetched.json() == product
    again = await client.post(f"{API}/products", json=product_body("jacket"), headers=tenant.headers())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "jacket" in again.json()["error"]["message"]


async def test_product_list_filters_and_paginates(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    for i in range(5):
        body = product_body(f"mug-{i}", skus=1) | {"title": f"Mug {i}", "category": "kitchen"}
        assert (await client.post(f"{API}/products", json=body, headers=h)).status_code == 201
    await client.post(f"{API}/products", json=product_body("coat"), headers=h)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"category": "kitchen", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/products", params=params, headers=h)).json()
        seen += [p["handle"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"mug-{i}" for i in reversed(range(5))]
    found = (await client.get(f"{API}/products", params={"q": "COA"}, headers=h)).json()
    assert [p["handle"] for p in found["items"]] == ["coat"]
    bad = await client.get(f"{API}/products", params={"cursor": "nonsense!"}, headers=h)
    assert bad.status_code == 422


async def test_skus_list_filter_and_add_variant(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    product = (await client.post(f"{API}/products", json=product_body("tee"), headers=h)).json()
    by_code = (await client.get(f"{API}/skus", params={"code": "tee-1"}, headers=h)).json()["items"]
    assert [s["id"] for s in by_code] == [product["skus"][1]["id"]]
    extra = {
        "code": "tee-9",
        "title": "Tee XXL",
        "declared_value_minor": 900,
        "currency": "eur",
        "category": "tops",
    }
    added = await client.post(f"{API}/products/{product['id']}/skus", json=extra, headers=h)
    assert added.status_code == 201, added.text
    assert added.json()["currency"] == "EUR"
    of_product = (await client.get(f"{API}/skus", params={"product_id": product["id"]}, headers=h)).json()
    assert len(of_product["items"]) == 3
    tops = (await client.get(f"{API}/skus", params={"category": "tops"}, headers=h)).json()["items"]
    assert [s["code"] for s in tops] == ["tee-9"]
    one = await client.get(f"{API}/skus/{added.json()['id']}", headers=h)
    assert one.json()["title"] == "Tee XXL"


async def test_bundle_components_and_refusals(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    parts = (await client.post(f"{API}/products", json=product_body("part", skus=2), headers=h)).json()[
        "skus"
    ]
    kit = (await client.post(f"{API}/products", json=product_body("kit", skus=1), headers=h)).json()["skus"][
        0
    ]
    body = {
        "components": [{"sku_id": parts[0]["id"], "quantity": 2}, {"sku_id": parts[1]["id"], "quantity": 1}]
    }
    made = await client.post(f"{API}/skus/{kit['id']}/components", json=body, headers=h)
    assert made.status_code == 200, made.text
    assert [(c["code"], c["quantity"]) for c in made.json()] == [("part-0", 2), ("part-1", 1)]
    assert (await client.get(f"{API}/skus/{kit['id']}", headers=h)).json()["is_bundle"] is True
    listed = (await client.get(f"{API}/skus/{kit['id']}/components", headers=h)).json()
    assert listed == made.json()
    itself = await client.post(
        f"{API}/skus/{kit['id']}/components",
        json={"components": [{"sku_id": kit["id"], "quantity": 1}]},
        headers=h,
    )
    assert itself.status_code == 422
    assert itself.json()["error"]["fields"][0]["path"] == "components.0.sku_id"
    nested = await client.post(
        f"{API}/skus/{parts[0]['id']}/components",
        json={"components": [{"sku_id": kit["id"], "quantity": 1}]},
        headers=h,
    )
    assert nested.status_code == 422
    assert (await client.get(f"{API}/skus/{kit['id']}/components", headers=h)).json() == made.json()


async def test_batches_per_sku(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    sku = (await seed(client, tenant))["sku"]
    made = await client.post(
        f"{API}/skus/{sku['id']}/batches",
        json={"code": "L2405", "manufactured_on": "2024-05-01", "expires_on": "2026-05-01"},
        headers=h,
    )
    assert made.status_code == 201, made.text
    dup = await client.post(f"{API}/skus/{sku['id']}/batches", json={"code": "L2405"}, headers=h)
    assert dup.status_code == 409
    backwards = await client.post(
        f"{API}/skus/{sku['id']}/batches",
        json={"code": "L1", "manufactured_on": "2024-05-01", "expires_on": "2024-01-01"},
        headers=h,
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["fields"][0]["path"] == "expires_on"
    listed = (await client.get(f"{API}/skus/{sku['id']}/batches", headers=h)).json()
    assert [(b["code"], b["expires_on"]) for b in listed] == [("L2405", "2026-05-01")]


async def test_warehouses_validate_codes(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    made = await client.post(f"{API}/warehouses", json=warehouse_body("LAX1"), headers=h)
    assert made.status_code == 201, made.text
    warehouse = made.json()
    assert warehouse["regions_served"] == ["US", "CA", "MX"]
    assert warehouse["capabilities"] == ["fulfilment", "returns"]
    assert (await client.get(f"{API}/warehouses/{warehouse['id']}", headers=h)).json() == warehouse
    assert [w["code"] for w in (await client.get(f"{API}/warehouses", headers=h)).json()] == ["LAX1"]
    for field, value in [
        ("country", "XX"),
        ("time_zone", "Mars/Olympus"),
        ("regions_served", ["US", "QQ"]),
        ("capabilities", ["teleport"]),
    ]:
        bad = await client.post(f"{API}/warehouses", json=warehouse_body() | {field: value}, headers=h)
        assert bad.status_code == 422, (field, bad.text)
        assert bad.json()["error"]["fields"][0]["path"].startswith(field)
    assert len((await client.get(f"{API}/warehouses", headers=h)).json()) == 1


async def test_lanes_belong_to_own_warehouses(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    h = tenant.headers()
    warehouse = (await seed(client, tenant))["warehouse"]
    lane = {
        "warehouse_id": warehouse["id"],
        "country": "ca",
        "carrier": "UPS",
        "transit_days_median": 3,
        "transit_days_p90": 5,
        "cost_minor": 1200,
        "currency": "USD",
    }
    made = await client.post(f"{API}/lanes", json=lane, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["country"] == "CA"
    assert (await client.post(f"{API}/lanes", json=lane, headers=h)).status_code == 409
    slow = await client.post(f"{API}/lanes", json=lane | {"country": "MX", "transit_days_p90": 1}, headers=h)
    assert slow.status_code == 422
    missing = await client.post(
        f"{API}/lanes", json=lane | {"country": "MX", "warehouse_id": 10**9}, headers=h
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["path"] == "warehouse_id"
    listed = (
        await client.get(f"{API}/lanes", params={"warehouse_id": warehouse["id"], "country": "ca"}, headers=h)
    ).json()
    assert [ln["carrier"] for ln in listed] == ["UPS"]


async def test_stock_set_and_list(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    seeded = await seed(client, tenant)
    sku, warehouse = seeded["sku"], seeded["warehouse"]
    h = tenant.headers(Role.WAREHOUSE)
    body = {"warehouse_id": warehouse["id"], "sku_id": sku["id"], "on_hand": 12, "low_stock_threshold": 3}
    first = await client.put(f"{API}/stock", json=body, headers=h)
    assert first.status_code == 200, first.text
    assert first.json() | {"id": 0, "updated_at": None} == {
        "id": 0,
        "warehouse_id": warehouse["id"],
        "sku_id": sku["id"],
        "batch_id": None,
        "on_hand": 12,
        "reserved": 0,
        "available": 12,
        "low_stock_threshold": 3,
        "updated_at": None,
    }
    second = await client.put(
        f"{API}/stock", json=body | {"on_hand": 7, "low_stock_threshold": None}, headers=h
    )
    assert second.json()["id"] == first.json()["id"]
    assert (second.json()["on_hand"], second.json()["low_stock_threshold"]) == (7, 3)
    batch = (
        await client.post(f"{API}/skus/{sku['id']}/batches", json={"code": "B1"}, headers=tenant.headers())
    ).json()
    lot = await client.put(f"{API}/stock", json=body | {"batch_id": batch["id"], "on_hand": 4}, headers=h)
    assert lot.status_code == 200
    other_sku = seeded["product"]["skus"][1]
    wrong_lot = await client.put(
        f"{API}/stock", json=body | {"sku_id": other_sku["id"], "batch_id": batch["id"]}, headers=h
    )
    assert wrong_lot.status_code == 422
    assert wrong_lot.json()["error"]["fields"][0]["path"] == "batch_id"
    listed = (await client.get(f"{API}/stock", params={"sku_id": sku["id"]}, headers=h)).json()
    assert sorted(s["on_hand"] for s in listed["items"]) == [4, 7]
    negative = await client.put(f"{API}/stock", json=body | {"on_hand": -1}, headers=h)
    assert negative.status_code == 422
    viewer = await client.put(f"{API}/stock", json=body, headers=tenant.headers(Role.VIEWER))
    assert viewer.status_code == 403
