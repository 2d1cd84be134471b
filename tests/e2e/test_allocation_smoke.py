"""Placing an order through the API allocates it to the fastest warehouse with stock, or backorders."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import make_tenant
from tests.fulfilment import make_network, order_body

API = "/api/v1"


async def test_order_lands_on_the_fastest_warehouse_with_stock(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    for sku in ("lamp", "cable"):
        await network.set_stock(database, "FRA", sku, 10)
        await network.set_stock(database, "FXT", sku, 10)
    placed = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 2, "cable": 1}), headers=tenant.headers()
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "allocated"


async def test_no_warehouse_serving_the_destination_is_a_clear_422(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    refused = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 1}, country="JP"), headers=tenant.headers()
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "No warehouse ships to JP: add a lane to JP first."
