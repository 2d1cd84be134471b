"""Every refusal names what was wrong: a code, a message, and the field path when there is one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.test_api_catalog import API, product_body
from tests.factories import make_tenant


async def test_conflict_names_the_field(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    body = product_body("same-handle")
    assert (await client.post(f"{API}/products", json=body, headers=tenant.headers())).status_code == 201
    again = await client.post(f"{API}/products", json=product_body("same-handle"), headers=tenant.headers())
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "conflict"
    assert "same-handle" in error["message"]
    assert error["fields"] == [{"path": "handle", "message": error["message"]}]


async def test_not_found_names_the_missing_id(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    missing = await client.get(f"{API}/products/999999999", headers=tenant.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["fields"][0]["path"] == "product_id"
