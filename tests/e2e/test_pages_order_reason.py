"""The order page says why each part ships from where it does, in the agent's language."""

from __future__ import annotations

import html
from typing import Any

import httpx

from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.test_pages_shop import PASSWORD, sign_in
from tests.factories import make_tenant
from tests.fulfilment import make_network, order_body


async def _agent(database: Any, tenant_id: int, slug: str, locale: str) -> str:
    email = f"agent-{locale}@{slug}.test"
    async with database.transaction(tenant_id=tenant_id) as session:
        await tenants.do_create_user(
            session,
            tenant_id=tenant_id,
            email=email,
            name="Agent",
            password=PASSWORD,
            role=Role.AGENT,
            locale=locale,
        )
    return email


async def test_reasons_are_told_in_the_viewers_language(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 5)
    await network.set_stock(database, "FXT", "cable", 5)
    single = await client.post(
        "/api/v1/orders", json=order_body(network, {"lamp": 1}), headers=tenant.headers()
    )
    split = await client.post(
        "/api/v1/orders", json=order_body(network, {"lamp": 1, "cable": 1}), headers=tenant.headers()
    )
    assert single.status_code == split.status_code == 201

    await sign_in(client, await _agent(database, tenant.tenant_id, tenant.slug, "zh"))
    page = html.unescape((await client.get(f"/orders/{single.json()['id']}")).text)
    assert "分仓原因：Frankfurt 有货，2 天可达 DE" in page
    page = html.unescape((await client.get(f"/orders/{split.json()['id']}")).text)
    assert f"分仓原因：Frankfurt 发 2 行中的 1 行（{network.codes['lamp']}），2 天可达 DE" in page
    assert f"分仓原因：Felixstowe 发 2 行中的 1 行（{network.codes['cable']}），4 天可达 DE" in page

    client.cookies.clear()
    await sign_in(client, await _agent(database, tenant.tenant_id, tenant.slug, "en"))
    page = html.unescape((await client.get(f"/orders/{single.json()['id']}")).text)
    assert "Why: Frankfurt has it in stock, 2 days to DE" in page
