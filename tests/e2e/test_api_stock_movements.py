"""Stock snapshots, adjustments and movements over HTTP (both backends)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.tenants.models import Role
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

API = "/api/v1"


async def _world(database: Database) -> tuple[TenantFixture, Network]:
    tenant = await make_tenant(database)
    return tenant, await make_network(database, tenant.tenant_id)


async def _topics(database: Database, tenant_id: int) -> list[str]:
    async with database.transaction(system=True, readonly=True) as session:
        rows = await session.scalars(
            select(OutboxEvent.topic).where(OutboxEvent.tenant_id == tenant_id).order_by(OutboxEvent.id)
        )
        return list(rows.all())


async def test_a_snapshot_reports_every_line(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    h = tenant.headers(Role.WAREHOUSE)
    await network.set_stock(database, "FRA", "lamp", 10)
    placed = await client.post(
        f"{API}/orders", json=order_body(network, {"lamp": 4}), headers=tenant.headers()
    )
    assert placed.json()["status"] == "allocated"
    body = {
        "warehouse_code": "FRA",
        "note": "weekly count",
        "lines": [
            {"sku_code": network.codes["lamp"], "on_hand": 3},
            {"sku_code": network.codes["cable"], "on_hand": 9, "low_stock_threshold": 2},
            {
                "sku_id": network.skus["case"],
                "batch_code": "L-2025-01",
                "on_hand": 1,
                "low_stock_threshold": 1,
            },
        ],
    }
    answer = await client.post(f"{API}/stock/snapshots", json=body, headers=h)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["warehouse_id"], report["applied"], report["rejected"]) == (
        network.warehouses["FRA"],
        2,
        1,
    )
    lamp, cable, case = report["lines"]
    assert (lamp["outcome"], lamp["on_hand"], lamp["reserved"], lamp["counted"], lamp["delta"]) == (
        "rejected",
        10,
        4,
        3,
        0,
    )
    assert "4 units are reserved" in lamp["message"]
    assert (cable["outcome"], cable["on_hand_before"], cable["on_hand"], cable["delta"]) == (
        "created",
        None,
        9,
        9,
    )
    assert (case["outcome"], case["available"], case["batch_id"] is not None) == ("created", 1, True)
    topics = await _topics(database, tenant.tenant_id)
    assert "stock.discrepancy" in topics and "stock.low" in topics and "live.stock" in topics
    movements = (
        await client.get(
            f"{API}/stock/movements", params={"stock_level_id": cable["stock_level_id"]}, headers=h
        )
    ).json()
    assert [(m["kind"], m["on_hand_delta"], m["on_hand_after"], m["reason"]) for m in movements["items"]] == [
        ("snapshot", 9, 9, "weekly count")
    ]
    assert movements["items"][0]["source"] == f"api_key:{(await _me(client, tenant, Role.WAREHOUSE))}"


async def _me(client: httpx.AsyncClient, tenant: TenantFixture, role: Role) -> int:
    return int((await client.get(f"{API}/me", headers=tenant.headers(role))).json()["api_key_id"])


async def test_bad_snapshots_are_clear_422s_and_write_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, network = await _world(database)
    h = tenant.headers(Role.WAREHOUSE)
    wid = network.warehouses["FRA"]
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {
                "warehouse_id": wid,
                "lines": [
                    {"sku_id": network.skus["lamp"], "on_hand": 1},
                    {"sku_code": "GHOST", "on_hand": 1},
                ],
            },
            "lines.1.sku_code",
        ),
        (
            {"warehouse_id": wid, "lines": [{"sku_id": network.skus["lamp"], "on_hand": -1}]},
            "lines.0.on_hand",
        ),
        ({"warehouse_id": wid, "lines": []}, "lines"),
        ({"warehouse_id": 10**6, "lines": [{"sku_id": network.skus["lamp"], "on_hand": 1}]}, "warehouse_id"),
        ({"lines": [{"sku_id": network.skus["lamp"], "on_hand": 1}]}, "body"),
    ]
    for body, path in cases:
        answer = await client.post(f"{API}/stock/snapshots", json=body, headers=h)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["fields"][0]["path"] == path, answer.text
    assert (await client.get(f"{API}/stock", headers=h)).json()["items"] == []
    for role in (Role.AGENT, Role.VIEWER):
        body = {"warehouse_id": wid, "lines": [{"sku_id": network.skus["lamp"], "on_hand": 1}]}
        assert (
            await client.post(f"{API}/stock/snapshots", json=body, headers=tenant.headers(role))
        ).status_code == 403


async def test_adjustments_over_http(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    h = tenant.headers(Role.WAREHOUSE)
    lamp = await network.set_stock(database, "FRA", "lamp", 6, low_stock_threshold=2)
    await client.post(f"{API}/orders", json=order_body(network, {"lamp": 2}), headers=tenant.headers())
    answer = await client.post(
        f"{API}/stock/adjustments",
        json={"stock_level_id": lamp, "delta": -1, "reason": "damaged", "note": "wet"},
        headers=h,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["stock"] | {"updated_at": None} == {
        "id": lamp,
        "warehouse_id": network.warehouses["FRA"],
        "sku_id": network.skus["lamp"],
        "batch_id": None,
        "on_hand": 5,
        "reserved": 2,
        "available": 3,
        "low_stock_threshold": 2,
        "updated_at": None,
    }
    assert (answer.json()["movement"]["kind"], answer.json()["movement"]["reason"]) == (
        "adjustment",
        "damaged: wet",
    )
    too_many = await client.post(
        f"{API}/stock/adjustments",
        json={"stock_level_id": lamp, "delta": -4, "reason": "correction"},
        headers=h,
    )
    assert too_many.status_code == 409
    assert (
        too_many.json()["error"]["available"] == 3
        and too_many.json()["error"]["fields"][0]["path"] == "delta"
    )
    wrong_sign = await client.post(
        f"{API}/stock/adjustments", json={"stock_level_id": lamp, "delta": 2, "reason": "damaged"}, headers=h
    )
    assert wrong_sign.status_code == 422 and wrong_sign.json()["error"]["fields"][0]["path"] == "delta"
    both = await client.post(
        f"{API}/stock/adjustments",
        json={
            "stock_level_id": lamp,
            "warehouse_id": network.warehouses["FRA"],
            "delta": 1,
            "reason": "found",
        },
        headers=h,
    )
    assert both.status_code == 422
    foreign = await client.post(
        f"{API}/stock/adjustments", json={"stock_level_id": 10**9, "delta": 1, "reason": "found"}, headers=h
    )
    assert foreign.status_code == 422 and foreign.json()["error"]["fields"][0]["path"] == "stock_level_id"
    assert (
        await client.post(
            f"{API}/stock/adjustments",
            json={"stock_level_id": lamp, "delta": 1, "reason": "found"},
            headers=tenant.headers(Role.AGENT),
        )
    ).status_code == 403
    assert (
        await client.post(
            f"{API}/stock/adjustments",
            json={"stock_level_id": lamp, "delta": -2, "reason": "correction"},
            headers=h,
        )
    ).json()["stock"]["available"] == 1
    assert "stock.low" in await _topics(database, tenant.tenant_id)


async def test_movements_page_and_filter(client: httpx.AsyncClient, database: Database) -> None:
    tenant, network = await _world(database)
    h = tenant.headers(Role.VIEWER)
    lamp = await network.set_stock(database, "FRA", "lamp", 50)
    await network.set_stock(database, "FXT", "lamp", 5)
    for delta in (-1, -2, -3):
        await client.post(
            f"{API}/stock/adjustments",
            json={"stock_level_id": lamp, "delta": delta, "reason": "damaged"},
            headers=tenant.headers(Role.WAREHOUSE),
        )
    put = await client.put(
        f"{API}/stock",
        json={"warehouse_id": network.warehouses["FRA"], "sku_id": network.skus["lamp"], "on_hand": 40},
        headers=tenant.headers(Role.WAREHOUSE),
    )
    assert put.status_code == 200
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"stock_level_id": lamp, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/stock/movements", params=params, headers=h)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(m["kind"], m["on_hand_delta"], m["on_hand_after"]) for m in seen] == [
        ("snapshot", -4, 40),
        ("adjustment", -3, 44),
        ("adjustment", -2, 47),
        ("adjustment", -1, 49),
        ("snapshot", 50, 50),
    ]
    adjustments = (
        await client.get(
            f"{API}/stock/movements", params={"kind": "adjustment", "sku_id": network.skus["lamp"]}, headers=h
        )
    ).json()
    assert len(adjustments["items"]) == 3
    by_warehouse = (
        await client.get(
            f"{API}/stock/movements", params={"warehouse_id": network.warehouses["FXT"]}, headers=h
        )
    ).json()
    assert [m["on_hand_after"] for m in by_warehouse["items"]] == [5]
    bad = await client.get(f"{API}/stock/movements", params={"kind": "teleported"}, headers=h)
    assert bad.status_code == 422
