"""The agents' parcel pages over HTTP (SQLite and PostgreSQL): the at-risk list shows the parcel held in
customs and the stalled one (newest exception first, priority badges, in Chinese) and not the healthy or the
delivered ones, and its filters narrow it; lane health shows the known history's figures to the tenth of a
day; one parcel's page shows its events in event time with the late arrival marked, the raw carrier event
and the exception's ticket; the ticket's side panel and the order page show the parcel's events; viewers and
agents read; another tenant gets 404 and an empty list; the API answers the same.

The history (tests/integration/test_shipping_report.make_history) sets the exceptions up as rows."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from aftersail.kit.db import Database
from aftersail.orders.models import Order
from aftersail.shipping.models import ShipmentException
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import Channel
from aftersail.tenants.models import Role
from tests.e2e.test_pages_knowledge import person
from tests.e2e.test_pages_shop import sign_in
from tests.factories import make_tenant
from tests.integration.test_shipping_report import History, make_history


def risk_rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-shipment-row="(\d+)"', html)]


def event_times(html: str) -> list[str]:
    return re.findall(r'data-occurred="([^"]+)"', html)


async def open_parcel_ticket(database: Database, history: History) -> int:
    """A ticket opened for the held parcel (as care does), linked from its exception row."""
    held = history["held"]
    async with database.transaction(tenant_id=held.tenant_id) as session:
        order = await session.get(Order, held.order_id)
        assert order is not None
        ticket = await tickets.do_open_ticket(
            session,
            held.tenant_id,
            customer_id=order.customer_id,
            channel=Channel.EMAIL,
            subject="Zoll hält Ihr Paket",
            language="de",
            category="where_is_my_order",
            order_id=held.order_id,
            actor="system",
        )
        await messages.do_add_customer_message(
            session,
            ticket,
            body="Wo ist mein Paket?",
            channel=Channel.EMAIL,
            author_name="Lena",
            language="de",
        )
        await session.execute(
            update(ShipmentException)
            .where(ShipmentException.shipment_id == held.shipment_id)
            .values(ticket_id=ticket.id)
        )
        return ticket.id


async def test_the_at_risk_list_shows_the_held_and_the_stalled_parcel(
    client: httpx.AsyncClient, database: Database
) -> None:
    history = await make_history(database)
    held, stalled, moving = history["held"], history["stalled"], history["moving"]
    ticket_id = await open_parcel_ticket(database, history)
    await sign_in(client, held.tenant.admin_email)  # the admin's console speaks Chinese

    listed = await client.get("/shipments")
    assert listed.status_code == 200, listed.text
    assert risk_rows(listed.text) == [held.shipment_id, stalled.shipment_id]  # newest exception first
    assert str(moving.shipment_id) not in risk_rows(listed.text)
    assert history["a"].tracking_number not in listed.text and moving.tracking_number not in listed.text
    for text in ("有风险的包裹", "海关扣留", "停滞", "清关中", held.number, held.tracking_number, held.email):
        assert text in listed.text, text
    assert 'data-priority="p1"' in listed.text and 'data-priority="p2"' in listed.text
    assert 'class="prio prio-p1"' in listed.text
    assert f'href="/inbox/{ticket_id}"' in listed.text
    assert f'href="/shipments/{held.shipment_id}"' in listed.text
    assert 'href="/shipments"' in listed.text and 'aria-current="page"' in listed.text  # the nav entry

    stalled_only = await client.get("/shipments", params={"kind": "stalled"})
    assert risk_rows(stalled_only.text) == [stalled.shipment_id]
    frankfurt = held.network.warehouses["FRA"]
    felixstowe = held.network.warehouses["FXT"]
    assert len(risk_rows((await client.get("/shipments", params={"warehouse": frankfurt})).text)) == 2
    assert risk_rows((await client.get("/shipments", params={"warehouse": felixstowe})).text) == []
    france = await client.get("/shipments", params={"country": "fr"})
    assert france.status_code == 200 and risk_rows(france.text) == [] and "data-no-risk" in france.text
    bad = await client.get("/shipments", params={"kind": "vanished", "country": "Germany"})
    assert bad.status_code == 422 and "国家代码" in bad.text and risk_rows(bad.text) == []

    api = await client.get("/api/v1/shipments/at-risk", headers=held.tenant.headers(Role.VIEWER))
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["total"] == 2
    first = body["items"][0]
    assert first["shipment_id"] == held.shipment_id and first["lane"] == "FRA>DE"
    assert first["order_number"] == held.number and first["buyer_email"] == held.email
    assert (first["status"], first["sub_status"], first["priority"]) == ("customs", "held", "p1")
    assert first["days_since_scan"] == 3.0 and first["eta_slip_days"] == 7.0
    assert [(e["kind"], e["priority"], e["ticket_id"]) for e in first["exceptions"]] == [
        ("customs_hold", "p1", ticket_id)
    ]
    filtered = await client.get(
        "/api/v1/shipments/at-risk", params={"kind": "stalled"}, headers=held.tenant.headers(Role.AGENT)
    )
    assert [item["shipment_id"] for item in filtered.json()["items"]] == [stalled.shipment_id]


async def test_lane_health_shows_the_known_history(client: httpx.AsyncClient, database: Database) -> None:
    history = await make_history(database)
    await sign_in(client, await person(database, history["a"].tenant, Role.VIEWER, "en"))
    page = await client.get("/shipments/lanes")
    assert page.status_code == 200, page.text
    row = re.search(r'<tr data-lane="FRA>DE".*?</tr>', page.text, re.S)
    assert row, page.text
    cells = dict(re.findall(r'data-cell="(\w+)">\s*([^<]+?)\s*<', row.group(0)))
    assert cells["shipped"] == "8" and cells["delivered"] == "5" and cells["in_flight"] == "3"
    assert cells["median"] == "3 days" and cells["p90"] == "6 days"
    assert cells["on_time"] == "66.7%"
    assert cells["customs_hold"] == "12.5%" and cells["stalled"] == "12.5%"
    assert "set: 2 days" in row.group(0) and "set: 3 days" in row.group(0)
    assert 'class="bar-median"' in row.group(0)
    france = re.search(r'<tr data-lane="FRA>FR".*?</tr>', page.text, re.S)
    assert france and 'data-cell="median">3 days' in re.sub(r"\s+<", "<", france.group(0))
    assert "Last 90 days" in page.text

    api = await client.get("/api/v1/reports/lanes", headers=history["a"].tenant.headers(Role.VIEWER))
    assert api.status_code == 200, api.text
    lanes = {lane["lane"]: lane for lane in api.json()["lanes"]}
    germany = lanes["FRA>DE"]
    assert (germany["delivered"], germany["median_transit_days"], germany["p90_transit_days"]) == (
        5,
        3.0,
        6.0,
    )
    assert (germany["configured_median_days"], germany["configured_p90_days"]) == (2, 3)
    assert germany["in_flight"] == 3 and germany["shipped"] == 8
    assert germany["exception_rates"] == {"customs_hold": 0.125, "stalled": 0.125, "eta_slipped": 0.125}
    assert round(germany["on_time_rate"], 4) == 0.6667
    bad = await client.get(
        "/api/v1/reports/lanes",
        params={"from": "2025-02-01", "to": "2025-01-01"},
        headers=history["a"].tenant.headers(Role.VIEWER),
    )
    assert bad.status_code == 422


async def test_the_parcel_page_shows_events_in_event_time_with_the_late_arrival(
    client: httpx.AsyncClient, database: Database, app: FastAPI
) -> None:
    history = await make_history(database)
    held = history["held"]
    ticket_id = await open_parcel_ticket(database, history)
    await sign_in(client, await person(database, held.tenant, Role.AGENT, "en"))

    page = await client.get(f"/shipments/{held.shipment_id}")
    assert page.status_code == 200, page.text
    times = event_times(page.text)
    assert len(times) == 3 and times == sorted(times, reverse=True)  # event time, newest first
    words = ["Held by customs", "Departed hub Leipzig", "Shipment picked up"]
    positions = [page.text.index(f"“{text}”") for text in words]
    assert positions == sorted(positions)
    late = re.findall(r'data-event="\d+" data-occurred="[^"]+" data-late', page.text)
    assert len(late) == 1 and "Reached us late" in page.text  # the Leipzig scan came after the customs scan
    leipzig = page.text[
        page.text.index("“Departed hub Leipzig”") - 1500 : page.text.index("“Departed hub Leipzig”")
    ]
    assert "data-late" in leipzig
    assert "1 event arrived after a later one" in page.text
    assert "Raw carrier event" in page.text and "&#34;sub_status&#34;: &#34;held&#34;" in page.text
    assert "Frankfurt Airport" in page.text and "Webhook (generic JSON)" in page.text
    assert 'data-exception-row="customs_hold"' in page.text and "Customs hold" in page.text
    assert f'href="/inbox/{ticket_id}"' in page.text and "Zoll hält Ihr Paket" in page.text
    assert f'href="/orders/{held.order_id}"' in page.text
    assert "Promised" in page.text and "7 days late" in page.text

    side = await client.get(f"/inbox/{ticket_id}")
    assert side.status_code == 200, side.text
    panel = side.text[side.text.index("data-parcels") :]
    assert f'data-parcel="{held.shipment_id}"' in panel
    assert "“Held by customs”" in panel and "“Departed hub Leipzig”" in panel
    assert "is-linked" in panel and f'href="/shipments/{held.shipment_id}"' in panel

    order = await client.get(f"/orders/{held.order_id}")
    assert order.status_code == 200, order.text
    parcels = order.text[order.text.index('id="parcels"') :]
    assert f'data-parcel="{held.shipment_id}"' in parcels and "“Shipment picked up”" in parcels
    assert len(event_times(parcels)) == 3

    viewer = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with viewer:
        await sign_in(viewer, await person(database, held.tenant, Role.VIEWER, "zh"))
        seen = await viewer.get(f"/shipments/{held.shipment_id}")
        assert seen.status_code == 200 and "海关扣留" in seen.text and "清关中" in seen.text
        assert (await viewer.get("/shipments")).status_code == 200

    stranger = await make_tenant(database)
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await sign_in(other, stranger.admin_email)
        assert (await other.get(f"/shipments/{held.shipment_id}")).status_code == 404
        listed = await other.get("/shipments")
        assert listed.status_code == 200 and risk_rows(listed.text) == []
        assert held.tracking_number not in listed.text
        lanes = await other.get("/shipments/lanes")
        assert lanes.status_code == 200 and "FRA" not in lanes.text
        api = await other.get("/api/v1/shipments/at-risk", headers=stranger.headers(Role.ADMIN))
        assert api.json() == {"total": 0, "items": []}
    assert (await client.get("/shipments/999999999")).status_code == 404
