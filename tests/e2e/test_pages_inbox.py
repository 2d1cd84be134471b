"""The agents' inbox over HTTP (SQLite and PostgreSQL): the list and a ticket render in Chinese and English,
views and filters narrow the list, a buyer message shows in the agent's language beside its original, the
side panel tells the buyer and their orders, another tenant's ticket is a 404, and whatever people typed is
shown as text."""

from __future__ import annotations

import json
import re
import uuid

import httpx

from aftersail.kit.db import Database
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.models import Channel
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.test_pages_shop import sign_in
from tests.factories import PASSWORD
from tests.support_desk import Desk, make_desk, open_buyer_ticket, set_user_locale, user_email

XSS_NAME = '<img src=x onerror="alert(1)">Eve'
XSS_BODY = "<script>alert(1)</script> Wo ist mein <b>Paket</b>?"


def listed(html: str) -> set[int]:
    return {int(found) for found in re.findall(r'data-ticket-row="(\d+)"', html)}


async def signed_in_as_wang(client: httpx.AsyncClient, database: Database, desk: Desk) -> str:
    return await sign_in(client, await user_email(database, desk, desk.wang_id))


async def test_the_inbox_renders_in_chinese_and_in_english(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    ticket_id = await open_buyer_ticket(
        database,
        desk,
        name="Lena Vogel",
        body="Mein Paket ist beschädigt angekommen.",
        subject="Paket beschädigt",
    )
    await signed_in_as_wang(client, database, desk)

    page = await client.get("/inbox")
    assert page.status_code == 200
    assert '<html lang="zh"' in page.text
    for text in ("收件箱", "我的", "未分配", "SLA 即将超时", "全部进行中", "Paket beschädigt", "Lena Vogel"):
        assert text in page.text, text
    assert ticket_id in listed(page.text)
    strings = json.loads(re.search(r'id="inbox-messages">(.*?)</script>', page.text, re.S).group(1))
    assert strings["buyer_typing"] == "买家正在输入…"  # the scripts' strings, in the console's language
    assert strings["due_in"] == "{duration}后截止"  # with {slots} the scripts fill
    assert 'href="/inbox" aria-current="page"' in page.text  # the nav points here now

    thread = await client.get(f"/inbox/{ticket_id}")
    assert thread.status_code == 200
    assert "Mein Paket ist beschädigt angekommen." in thread.text
    assert "没有配置翻译服务 — 显示原文" in thread.text  # no provider in these tests: the original, said so
    assert "此买家的订单没有跟踪中的包裹。" in thread.text  # the parcels panel (issue 7)
    assert "回复" in thread.text and "内部备注" in thread.text

    await set_user_locale(database, desk, desk.wang_id, "en")
    english = await client.get(f"/inbox/{ticket_id}")
    assert '<html lang="en"' in english.text
    for text in (
        "Mine",
        "Unassigned",
        "SLA at risk",
        "No translation provider is configured — showing the original",
        "No tracked parcels on this buyer's orders.",
        "Internal note",
        "Send and resolve",
        "Keyboard shortcuts",
    ):
        assert text in english.text, text


async def test_views_and_filters_narrow_the_list(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    german = await open_buyer_ticket(
        database,
        desk,
        name="Lena Vogel",
        body="Wo ist meine Bestellung?",
        subject="Wo ist sie?",
        category="where_is_my_order",
    )
    english = await open_buyer_ticket(
        database,
        desk,
        name="Omar Haddad",
        body="Where is my order?",
        subject="Late parcel",
        language="en",
        channel=Channel.EMAIL,
        country="AE",
        time_zone="Asia/Dubai",
        tags=("vip",),
    )
    await signed_in_as_wang(client, database, desk)
    both = {german, english}
    cases = {
        "": both,
        "view=all": both,
        "language=de": {german},
        "channel=email": {english},
        "tag=VIP": {english},
        "q=omar": {english},
        f"q=%23{german}": {german},
        "priority=p1": set(),
        "status=resolved": set(),
    }
    for query, expected in cases.items():
        page = await client.get(f"/inbox?{query}")
        assert page.status_code == 200, query
        assert listed(page.text) & both == expected, query
        fragment = await client.get(f"/inbox?part=list&{query}")
        assert listed(fragment.text) & both == expected and "<html" not in fragment.text, query

    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, english)
        assignee = ticket.assignee_id
    mine = listed((await client.get("/inbox?view=mine")).text)
    unassigned = listed((await client.get("/inbox?view=unassigned")).text)
    assert (english in mine) == (assignee == desk.wang_id)
    assert (english in unassigned) == (assignee is None)

    bad = await client.get("/inbox?status=lost&language=xx")
    assert bad.status_code == 422 and "Choose a value from the list." not in bad.text  # in Chinese
    assert "请从列表中选择" in bad.text and listed(bad.text) == set()


async def test_a_ticket_shows_translations_replies_notes_and_the_buyers_orders(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    ticket_id = await open_buyer_ticket(
        database, desk, name="Lena Vogel", body="Mein Paket ist beschädigt angekommen.", subject="Kaputt"
    )
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        first = (await messages.ticket_messages(session, ticket))[0]
        await messages.do_store_translation(
            session, first, language="zh", body="我的包裹到达时已损坏。", provider="libretranslate"
        )
    headers = desk.tenant.headers(Role.AGENT)
    reply = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "非常抱歉给您带来不便。", "language": "zh", "sent_body": "Es tut uns sehr leid."},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    note = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "@li 请看一下这个 <b>订单</b>", "internal": True, "language": "zh"},
        headers=headers,
    )
    assert note.status_code == 201
    await signed_in_as_wang(client, database, desk)

    page = (await client.get(f"/inbox/{ticket_id}")).text
    translated = page.index("我的包裹到达时已损坏。")
    assert translated < page.index("显示原文") < page.index("Mein Paket ist beschädigt angekommen.")
    assert "机器翻译，原文为 Deutsch" in page
    assert "以 Deutsch 发给买家" in page and "Es tut uns sehr leid." in page
    assert '<li class="msg msg-note"' in page
    assert '<mark class="mention">@li</mark> 请看一下这个 &lt;b&gt;订单&lt;/b&gt;' in page
    assert "Lena Vogel" in page and "Europe/Berlin" in page
    assert "首次响应" in page  # the SLA clocks

    fragment = await client.get(f"/inbox/{ticket_id}?part=thread")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'data-ticket="{ticket_id}"' in fragment.text


