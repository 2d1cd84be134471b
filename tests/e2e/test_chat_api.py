"""The buyer's web chat over HTTP and WebSocket (SQLite and PostgreSQL): starting a chat from an order number
and e-mail or a signed order link (and slowing down guessing), messages that open a ticket the agents see,
replies shown in the buyer's language and internal notes never, photos kept byte for byte (and refused when
too big or not photos), ratings after resolution, the socket both ways, and the chat and rating pages."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.models import Customer
from aftersail.support.chat_pages import BUYER_TOPICS
from aftersail.support.models import CsatRating
from aftersail.support.rules import CATEGORIES
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.tenants.models import Role
from tests.e2e.sockets import receive, receive_all_until, receive_until
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import make_network, place_order
from tests.support_desk import Desk, make_desk

# A 16×16 JPEG made once by Chromium's encoder (canvas.toDataURL("image/jpeg")): a real JPEG, no Pillow.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABhY3Nw"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJD"
    "AAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBH"
    "AEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVogAAAAAAAA9tYAAQAA"
    "AADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBv"
    "AGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwg"
    "IyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
    "KCgoKCgoKCj/wAARCAAQABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAZEAACAwEAAAAAAAAAAAAAAAADEQATIWH/"
    "xAAVAQEBAAAAAAAAAAAAAAAAAAAEBv/EACQRAAACCAcAAAAAAAAAAAAAAAARFBUkJTEyUfBSY2SBgpGS/9oADAMBAAIRAxEAPwCYEOx6"
    "lyCjrWt8gRK3jfYKSxYl2CYkLO3r1CzFa9ltpuOH1NZD/9k="
)
_clients = itertools.count(1)


def png(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A real PNG (8-bit RGB), written with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Shop:
    desk: Desk
    email: str
    order_id: int
    order_number: str

    @property
    def tenant(self) -> TenantFixture:
        return self.desk.tenant

    @property
    def agent(self) -> dict[str, str]:
        return self.desk.tenant.headers(Role.AGENT)


async def make_shop(database: Database) -> Shop:
    """The support desk's German buyer (Lena) with one placed order."""
    desk = await make_desk(database)
    async with database.transaction(tenant_id=desk.tenant_id, readonly=True) as session:
        customer = await session.get(Customer, desk.customer_id)
        assert customer is not None
        email = customer.email
    network = await make_network(database, desk.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 5)
    order_id = await place_order(database, network, {"lamp": 1}, email=email)
    async with database.transaction(tenant_id=desk.tenant_id, readonly=True) as session:
        order = await orders.access_order(session, desk.tenant_id, order_id)
        assert order.customer_id == desk.customer_id
        return Shop(desk, email, order_id, order.number)


