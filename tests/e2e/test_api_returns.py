"""The returns API for agents' tools (SQLite and PostgreSQL): the list filters and pages newest first, one
return carries its lines with the return-or-keep figures, its events and refunds; a review approves; a refund
sent twice with the same Idempotency-Key is one refund (201, then 200 replayed); without a key it is refused;
a cancel after the parcel arrived is a conflict; a viewer reads but cannot act."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from aftersail.kit.db import Database
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.tenants.models import Role
from tests.e2e.test_pages_returns_console import desk

API = "/api/v1/returns"


async def test_list_detail_review_refund_once_and_cancel(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    delivered, first, serial, high = await desk(database, app)
    h = delivered.tenant.headers(Role.AGENT)

    listed = await client.get(API, headers=h)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [high, serial, first]
    page = await client.get(API, params={"limit": 2}, headers=h)
    rest = await client.get(API, params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=h)
    assert [i["id"] for i in page.json()["items"] + rest.json()["items"]] == [high, serial, first]
    review = await client.get(API, params={"outcome": "needs_review"}, headers=h)
    assert [i["id"] for i in review.json()["items"]] == [high, serial]
    assert review.json()["items"][1]["signals"]["serial_returner"] is True
    by_rma = await client.get(API, params={"q": f"RMA{first:07d}"}, headers=h)
    assert [i["id"] for i in by_rma.json()["items"]] == [first]
    assert (await client.get(API, params={"outcome": "maybe"}, headers=h)).status_code == 422

    detail = (await client.get(f"{API}/{first}", headers=h)).json()
    assert detail["rule"] == "auto_approve" and detail["label_available"] is True
    [line] = detail["lines"]
    assert line["worth_back_minor"] > line["cost_back_minor"] > 0 and line["keep"] is False
    assert [e["kind"] for e in detail["events"]][:2] == ["requested", "decided"]
    assert detail["loss_minor"] == detail["reverse_freight_minor"] + detail["handling_minor"]

    approved = await client.post(f"{API}/{high}/review", json={"approve": True, "note": "checked"}, headers=h)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    again = await client.post(f"{API}/{high}/review", json={"approve": True}, headers=h)
    assert again.status_code == 409

    early = await client.post(f"{API}/{first}/refunds", json={}, headers={**h, "Idempotency-Key": "early"})
    assert early.status_code == 409  # nothing received yet
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, first)
        await receiving.do_receive(session, ret, actor="user:warehouse")
    keyless = await client.post(f"{API}/{first}/refunds", json={"amount_minor": 700}, headers=h)
    assert keyless.status_code == 422
    keyed = {**h, "Idempotency-Key": "refund-7f3a"}
    made = await client.post(f"{API}/{first}/refunds", json={"amount_minor": 700}, headers=keyed)
    assert made.status_code == 201, made.text
    replayed = await client.post(f"{API}/{first}/refunds", json={"amount_minor": 700}, headers=keyed)
    assert replayed.status_code == 200 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == made.json()["id"] and made.json()["amount_minor"] == 700
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, first)
        assert len(await refunds.return_refunds(session, ret)) == 1
    too_much = await client.post(
        f"{API}/{first}/refunds", json={"amount_minor": 10**6}, headers={**h, "Idempotency-Key": "big"}
    )
    assert too_much.status_code == 422

    late = await client.post(f"{API}/{first}/cancel", headers=h)
    assert late.status_code == 409  # received: it travelled already
    cancelled = await client.post(f"{API}/{serial}/cancel", headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    viewer = delivered.tenant.headers(Role.VIEWER)
    assert (await client.get(f"{API}/{first}", headers=viewer)).status_code == 200
    refused = await client.post(f"{API}/{high}/cancel", headers=viewer)
    assert refused.status_code == 403