async def test_another_tenants_ticket_is_not_found(client: httpx.AsyncClient, database: Database) -> None:
    ours, theirs = await make_desk(database), await make_desk(database)
    secret = await open_buyer_ticket(
        database, theirs, name="Other Buyer", body="Geheime Nachricht", subject="Nur für die anderen"
    )
    await signed_in_as_wang(client, database, ours)
    page = await client.get(f"/inbox/{secret}")
    assert page.status_code == 404
    assert "Nur für die anderen" not in page.text and "Geheime Nachricht" not in page.text
    assert secret not in listed((await client.get("/inbox?view=all")).text)
    assert (await client.get(f"/inbox/{secret}?part=thread")).status_code == 404


async def test_what_people_typed_is_shown_as_text(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    ticket_id = await open_buyer_ticket(
        database, desk, name=XSS_NAME, body=XSS_BODY, subject="<script>alert(2)</script>", tags=("<i>x</i>",)
    )
    await signed_in_as_wang(client, database, desk)
    for path in ("/inbox", f"/inbox/{ticket_id}", f"/inbox/{ticket_id}?part=thread", "/inbox?part=list"):
        html = (await client.get(path)).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Paket" not in html, path
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Eve" in html, path
    thread = (await client.get(f"/inbox/{ticket_id}")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Wo ist mein &lt;b&gt;Paket&lt;/b&gt;?" in thread


async def test_signed_out_the_inbox_asks_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/inbox", "/inbox/1", "/inbox?view=mine"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/inbox")


async def test_a_viewer_reads_the_inbox_but_gets_no_controls(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    ticket_id = await open_buyer_ticket(database, desk, name="Lena Vogel", body="Hallo", subject="Frage")
    email = f"viewer-{uuid.uuid4().hex[:8]}@seller.test"
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        await tenants.do_create_user(
            session, tenant_id=desk.tenant_id, email=email, name="Vera", password=PASSWORD, role=Role.VIEWER
        )
    await sign_in(client, email)
    page = await client.get(f"/inbox/{ticket_id}")
    assert page.status_code == 200 and "Hallo" in page.text
    for control in ("data-composer", "data-row-check", "data-bulk", "data-controls", "data-translation-form"):
        assert control not in page.text, control
