"""A seller sets what a shortage does and how long the cooling-off and merge windows last."""

from __future__ import annotations

from typing import Any

import httpx

from aftersail.tenants.models import Role
from tests.factories import make_tenant
from tests.fulfilment import make_network, order_body

API = "/api/v1"


async def test_defaults_then_reject_policy_refuses_short_orders(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 1)

    defaults = await client.get(f"{API}/settings/orders", headers=tenant.headers(Role.VIEWER))
    assert defaults.status_code == 200
    assert defaults.json() == {
        "on_shortage": "backorder",
        "release_after_minutes": None,
        "merge_window_minutes": 120,
        "low_stock_default": 5,
    }

    changed = await client.put(
        f"{API}/settings/orders",
        headers=tenant.headers(),
        json={"on_shortage": "reject", "release_after_minutes": 30, "merge_window_minutes": 0},
    )
    assert changed.status_code == 200
    assert changed.json()["on_shortage"] == "reject" and changed.json()["release_after_minutes"] == 30

    refused = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 2}), headers=tenant.headers()
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "stock_exhausted"
    assert "missing" in refused.json()["error"]["message"]
    placed = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 1}), headers=tenant.headers()
    )
    assert placed.status_code == 201 and placed.json()["status"] == "allocated"


async def test_only_admins_change_settings_and_bad_values_are_named(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    forbidden = await client.put(
        f"{API}/settings/orders", json={"on_shortage": "reject"}, headers=tenant.headers(Role.AGENT)
    )
    assert forbidden.status_code == 403
    bad = await client.put(
        f"{API}/settings/orders",
        json={"on_shortage": "sometimes", "merge_window_minutes": -1},
        headers=tenant.headers(),
    )
    assert bad.status_code == 422
    assert {f["path"] for f in bad.json()["error"]["fields"]} == {"on_shortage", "merge_window_minutes"}
    unchanged = await client.get(f"{API}/settings/orders", headers=tenant.headers())
    assert unchanged.json()["on_shortage"] == "backorder"
