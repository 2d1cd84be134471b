"""The buyer's own changes through the signed order link (SQLite and PostgreSQL): cancel and change address
while the order is not packed, with a form token tied to the link; after release, a note that changes are
returns or exchanges now."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.orders.models import OrderEvent
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.tenants.models import Role
from tests.e2e.test_pages_order_changes import make_desk, place, reserved

LONDON = {"name": "Lena Vogel", "line1": "10 Downing St", "city": "London", "postal_code": "SW1A 2AA"}


def link(app: FastAPI, tenant_id: int, order_id: int) -> str:
    return "/o/" + str(app.state.services.links.sign(BuyerGrant(tenant_id, LinkScope.ORDER, order_id)))


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "no change form on the page"
    return found.group(1)


async def trail(database: Database, tenant_id: int, order_id: int) -> list[tuple[str, str]]:
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        rows = await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        )
        return [(e.actor, e.action) for e in rows.all()]


async def test_buyer_cancels_through_the_link(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(), FRA={"lamp": 5})
    order = await place(client, desk, {"lamp": 2})
    url = link(app, desk.tenant.tenant_id, order["id"])
    page = await client.get(url + "?lang=en")
    assert page.status_code == 200
    assert "Change or cancel your order" in page.text and "Yes, cancel my order" in page.text
    token = form_token(page.text)
    done = await client.post(f"{url}/cancel?lang=en", data={"form_token": token, "reason": "Wrong size"})
    assert done.status_code == 303 and done.headers["location"] == url + "?lang=en"
    assert await reserved(database, desk.network) == {}
    after = await client.get(done.headers["location"])
    assert "Your order has been cancelled." in after.text and "Cancelled" in after.text
    assert "Change or cancel your order" not in after.text
    assert (f"buyer:{order['id']}", "cancelled") in await trail(database, desk.tenant.tenant_id, order["id"])
    twice = await client.post(f"{url}/cancel?lang=en", data={"form_token": token})
    assert twice.status_code == 303
    assert "This order was cancelled." in (await client.get(twice.headers["location"])).text


async def test_forms_need_the_token_of_this_order(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(), FRA={"lamp": 5})
    mine, other = await place(client, desk, {"lamp": 1}), await place(client, desk, {"lamp": 1})
    mine_url, other_url = (link(app, desk.tenant.tenant_id, o["id"]) for o in (mine, other))
    other_token = form_token((await client.get(other_url)).text)
    await client.get(mine_url)
    for data in ({}, {"form_token": "forged"}, {"form_token": other_token}):
        refused = await client.post(f"{mine_url}/cancel", data={**data, "reason": "x"})
        assert refused.status_code == 403, data
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with fresh:  # the right token but not the browser that loaded the page (no nonce cookie)
        token = form_token((await client.get(mine_url)).text)
        assert (await fresh.post(f"{mine_url}/cancel", data={"form_token": token})).status_code == 403
    assert (await client.post("/o/not-a-link/cancel", data={"form_token": token})).status_code == 401
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 2}


async def test_buyer_changes_the_address_in_german(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(), FRA={"lamp": 5}, FXT={"lamp": 5})
    order = await place(client, desk, {"lamp": 1})
    url = link(app, desk.tenant.tenant_id, order["id"])
    page = await client.get(url + "?lang=de")
    assert "Adresse ändern" in page.text and "Vereinigtes Königreich" in page.text  # country names in German
    token = form_token(page.text)
    incomplete = await client.post(f"{url}/address?lang=de", data={"form_token": token, "country": "GB"})
    assert incomplete.status_code == 303
    assert "Prüfen Sie die Adresse" in (await client.get(incomplete.headers["location"])).text
    nowhere = await client.post(
        f"{url}/address?lang=de", data={"form_token": token, **LONDON, "country": "JP"}
    )
    assert "Wir können nicht in dieses Land liefern" in (await client.get(nowhere.headers["location"])).text
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 1}
    moved = await client.post(f"{url}/address?lang=de", data={"form_token": token, **LONDON, "country": "GB"})
    assert moved.status_code == 303
    assert "Ihre neue Adresse wurde gespeichert." in (await client.get(moved.headers["location"])).text
    assert await reserved(database, desk.network) == {("FXT", "lamp"): 1}
    assert (f"buyer:{order['id']}", "address_changed") in await trail(
        database, desk.tenant.tenant_id, order["id"]
    )


async def test_after_release_the_buyer_is_pointed_to_returns(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database, roles=(), FRA={"lamp": 5})
    order = await place(client, desk, {"lamp": 1})
    url = link(app, desk.tenant.tenant_id, order["id"])
    token = form_token((await client.get(url)).text)  # the page was open before the warehouse released
    released = await client.post(
        f"/api/v1/orders/{order['id']}/release", headers=desk.tenant.headers(Role.WAREHOUSE)
    )
    assert released.status_code == 200
    page = await client.get(url + "?lang=fr")
    assert "Change or cancel" not in page.text and 'name="form_token"' not in page.text
    assert "ne peut plus être modifiée" in page.text  # the returns/exchange note, in French
    stale = await client.post(f"{url}/cancel?lang=fr", data={"form_token": token})
    assert stale.status_code == 303
    assert "retour ou un échange" in (await client.get(stale.headers["location"])).text
    assert await reserved(database, desk.network) == {("FRA", "lamp"): 1}
    assert (f"buyer:{order['id']}", "cancelled") not in await trail(
        database, desk.tenant.tenant_id, order["id"]
    )
