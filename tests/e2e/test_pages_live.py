"""The live sessions list and the Live board over HTTP: sign-in required, figures from orders placed through
the API, another tenant's session is a 404, the page carries the state its script starts from."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aftersail.kit.db import Database
from aftersail.tenants.models import Role
from tests.e2e.test_pages_shop import sign_in
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network, order_body

API = "/api/v1"


async def live_session(client: httpx.AsyncClient, tenant: TenantFixture, **fields: Any) -> int:
    body = {
        "title": "Summer desk drop",
        "host": "Lina",
        "market": "DE",
        "platform": "TikTok",
        "starts_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
        **fields,
    }
    created = await client.post(f"{API}/live-sessions", json=body, headers=tenant.headers(Role.ADMIN))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def place(
    client: httpx.AsyncClient, tenant: TenantFixture, network: Network, lines: dict[str, int], session_id: int
) -> dict[str, Any]:
    placed = await client.post(
        f"{API}/orders",
        json=order_body(network, lines, live_session_id=session_id),
        headers=tenant.headers(Role.ADMIN),
    )
    assert placed.status_code == 201, placed.text
    result: dict[str, Any] = placed.json()
    return result


async def sign_in_as(client: httpx.AsyncClient, tenant: TenantFixture, locale: str = "en") -> str:
    """Signs the tenant's admin in to the console, in `locale`; returns the CSRF token."""
    csrf = await sign_in(client, tenant.admin_email)
    switched = await client.post("/locale", data={"lang": locale, "next": "/", "csrf_token": csrf})
    assert switched.status_code == 303
    return csrf


def board_state(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="live-board-state">(.*?)</script>', page, re.S)
    assert found, "the board carries its starting state"
    state: dict[str, Any] = json.loads(found.group(1))
    return state


def cell(page: str, sku_id: int, warehouse_id: int) -> str:
    found = re.search(rf'<td [^>]*data-cell="{sku_id}:{warehouse_id}".*?</td>', page, re.S)
    assert found, f"no stock cell for SKU {sku_id} in warehouse {warehouse_id}"
    return found.group(0)


async def test_live_pages_need_a_signed_in_console_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    session_id = await live_session(client, tenant)
    for path in ("/live", f"/live/{session_id}"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"
    # An API key is not a console sign-in.
    keyed = await client.get(f"/live/{session_id}", headers=tenant.headers(Role.ADMIN))
    assert keyed.status_code == 303


async def test_sessions_list_and_board_show_orders_stock_and_sell_outs(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database, name="Lumen Home")
    network = await make_network(database, tenant.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 5)
    await network.set_stock(database, "FXT", "lamp", 7)
    await network.set_stock(database, "FRA", "cable", 2)
    session_id = await live_session(client, tenant)
    quiet_id = await live_session(client, tenant, title="Autumn preview", host="Kai", market="GB")
    await place(client, tenant, network, {"lamp": 2}, session_id)
    await place(client, tenant, network, {"lamp": 3, "cable": 1}, session_id)  # the last lamps in FRA
    await place(client, tenant, network, {"cable": 1}, session_id)  # and the last cable

    await sign_in_as(client, tenant)
    listing = await client.get("/live")
    assert listing.status_code == 200 and 'aria-current="page"' in listing.text
    assert f'href="/live/{session_id}"' in listing.text and f'href="/live/{quiet_id}"' in listing.text
    row = re.search(rf'href="/live/{session_id}".*?</tr>', listing.text, re.S)
    assert row and "Lina" in row.group(0) and "On air" in row.group(0)
    assert '<td class="num">3</td>' in row.group(0) and "€139.93" in row.group(0)  # 7 × €19.99

    page = await client.get(f"/live/{session_id}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Summer desk drop" in text and "Host: Lina" in text and "Market: DE" in text
    assert re.search(r'data-kpi="orders">3<', text) and re.search(r'data-kpi="units">7<', text)
    assert re.search(r'data-kpi="sellouts">2<', text)
    lamp_fra = cell(text, network.skus["lamp"], network.warehouses["FRA"])
    assert 'data-field="available">0<' in lamp_fra and "is-sold-out" in lamp_fra
    assert 'data-field="on_hand">5<' in lamp_fra and 'data-field="reserved">5<' in lamp_fra
    lamp_fxt = cell(text, network.skus["lamp"], network.warehouses["FXT"])
    assert 'data-field="available">7<' in lamp_fxt and "is-sold-out" not in lamp_fxt
    sell_outs = re.findall(r"<li data-sellout=.*?</li>", text, re.S)
    lines = [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in sell_outs]
    assert len(lines) == 2
    assert any(
        re.fullmatch(rf"Sold out at \d\d:\d\d — {network.codes['lamp']} in Frankfurt \(Raunheim\)", line)
        for line in lines
    ), lines
    assert f"{network.codes['lamp']}</span>" in text, "top SKUs"
    assert text.count("· Lina</span>") == 3, "each order shows its host"
    state = board_state(text)
    assert state["session_id"] == session_id and state["on_air"] is True
    assert state["order_count"] == 3 and sum(state["per_minute"]) == 3 and len(state["per_minute"]) == 60
    assert state["gmv"] == {"EUR": 7 * 1999}
    assert {tuple(v[:2]) for v in state["levels"].values()} == {
        (network.skus["lamp"], network.warehouses["FRA"]),
        (network.skus["lamp"], network.warehouses["FXT"]),
        (network.skus["cable"], network.warehouses["FRA"]),
    }
    assert '<script type="module" src="/static/js/live-board.js"></script>' in text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    quiet = await client.get(f"/live/{quiet_id}")
    assert (
        quiet.status_code == 200 and "No orders yet." in quiet.text and "Nothing has sold out." in quiet.text
    )
    for asset in ("/static/js/live-board.js", "/static/js/live-socket.js", "/static/css/live.css"):
        assert (await client.get(asset)).status_code == 200, asset


async def test_the_board_in_chinese(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await make_tenant(database)
    session_id = await live_session(client, tenant)
    await sign_in_as(client, tenant, "zh")
    listing = await client.get("/live")
    assert "<h1>直播场次</h1>" in listing.text
    page = await client.get(f"/live/{session_id}")
    assert "每分钟订单数" in page.text and "各仓库存" in page.text
    messages = json.loads(
        re.search(r'id="live-board-messages">(.*?)</script>', page.text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert messages["sold_out_line"] == "{time} 售罄 — {sku}（{warehouse}）"
    assert messages["statuses"]["allocated"] == "已分仓"


async def test_another_tenants_session_and_bad_ids(client: httpx.AsyncClient, database: Database) -> None:
    ours, theirs = await make_tenant(database), await make_tenant(database)
    theirs_id = await live_session(client, theirs, title="Their secret drop")
    await sign_in_as(client, ours)
    foreign = await client.get(f"/live/{theirs_id}")
    assert foreign.status_code == 404 and "Their secret drop" not in foreign.text and "<html" in foreign.text
    assert "Their secret drop" not in (await client.get("/live")).text
    assert (await client.get("/live/999999999")).status_code == 404
    bad = await client.get("/live/not-a-number")
    assert bad.status_code == 422 and "<html" in bad.text
