"""The orders list (filters, cursor pages), the order page, and the warehouses page, over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from aftersail.kit.db import Database
from aftersail.orders.models import Order, OrderChannel, OrderStatus
from tests.e2e.test_pages_shop import PLACED, Shop, seed_shop, sign_in


def listed(html: str, shop: Shop) -> set[str]:
    return {number for number in shop.orders if f">{number}</a>" in html}


async def test_orders_list_filters(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    numbers = list(shop.orders)  # US-1001 shipped, US-1002 live/pending, AE-2001 allocated, DE-3001 delivered
    everything = await client.get("/orders")
    assert listed(everything.text, shop) == set(numbers)
    assert "$56.00" in everything.text and "Emma Stone" in everything.text
    cases = {
        "status=shipped": {numbers[0]},
        "channel=marketplace": {numbers[2]},
        "country=de": {numbers[3]},
        f"live={shop.live_session_id}": {numbers[1]},
        f"q={numbers[2][:8]}": {numbers[2]},  # order number prefix
        f"q={shop.emails['emma'].upper()}": {numbers[0], numbers[1]},  # customer email, any case
        "placed_from=2024-05-17&placed_to=2024-05-18": {numbers[2]},  # whole days in the viewer's zone
        "placed_from=2024-05-20": {numbers[0]},
        "status=delivered&country=US": set(),
    }
    for query, expected in cases.items():
        page = await client.get(f"/orders?{query}")
        assert page.status_code == 200, query
        assert listed(page.text, shop) == expected, query
    empty = await client.get("/orders?status=cancelled")
    assert "No orders match" in empty.text


async def test_orders_list_rejects_bad_filters_with_messages(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    page = await client.get("/orders?status=lost&country=USA&placed_from=yesterday&live=999999")
    assert page.status_code == 422
    for message in (
        "Choose a status from the list.",
        "Use a two-letter country code",
        "Use a date such as 2024-05-31.",
        "Choose a live session from the list.",
    ):
        assert message in page.text
    assert listed(page.text, shop) == set()
    backwards = await client.get("/orders?placed_from=2024-05-20&placed_to=2024-05-01")
    assert backwards.status_code == 422 and "The end date is before the start date." in backwards.text
    forged = await client.get("/orders?cursor=not-a-cursor")
    assert forged.status_code == 422 and "<html" in forged.text  # an HTML page, not a JSON error


async def test_orders_list_pages_with_a_cursor(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    template_id = shop.orders[next(iter(shop.orders))]
    async with database.transaction(tenant_id=shop.tenant.tenant_id) as session:
        first = await session.get(Order, template_id)
        assert first is not None
        for index in range(30):
            session.add(
                Order(
                    tenant_id=first.tenant_id,
                    number=f"BULK-{index:03d}",
                    customer_id=first.customer_id,
                    channel=OrderChannel.API,
                    status=OrderStatus.PENDING,
                    currency="USD",
                    total_minor=100,
                    shipping_address={},
                    country="US",
                    placed_at=PLACED + timedelta(minutes=index),
                )
            )
    await sign_in(client, shop.agent_email)
    seen: list[str] = []
    url = "/orders?channel=api"
    for _ in range(5):
        page = await client.get(url)
        seen += re.findall(r">(BULK-\d{3})</a>", page.text)
        next_link = re.search(r'rel="next" href="([^"]+)"', page.text)
        if not next_link:
            break
        url = next_link.group(1).replace("&amp;", "&")
        assert "channel=api" in url  # filters survive paging
    assert seen == [f"BULK-{index:03d}" for index in reversed(range(30))]


async def test_order_page_shows_everything_an_agent_needs(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    number = list(shop.orders)[1]  # the live-session order of Emma
    page = await client.get(f"/orders/{shop.orders[number]}")
    assert page.status_code == 200
    text = page.text
    for expected in (
        number,
        "Emma Stone",
        shop.emails["emma"],
        "12 Harbor Street",
        "Aurora desk lamp, white",
        "LAMP-WHT-",
        "$39.00",
        "Live session",
        "Spring lighting live",
        "Lina",
        "Pending",
        "Allocation",
        "Audit trail",
    ):
        assert expected in text, expected
    # Placed 2024-05-19 09:30 UTC is 17:30 in the agent's Asia/Shanghai zone.
    assert "May 19, 2024, 5:30:00" in text


async def test_another_tenants_order_is_404(client: httpx.AsyncClient, database: Database) -> None:
    mine = await seed_shop(database)
    theirs = await seed_shop(database, name="Other Seller")
    await sign_in(client, mine.agent_email)
    foreign = await client.get(f"/orders/{next(iter(theirs.orders.values()))}")
    assert foreign.status_code == 404
    assert "Not found" in foreign.text and next(iter(theirs.orders)) not in foreign.text
    assert listed((await client.get("/orders")).text, theirs) == set()
    assert (await client.get("/orders/not-a-number")).status_code == 422
    other_warehouse = theirs.warehouses["US-LAX"]
    assert (await client.get(f"/warehouses?warehouse={other_warehouse}")).status_code == 404


async def test_warehouses_page_shows_stock_and_low_rows(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    page = await client.get(f"/warehouses?warehouse={shop.warehouses['US-LAX']}")
    assert page.status_code == 200
    text = page.text
    for expected in (
        "Los Angeles",
        "Frankfurt",
        "America/Los_Angeles",
        "Europe/Berlin",
        "Fulfilment",
        "Returns",
        "Video inspection",
        "Aurora desk lamp, black",
        "1 low",
    ):
        assert expected in text, expected
    rows = re.findall(r"<tr( class=\"row-low\")?>\s*<td class=\"mono\">([^<]+)</td>", text)
    low = {code.split("-")[0] + "-" + code.split("-")[1] for flag, code in rows if flag}
    assert low == {"LAMP-WHT"}  # 8 on hand − 5 reserved = 3 available, under its threshold of 10
    assert re.search(r">100<", text)  # LAMP-BLK available = 120 − 20
    frankfurt = await client.get(f"/warehouses?warehouse={shop.warehouses['DE-FRA']}")
    assert (
        "Warm LED bulb E27" in frankfurt.text and "Aurora desk lamp" not in frankfurt.text.split("<table")[-1]
    )