@pytest.fixture
async def buyer(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an address of its own, so that the per-client limit of one test never meets another's."""
    address = next(_clients)
    transport = httpx.ASGITransport(app=app, client=(f"10.77.{address // 250}.{address % 250 + 1}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def start(http: httpx.AsyncClient, shop: Shop) -> str:
    started = await http.post(
        "/chat/api/start",
        json={"tenant": shop.tenant.slug, "order_number": shop.order_number, "email": shop.email.upper()},
    )
    assert started.status_code == 200, started.text
    return str(started.json()["token"])


async def say(http: httpx.AsyncClient, token: str, body: str, **extra: Any) -> dict[str, Any]:
    sent = await http.post(
        "/chat/api/messages", json={"body": body, **extra}, headers={"X-Chat-Token": token}
    )
    assert sent.status_code == 201, sent.text
    return dict(sent.json())


async def thread(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    found = await http.get("/chat/api/thread", headers={"X-Chat-Token": token})
    assert found.status_code == 200, found.text
    return dict(found.json())


async def test_a_buyer_starts_a_chat_with_order_number_and_email(
    buyer: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    started = await buyer.post(
        "/chat/api/start",
        json={
            "tenant": shop.tenant.slug,
            "order_number": shop.order_number,
            "email": f"  {shop.email.upper()} ",
        },
    )
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["name"] == "Lena Vogel" and body["language"] == "de"
    assert body["order_number"] == shop.order_number
    empty = await thread(buyer, body["token"])
    assert empty["ticket"] is None and empty["messages"] == [] and empty["name"] == "Lena Vogel"

    assert (await buyer.get("/chat/api/thread", headers={"X-Chat-Token": "made-up"})).status_code == 401
    unknown_shop = await buyer.post(
        "/chat/api/start", json={"tenant": "no-such-shop", "order_number": "X-1", "email": "a@example.com"}
    )
    assert unknown_shop.status_code == 404


async def test_a_wrong_email_is_refused_and_rapid_guessing_is_slowed_down(
    buyer: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    guess = {"tenant": shop.tenant.slug, "order_number": shop.order_number, "email": "someone@example.com"}
    answers = [await buyer.post("/chat/api/start", json=guess) for _ in range(6)]
    assert [a.status_code for a in answers] == [422, 422, 422, 422, 422, 429]
    refused = answers[0].json()["error"]
    assert refused["message"].startswith("We found no order with that number and e-mail")
    assert refused["fields"][0]["path"] == "order_number"
    assert int(answers[5].headers["retry-after"]) >= 1
    assert "try again in" in answers[5].json()["error"]["message"]
    # The right answer is slowed down too (the limit is per client, not per guess).
    right = {**guess, "email": shop.email}
    assert (await buyer.post("/chat/api/start", json=right)).status_code == 429


async def test_a_buyer_starts_a_chat_from_a_signed_order_link(
    app: FastAPI, buyer: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    links = app.state.services.links
    link = links.sign(BuyerGrant(shop.tenant.tenant_id, LinkScope.ORDER, shop.order_id))
    started = await buyer.post("/chat/api/start", json={"tenant": shop.tenant.slug, "order_link": link})
    assert started.status_code == 200, started.text
    assert started.json()["name"] == "Lena Vogel"
    assert (await thread(buyer, started.json()["token"]))["name"] == "Lena Vogel"

    other = await make_tenant(database)
    foreign = await buyer.post("/chat/api/start", json={"tenant": other.slug, "order_link": link})
    assert foreign.status_code == 401  # a link of one shop opens no chat with another
    ticket_link = links.sign(BuyerGrant(shop.tenant.tenant_id, LinkScope.TICKET, shop.order_id))
    wrong_kind = await buyer.post(
        "/chat/api/start", json={"tenant": shop.tenant.slug, "order_link": ticket_link}
    )
    assert wrong_kind.status_code == 403
    forged = await buyer.post(
        "/chat/api/start", json={"tenant": shop.tenant.slug, "order_link": link[:-4] + "AAAA"}
    )
    assert forged.status_code == 401
    # An order link is not a chat token.
    assert (await buyer.get("/chat/api/thread", headers={"X-Chat-Token": link})).status_code == 403


async def test_messages_open_a_ticket_that_the_agents_see(
    buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    first = await say(buyer, token, "Die Lampe kam mit einem Sprung im Glas an.", category="damaged")
    second = await say(buyer, token, "Soll ich ein Foto schicken?")
    assert first["ticket_id"] == second["ticket_id"] and first["author_kind"] == "customer"

    listed = await client.get(f"/api/v1/tickets?customer_id={shop.desk.customer_id}", headers=shop.agent)
    assert listed.status_code == 200
    [ticket] = listed.json()["items"]
    assert ticket["id"] == first["ticket_id"]
    assert ticket["channel"] == "chat" and ticket["category"] == "damaged" and ticket["language"] == "de"
    detail = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=shop.agent)).json()
    assert [m["body"] for m in detail["messages"]] == [
        "Die Lampe kam mit einem Sprung im Glas an.",
        "Soll ich ein Foto schicken?",
    ]
    empty = await buyer.post("/chat/api/messages", json={"body": "   "}, headers={"X-Chat-Token": token})
    assert empty.status_code == 422


async def test_the_thread_shows_replies_in_the_buyers_language_and_never_internal_notes(
    buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    ticket_id = (await say(buyer, token, "Wo ist mein Paket?", category="where_is_my_order"))["ticket_id"]
    reply = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={
            "body": "您好，包裹明天送达。",
            "language": "zh",
            "sent_body": "Hallo, Ihr Paket kommt morgen an.",
        },
        headers=shop.agent,
    )
    assert reply.status_code == 201, reply.text
    note = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "内部：承运商延误，别告诉买家赔偿的事。", "language": "zh", "internal": True},
        headers=shop.agent,
    )
    assert note.status_code == 201, note.text

    shown = await thread(buyer, token)
    assert shown["ticket"]["id"] == ticket_id
    assert [(m["author_kind"], m["text"]) for m in shown["messages"]] == [
        ("customer", "Wo ist mein Paket?"),
        ("agent", "Hallo, Ihr Paket kommt morgen an."),
    ]
    assert shown["messages"][1]["body"] == "您好，包裹明天送达。"  # the original stays beside it
    assert "内部" not in json.dumps(shown, ensure_ascii=False)
    assert shown["rate_url"] is None

    marked = await buyer.post("/chat/api/read", headers={"X-Chat-Token": token})
    assert marked.status_code == 200 and marked.json() == {"marked": 1}
    assert (await thread(buyer, token))["messages"][1]["read_at"] is not None


async def test_photos_are_stored_exactly_as_sent(
    buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    header = {"X-Chat-Token": token}
    picture = png()
    first = await buyer.post(
        "/chat/api/attachments", files={"file": ("riss.png", picture, "image/png")}, headers=header
    )
    assert first.status_code == 201, first.text  # the first photo opens the case
    second = await buyer.post(
        "/chat/api/attachments",
        files={"file": ("karton.jpg", JPEG, "application/octet-stream")},  # the bytes decide, not the label
        data={"caption": "Der Karton"},
        headers=header,
    )
    assert second.status_code == 201, second.text
    assert first.json()["ticket_id"] == second.json()["ticket_id"]
    assert second.json()["text"] == "Der Karton"
    assert second.json()["attachments"][0]["content_type"] == "image/jpeg"

    shown = await thread(buyer, token)
    files = {f["filename"]: f for m in shown["messages"] for f in m["attachments"]}
    assert set(files) == {"riss.png", "karton.jpg"}
    for name, sent in (("riss.png", picture), ("karton.jpg", JPEG)):
        fetched = await buyer.get(f"/chat/api/attachments/{files[name]['id']}", params={"token": token})
        assert fetched.status_code == 200
        assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(sent).hexdigest()
        assert fetched.headers["x-content-type-options"] == "nosniff"
        by_agent = await client.get(f"/api/v1/attachments/{files[name]['id']}", headers=shop.agent)
        assert by_agent.status_code == 200 and by_agent.content == sent

    # Another buyer's token does not open Lena's photo.
    stranger = await make_shop(database)
    other_token = await start(buyer, stranger)
    denied = await buyer.get(
        f"/chat/api/attachments/{files['riss.png']['id']}", params={"token": other_token}
    )
    assert denied.status_code == 404


async def test_uploads_that_are_too_big_or_not_photos_are_refused(
    buyer: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    header = {"X-Chat-Token": await start(buyer, shop)}
    huge = png() + b"\x00" * (11 * 1024 * 1024)
    too_big = await buyer.post(
        "/chat/api/attachments", files={"file": ("big.png", huge, "image/png")}, headers=header
    )
    assert too_big.status_code == 413
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    as_pdf = await buyer.post(
        "/chat/api/attachments", files={"file": ("invoice.png", pdf, "image/png")}, headers=header
    )
    assert as_pdf.status_code == 415
    assert "application/pdf" in as_pdf.json()["error"]["message"]
    text = await buyer.post(
        "/chat/api/attachments",
        files={"file": ("note.jpg", b"just some words\n", "image/jpeg")},
        headers=header,
    )
    assert text.status_code == 415
    assert (await thread(buyer, header["X-Chat-Token"]))["ticket"] is None  # nothing was stored


async def test_a_case_is_rated_once_it_is_resolved(
    buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    header = {"X-Chat-Token": token}
    ticket_id = (await say(buyer, token, "Danke, alles klar?"))["ticket_id"]
    early = await buyer.post(f"/chat/api/rate/{ticket_id}", json={"rating": 5}, headers=header)
    assert early.status_code == 422
    assert early.json()["error"]["message"].startswith("This case is still open")

    resolved = await client.post(
        f"/api/v1/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=shop.agent
    )
    assert resolved.status_code == 200, resolved.text
    assert re.match(r"^https?://[^/]+/rate/[\w.-]+$", (await thread(buyer, token))["rate_url"])
    assert (
        await buyer.post(f"/chat/api/rate/{ticket_id}", json={"rating": 6}, headers=header)
    ).status_code == 422
    rated = await buyer.post(
        f"/chat/api/rate/{ticket_id}", json={"rating": 4, "comment": "Schnell!"}, headers=header
    )
    assert rated.status_code == 200 and rated.json() == {"rating": 4, "comment": "Schnell!"}
    assert (await thread(buyer, token))["rate_url"] is None  # asked once

    stranger = await make_shop(database)
    other = {"X-Chat-Token": await start(buyer, stranger)}
    assert (
        await buyer.post(f"/chat/api/rate/{ticket_id}", json={"rating": 1}, headers=other)
    ).status_code == 404


# --- the sockets -------------------------------------------------------------------------------------------


async def test_the_socket_carries_replies_to_the_buyer_and_messages_to_the_console(
    ws_base: str, buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    ticket_id = (await say(buyer, token, "Hallo, ist jemand da?"))["ticket_id"]
    console_url = f"{ws_base}/ws?api_key={shop.tenant.api_keys[Role.VIEWER]}"
    async with connect(f"{ws_base}/chat/ws?token={token}") as chat, connect(console_url) as console:
        assert await receive(chat) == {"type": "ready"}
        assert await receive(console) == {"type": "ready"}

        reply = await client.post(
            f"/api/v1/tickets/{ticket_id}/replies",
            json={
                "body": "Hi, yes — how can I help?",
                "language": "en",
                "sent_body": "Hallo, ja — wie kann ich helfen?",
            },
            headers=shop.agent,
        )
        assert reply.status_code == 201
        pushed = await receive_until(chat, lambda f: f.get("type") == "message")
        assert pushed["author_kind"] == "agent" and pushed["text"] == "Hallo, ja — wie kann ich helfen?"
        assert pushed["ticket_id"] == ticket_id and pushed["id"] == reply.json()["id"]

        await chat.send(json.dumps({"type": "message", "body": "Meine Lampe flackert.", "client_id": "c-1"}))
        ack = await receive_until(chat, lambda f: f.get("type") == "ack")
        assert ack["client_id"] == "c-1" and isinstance(ack["id"], int)
        events = await receive_all_until(
            console,
            lambda f: f.get("topic") == "realtime.message.created" and f["payload"].get("id") == ack["id"],
        )
        created = events[-1]["payload"]
        assert created["body"] == "Meine Lampe flackert."
        assert created["author_kind"] == "customer" and created["ticket_id"] == ticket_id
        # The consoles saw it arrive first, under the key the stored push repeats (ADR 0014).
        [arriving] = [e["payload"] for e in events if e.get("topic") == "realtime.message.arriving"]
        assert arriving["arrival"] == created["arrival"] and arriving["body"] == "Meine Lampe flackert."
        assert arriving["ticket_id"] == ticket_id and "id" not in arriving
        await chat.send(json.dumps({"type": "ping"}))
        frame = await receive_until(chat, lambda f: f.get("type") in {"pong", "message"})
        assert frame == {"type": "pong"}, "the socket's own message comes back as its ack, not again"

        await chat.send(json.dumps({"type": "typing"}))  # the buyer types: the agents see it
        typing = await receive_until(console, lambda f: f.get("topic") == "realtime.typing")
        assert typing["payload"] == {"ticket_id": ticket_id, "who": "customer"}

        note = await client.post(
            f"/api/v1/tickets/{ticket_id}/replies",
            json={"body": "internal only", "language": "en", "internal": True},
            headers=shop.agent,
        )
        assert note.status_code == 201
        await chat.send(json.dumps({"type": "ping"}))
        frame = await receive_until(chat, lambda f: f.get("type") in {"pong", "message"})
        assert frame == {"type": "pong"}, "an internal note never reaches the buyer's socket"

    async with connect(f"{ws_base}/chat/ws?token=not-a-token") as refused:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(refused)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


REFUSE_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER test_refuse_message BEFORE INSERT ON ticket_messages WHEN NEW.body LIKE '%#refuse#%'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION test_refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.body LIKE '%#refuse#%' THEN RAISE EXCEPTION 'refused by the test'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER test_refuse_message BEFORE INSERT ON ticket_messages"
        " FOR EACH ROW EXECUTE FUNCTION test_refuse_message()",
    ],
}
DROP_TRIGGER = {
    "sqlite": ["DROP TRIGGER IF EXISTS test_refuse_message"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS test_refuse_message ON ticket_messages",
        "DROP FUNCTION IF EXISTS test_refuse_message()",
    ],
}


async def run_ddl(database: Database, statements: list[str]) -> None:
    async with database.engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


async def test_a_message_the_database_refuses_is_shown_failed_and_its_neighbours_are_stored(
    ws_base: str, buyer: httpx.AsyncClient, database: Database
) -> None:
    """The database refuses one message (a trigger: a real failure, nothing of ours replaced): the consoles
    that saw it arrive hear it failed, the buyer is asked to send it again, and the message written at the
    same moment from the buyer's other window is stored."""
    shop = await make_shop(database)
    token = await start(buyer, shop)
    await say(buyer, token, "Guten Tag")
    dialect = database.engine.dialect.name
    console_url = f"{ws_base}/ws?api_key={shop.tenant.api_keys[Role.VIEWER]}"
    await run_ddl(database, REFUSE_TRIGGER[dialect])
    try:
        async with (
            connect(f"{ws_base}/chat/ws?token={token}") as refused_chat,
            connect(f"{ws_base}/chat/ws?token={token}") as fine_chat,
            connect(console_url) as console,
        ):
            for ws in (refused_chat, fine_chat, console):
                assert await receive(ws) == {"type": "ready"}
            await refused_chat.send(
                json.dumps({"type": "message", "body": "Kaputt #refuse#", "client_id": "r"})
            )
            await fine_chat.send(json.dumps({"type": "message", "body": "Alles gut", "client_id": "f"}))
            error = await receive_until(refused_chat, lambda f: f.get("type") in {"error", "ack"})
            assert error["type"] == "error" and error["client_id"] == "r"
            assert error["code"] == "service_unavailable" and "send it again" in error["message"]
            ack = await receive_until(fine_chat, lambda f: f.get("type") == "ack")
            assert ack["client_id"] == "f"
            events = await receive_all_until(console, lambda f: f.get("topic") == "realtime.message.failed")
            arrived = {
                e["payload"]["body"]: e["payload"]["arrival"]
                for e in events
                if e.get("topic") == "realtime.message.arriving"
            }
            assert events[-1]["payload"]["arrival"] == arrived["Kaputt #refuse#"]
            assert "send it again" in events[-1]["payload"]["reason"]
    finally:
        await run_ddl(database, DROP_TRIGGER[dialect])
    assert [m["body"] for m in (await thread(buyer, token))["messages"]] == ["Guten Tag", "Alles gut"]


# --- the pages ---------------------------------------------------------------------------------------------


def chat_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="chat-config">(.*?)</script>', html, re.S)
    assert found
    return dict(json.loads(found.group(1)))


async def test_the_chat_page_in_the_buyers_language_and_inside_the_widget(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database, name="Harbor & Pine <Goods>")
    page = await client.get(f"/chat?t={tenant.slug}", headers={"accept-language": "de-DE,de;q=0.9"})
    assert page.status_code == 200
    assert '<html lang="de" dir="ltr">' in page.text
    assert "Harbor &amp; Pine &lt;Goods&gt;" in page.text and "<Goods>" not in page.text
    config = chat_config(page.text)
    assert set(BUYER_TOPICS) <= set(CATEGORIES)
    assert page.text.count('<option value="') == len(BUYER_TOPICS) + 1  # the topics and "choose one"
    assert config["tenant"] == tenant.slug and config["locale"] == "de" and config["embed"] is False
    assert config["text"]["typing"] == "Der Support schreibt…"
    assert config["text"]["welcome"] == "Hallo %(name)s! Wie können wir Ihnen heute helfen?"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"

    embedded = await client.get(f"/chat?t={tenant.slug}&embed=1&lang=ar")
    assert '<html lang="ar" dir="rtl">' in embedded.text
    assert "frame-ancestors *" in embedded.headers["content-security-policy"]
    assert "x-frame-options" not in embedded.headers  # the store's page may frame it
    assert 'id="chat-close"' in embedded.text and "lang-menu" not in embedded.text

    labels = await client.get("/chat/widget-labels?lang=ja-JP")
    assert labels.json() == {"locale": "ja", "open": "チャットでお問い合わせ", "close": "チャットを閉じる"}
    assert labels.headers["access-control-allow-origin"] == "*"

    demo = await client.get(f"/chat/widget-demo?t={tenant.slug}&lang=fr")
    assert demo.status_code == 200 and 'src="/static/js/chat-widget.js"' in demo.text
    missing = await client.get("/chat?t=no-such-store&lang=es")
    assert missing.status_code == 404 and "No encontramos esa tienda" in missing.text


async def test_the_rating_page_records_only_when_the_form_is_posted(
    app: FastAPI, buyer: httpx.AsyncClient, client: httpx.AsyncClient, database: Database
) -> None:
    shop = await make_shop(database)
    token = await start(buyer, shop)
    ticket_id = (await say(buyer, token, "Alles angekommen, danke."))["ticket_id"]
    links = app.state.services.links
    link = links.sign(BuyerGrant(shop.tenant.tenant_id, LinkScope.TICKET, ticket_id))

    still_open = await client.get(f"/rate/{link}")
    assert still_open.status_code == 200 and "noch offen" in still_open.text  # German: the case's language
    await client.post(f"/api/v1/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=shop.agent)

    ask = await client.get(f"/rate/{link}?rating=4", headers={"accept-language": "en"})
    assert ask.status_code == 200 and '<html lang="de"' in ask.text
    assert 'data-autosubmit="' in ask.text and 'name="rating" value="4"' in ask.text
    assert ask.headers["referrer-policy"] == "no-referrer"
    assert await rating_of(database, shop, ticket_id) is None  # opening the link recorded nothing

    posted = await client.post(f"/rate/{link}?lang=de", data={"rating": "4"})
    assert posted.status_code == 303
    thanks = await client.get(posted.headers["location"])
    assert "Vielen Dank!" in thanks.text and "4 von 5" in thanks.text
    assert await rating_of(database, shop, ticket_id) == (4, "")
    again = await client.post(f"/rate/{link}?lang=de", data={"rating": "4", "comment": "Sehr <b>nett</b>"})
    assert again.status_code == 303 and "saved=comment" in again.headers["location"]
    assert await rating_of(database, shop, ticket_id) == (4, "Sehr <b>nett</b>")  # posting twice is harmless
    english = await client.get(f"/rate/{link}?lang=en")
    assert "You rated us 4 of 5." in english.text and "Sehr &lt;b&gt;nett&lt;/b&gt;" in english.text

    assert (await client.post(f"/rate/{link}", data={"rating": "9"})).status_code == 422
    forged = await client.get(f"/rate/{link[:-3]}xyz?lang=fr")
    assert forged.status_code == 401 and "n’est pas valide" in forged.text
    order_link = links.sign(BuyerGrant(shop.tenant.tenant_id, LinkScope.ORDER, shop.order_id))
    assert (await client.get(f"/rate/{order_link}")).status_code == 404


async def rating_of(database: Database, shop: Shop, ticket_id: int) -> tuple[int, str] | None:
    async with database.transaction(tenant_id=shop.tenant.tenant_id, readonly=True) as session:
        row = await session.get(CsatRating, ticket_id)
        return (row.rating, row.comment) if row else None
