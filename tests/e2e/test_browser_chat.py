"""The buyer's web chat in a real browser, against a real uvicorn server (with its dispatcher) on SQLite.

A German buyer finds their order, picks a topic, writes, sends a photo (and sees why a wrong file is
refused), reloads and finds the conversation again; an agent's typing and then their reply arrive live; the
case is resolved and rated in the chat. Names and messages full of markup stay text. Arabic mirrors, Chinese
reads well on a phone, the store widget opens the chat in its iframe, and the e-mail rating page records a
rating. Screenshots (phone size) go to the artifacts directory.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Frame,
    Page,
    expect,
)
from websockets.asyncio.client import connect
from websockets.typing import Origin

from aftersail.kit.db import Database
from aftersail.kit.i18n import translations
from aftersail.orders import service as orders
from aftersail.orders.schemas import CustomerCreate
from aftersail.tenants.links import BuyerGrant, BuyerLinkSigner, LinkScope
from aftersail.web.deps import SESSION_COOKIE
from tests.e2e.servers import sqlite_server
from tests.e2e.test_browser_pages import save, watch_for_errors
from tests.e2e.test_chat_api import Shop, make_shop, png
from tests.e2e.test_realtime_ws import session_token
from tests.factories import make_tenant
from tests.fulfilment import make_network, place_order

pytestmark = pytest.mark.browser
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
SERVER_SECRET = "browser-test-secret-key-that-is-long-enough"  # what tests/e2e/servers.py gives the server
MARKUP = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'
_addresses = itertools.count(1)


def client_address() -> dict[str, str]:
    """Each browser context is its own client for the per-client limit on finding an order (uvicorn takes
    X-Forwarded-For from a proxy on 127.0.0.1, which is where the browser is)."""
    return {"X-Forwarded-For": f"10.88.0.{next(_addresses)}"}


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    # The dispatcher runs: it sends the rating invitation once a case is resolved.
    with sqlite_server(tmp_path_factory.mktemp("chat-server"), RUN_DISPATCHER="true") as server:
        yield server


@pytest.fixture(scope="module")
async def db(served: tuple[str, str]) -> AsyncIterator[Database]:
    database = Database(served[1])
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
def base_url(served: tuple[str, str]) -> str:
    return served[0]


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, headers=client_address(), timeout=10) as http:
        yield http


async def phone(browser: Browser, locale: str) -> BrowserContext:
    return await browser.new_context(**PHONE, locale=locale, extra_http_headers=client_address())


def upload(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": data}


def real_errors(errors: list[str]) -> list[str]:
    """Console errors, less the browser's own note about an answer we expected to be an error (415 …)."""
    return [e for e in errors if "Failed to load resource" not in e]


async def find_order(page: Page, shop: Shop, *, email: str | None = None) -> None:
    await page.locator("#start-form input[name=order_number]").fill(shop.order_number)
    await page.locator("#start-form input[name=email]").fill(email or shop.email)
    await page.locator("#start-form button[type=submit]").click()


async def write(page: Page, text: str) -> None:
    await page.locator("#message-input").fill(text)
    await page.locator("#message-input").press("Enter")


async def ticket_of(api: httpx.AsyncClient, shop: Shop) -> dict[str, Any]:
    listed = await api.get(f"/api/v1/tickets?customer_id={shop.desk.customer_id}", headers=shop.agent)
    [ticket] = listed.json()["items"]
    return dict(ticket)


async def reply(
    api: httpx.AsyncClient, shop: Shop, ticket_id: int, body: str, sent_body: str, language: str = "zh"
) -> None:
    """The agent's reply as written (in `language`) and as the buyer gets it (`sent_body`)."""
    answer = await api.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": body, "language": language, "sent_body": sent_body},
        headers=shop.agent,
    )
    assert answer.status_code == 201, answer.text


async def test_a_german_buyer_chats_sends_a_photo_reloads_and_rates(
    browser: Browser, db: Database, api: httpx.AsyncClient, base_url: str, artifacts_dir: Path
) -> None:
    shop = await make_shop(db)
    context = await phone(browser, "de-DE")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base_url}/chat?t={shop.tenant.slug}")
    assert await page.locator("html").get_attribute("lang") == "de"
    await expect(page.locator("#chat-start h1")).to_have_text("Chat mit uns")

    await find_order(page, shop, email="jemand@example.com")
    await expect(page.locator("#start-error")).to_have_text(
        gettext(
            "de", "We could not find an order with that number and email address. Check both and try again."
        )
    )
    await find_order(page, shop)
    await expect(page.locator(".msg-welcome .msg-text")).to_have_text(
        "Hallo Lena Vogel! Wie können wir Ihnen heute helfen?"
    )
    await expect(page.locator("#chat-who")).to_have_text("Lena Vogel")
    await save(page, artifacts_dir, "chat-de-start.png")
    topic = page.get_by_label("Worum geht es?")
    await topic.select_option("damaged")
    assert await topic.locator("option:checked").inner_text() == "Artikel kam beschädigt an"

    await page.locator("#message-input").fill("Die Lampe ist zerbrochen.")
    await page.locator("#message-input").press("Shift+Enter")  # a new line, not sending
    await page.locator("#message-input").press_sequentially("Das Glas ist kaputt.")
    await page.locator("#message-input").press("Enter")
    mine = page.locator(".msg.mine")
    await expect(mine).to_have_count(1)
    assert await mine.locator(".msg-text").inner_text() == "Die Lampe ist zerbrochen.\nDas Glas ist kaputt."
    await expect(mine.locator(".msg-state")).to_have_text("Gesendet")
    await expect(topic).to_be_hidden()  # the topic is asked once

    photos = page.locator("#photo-input")
    await photos.set_input_files(files=[upload("glas.png", png(120, 80))])
    await expect(mine).to_have_count(2)
    image = mine.nth(1).locator("img")
    await expect(image).to_have_attribute("alt", "glas.png")
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 120", arg=await image.element_handle()
    )

    await photos.set_input_files(files=[upload("rechnung.png", b"%PDF-1.4\n%%EOF\n")])
    await expect(page.locator("#composer-error")).to_have_text(
        "Hier können nur Fotos gesendet werden: JPEG, PNG, GIF, WebP, HEIC oder AVIF."
    )
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024 + 1)
    await photos.set_input_files(files=[upload("riesig.png", big)])
    await expect(page.locator("#composer-error")).to_have_text(
        "Das Foto ist zu groß. Erlaubt sind höchstens 10\u00a0MB."
    )
    await expect(mine).to_have_count(2)
    await save(page, artifacts_dir, "chat-de-photo-error.png")

    ticket = await ticket_of(api, shop)
    assert ticket["channel"] == "chat" and ticket["category"] == "damaged"

    # A reload keeps the conversation (the token waits in localStorage).
    await page.reload()
    await expect(page.locator(".msg.mine")).to_have_count(2)
    await expect(page.locator("#chat-start")).to_be_hidden()
    await expect(page.locator(".msg.mine img")).to_have_count(1)
    await expect(page.locator("#topic-field")).to_be_hidden()

    # The agent types (from the console's socket), then replies: the buyer sees both, live.
    agent_token = await session_token(db, shop.tenant.tenant_id, shop.desk.wang_id)
    console = f"{base_url.replace('http://', 'ws://')}/ws"
    cookie = {"Cookie": f"{SESSION_COOKIE}={agent_token}"}
    async with connect(console, origin=Origin(base_url), additional_headers=cookie) as ws:
        assert json.loads(await ws.recv()) == {"type": "ready"}
        await ws.send(json.dumps({"type": "typing", "ticket_id": ticket["id"]}))
        await expect(page.locator("#chat-typing")).to_be_visible()
        await expect(page.locator("#chat-typing")).to_have_text("Der Support schreibt…")
        await save(page, artifacts_dir, "chat-de-typing.png")
        await reply(
            api,
            shop,
            ticket["id"],
            "很抱歉！我们今天补发一盏新灯。",
            "Das tut uns leid! Wir schicken Ihnen heute eine neue Lampe.",
        )
    theirs = page.locator(".msg.theirs:not(.msg-welcome)")
    await expect(theirs).to_have_count(1)
    await expect(theirs.locator(".msg-text")).to_have_text(
        "Das tut uns leid! Wir schicken Ihnen heute eine neue Lampe."
    )
    await expect(page.locator("#chat-typing")).to_be_hidden()

    # The page is on screen, so the reply is marked read.
    async def reply_read() -> bool:
        detail = (await api.get(f"/api/v1/tickets/{ticket['id']}", headers=shop.agent)).json()
        return all(m["read_at"] for m in detail["messages"] if m["author_kind"] == "agent")

    for _ in range(50):
        if await reply_read():
            break
        await page.wait_for_timeout(100)
    assert await reply_read()
    # The agent opens the case: after a reload the buyer's last message says "read".
    assert (await api.post(f"/api/v1/tickets/{ticket['id']}/read", headers=shop.agent)).status_code == 200
    await page.reload()
    await expect(page.locator(".msg.mine .msg-state")).to_have_text("Gelesen")
    await save(page, artifacts_dir, "chat-de.png", publish=True)

    # Resolved: the rating invitation arrives over the socket; one click rates, a comment may follow.
    resolved = await api.post(
        f"/api/v1/tickets/{ticket['id']}/status", json={"status": "resolved"}, headers=shop.agent
    )
    assert resolved.status_code == 200
    await expect(page.locator("#chat-rating")).to_be_visible(timeout=15000)
    await page.get_by_role("button", name="5 von 5").click()
    await expect(page.locator("#rating-status")).to_have_text("Danke für Ihre Bewertung!")
    await page.get_by_label("Kommentar hinzufügen (optional)").fill("Sehr schnell, danke!")
    await page.get_by_role("button", name="Kommentar senden").click()
    await expect(page.locator("#rating-status")).to_have_text("Danke! Wir haben Ihren Kommentar erhalten.")
    await save(page, artifacts_dir, "chat-de-rated.png")

    # "Not you?" forgets the token.
    await page.get_by_role("button", name="Nicht Sie? Neu beginnen").click()
    await expect(page.locator("#chat-start")).to_be_visible()
    await page.reload()
    await expect(page.locator("#chat-start")).to_be_visible()
    assert real_errors(errors) == []
    await context.close()


async def test_markup_in_names_and_messages_shows_as_text(
    browser: Browser, db: Database, api: httpx.AsyncClient, base_url: str, artifacts_dir: Path
) -> None:
    tenant = await make_tenant(db, name='<b>Shop</b><img src="x" onerror="window.__pwned = 3">')
    email = "mallory@example.com"
    name = '<img src="x" onerror="window.__pwned = 4">Mallory'
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        customer = await orders.do_create_customer(
            session,
            tenant.tenant_id,
            CustomerCreate(name=name, email=email, country="US", preferred_language="en"),
        )
    network = await make_network(db, tenant.tenant_id)
    await network.set_stock(db, "EWR", "lamp", 3)
    order_id = await place_order(db, network, {"lamp": 1}, country="US", email=email)
    async with db.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        number = (await orders.access_order(session, tenant.tenant_id, order_id)).number

    context = await phone(browser, "en-US")
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base_url}/chat?t={tenant.slug}")
    await page.locator("#start-form input[name=order_number]").fill(number)
    await page.locator("#start-form input[name=email]").fill(email)
    await page.locator("#start-form button[type=submit]").click()
    await expect(page.locator("#chat-who")).to_have_text(name)
    await expect(page.locator(".msg-welcome .msg-text")).to_have_text(
        f"Hi {name}! How can we help you today?"
    )
    await write(page, MARKUP)
    await expect(page.locator(".msg.mine .msg-text")).to_have_text(MARKUP)
    await expect(page.locator(".msg.mine .msg-state")).to_have_text("Sent")

    listed = await api.get(f"/api/v1/tickets?customer_id={customer.id}", headers=tenant.headers())
    ticket_id = listed.json()["items"][0]["id"]
    answered = await api.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": MARKUP, "language": "en"},
        headers=tenant.headers(),
    )
    assert answered.status_code == 201
    theirs = page.locator(".msg.theirs:not(.msg-welcome)")
    await expect(theirs.locator(".msg-text")).to_have_text(MARKUP)
    await expect(theirs.locator(".msg-author")).to_have_text(
        '<b>Shop</b><img src="x" onerror="window.__pwned = 3">'
    )
    await page.reload()
    await expect(page.locator(".msg-text")).to_have_count(2)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator(".chat-log img, .chat-log script, .chat-log b, .buyer-brand b").count() == 0
    await save(page, artifacts_dir, "chat-markup.png")
    assert real_errors(errors) == []
    await context.close()


@pytest.mark.parametrize(
    ("locale", "buyer_text", "sent_body"),
    [
        ("ar", "وصلت الطاولة مكسورة من الزاوية.", "نأسف لذلك! سنرسل لك طاولة جديدة اليوم."),
        ("zh", "桌子的一个角坏了。", "非常抱歉！我们今天给您补发一张新桌子。"),
    ],
)
async def test_the_chat_reads_well_on_a_phone(
    browser: Browser,
    db: Database,
    api: httpx.AsyncClient,
    base_url: str,
    artifacts_dir: Path,
    locale: str,
    buyer_text: str,
    sent_body: str,
) -> None:
    shop = await make_shop(db)
    context = await phone(browser, {"ar": "ar-AE", "zh": "zh-CN"}[locale])
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base_url}/chat?t={shop.tenant.slug}&lang={locale}")
    html = page.locator("html")
    assert await html.get_attribute("lang") == locale
    assert await html.get_attribute("dir") == ("rtl" if locale == "ar" else "ltr")
    await expect(page.locator("#chat-start h1")).to_have_text(gettext(locale, "Chat with us"))
    await save(page, artifacts_dir, f"chat-{locale}-start.png")
    await find_order(page, shop)
    await page.locator("#topic-field select").select_option("damaged")
    await write(page, buyer_text)
    await expect(page.locator(".msg.mine .msg-state")).to_have_text(gettext(locale, "Sent"))
    ticket = await ticket_of(api, shop)
    await reply(api, shop, ticket["id"], "So sorry! We will send you a new table today.", sent_body, "en")
    theirs = page.locator(".msg.theirs:not(.msg-welcome)")
    await expect(theirs.locator(".msg-text")).to_have_text(sent_body)

    mine_box = await page.locator(".msg.mine .bubble").bounding_box()
    theirs_box = await theirs.locator(".bubble").bounding_box()
    send_box = await page.locator(".chat-send").bounding_box()
    input_box = await page.locator("#message-input").bounding_box()
    assert mine_box and theirs_box and send_box and input_box
    if locale == "ar":  # mirrored: the buyer's own messages and the send button at the left (inline end)
        assert mine_box["x"] < theirs_box["x"] and send_box["x"] < input_box["x"]
        assert await page.locator(".msg-text").first.evaluate("e => getComputedStyle(e).direction") == "rtl"
    else:
        assert mine_box["x"] > theirs_box["x"] and send_box["x"] > input_box["x"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save(page, artifacts_dir, f"chat-{locale}.png", publish=True)
    assert real_errors(errors) == []
    await context.close()


async def test_an_order_link_opens_the_chat_at_once_on_a_wide_screen(
    browser: Browser, db: Database, base_url: str, artifacts_dir: Path
) -> None:
    shop = await make_shop(db)
    link = BuyerLinkSigner(SERVER_SECRET, 3600).sign(
        BuyerGrant(shop.tenant.tenant_id, LinkScope.ORDER, shop.order_id)
    )
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="fr-FR", extra_http_headers=client_address()
    )
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base_url}/chat?t={shop.tenant.slug}&link={link}")
    await expect(page.locator("#chat-who")).to_have_text("Lena Vogel")
    assert "link=" not in page.url  # used once, then dropped from the address and the history
    await expect(page.locator(".msg-welcome .msg-text")).to_have_text(
        "Bonjour Lena Vogel\u00a0! Comment pouvons-nous vous aider aujourd’hui\u00a0?"
    )
    await write(page, "Bonjour, ma lampe clignote.")
    await expect(page.locator(".msg.mine .msg-state")).to_have_text("Envoyé")
    await save(page, artifacts_dir, "chat-fr-desktop.png")

    forged = await browser.new_context(locale="fr-FR", extra_http_headers=client_address())
    other = await forged.new_page()
    await other.goto(f"{base_url}/chat?t={shop.tenant.slug}&link={link[:-4]}AAAA")
    await expect(other.locator("#start-error")).to_have_text("Ce lien n’est pas valide.")
    await forged.close()
    assert real_errors(errors) == []
    await context.close()


async def test_the_store_widget_opens_the_chat_in_its_frame(
    browser: Browser, db: Database, base_url: str, artifacts_dir: Path
) -> None:
    shop = await make_shop(db)
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", extra_http_headers=client_address()
    )
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(f"{base_url}/chat/widget-demo?t={shop.tenant.slug}&lang=de")
    button = page.locator("[data-aftersail-chat] button")
    await expect(button).to_have_attribute("aria-label", "Chat mit uns")  # the store page's language
    box = await button.bounding_box()
    assert box and box["x"] > 1280 - 120 and box["y"] > 800 - 120  # bottom, inline end
    leaked = await page.evaluate(
        """() => {
          const probe = document.createElement("iframe");
          document.body.append(probe);
          const own = new Set(Object.getOwnPropertyNames(probe.contentWindow));
          probe.remove();
          return Object.getOwnPropertyNames(window).filter((name) => !own.has(name));
        }"""
    )
    assert leaked == ["AfterSailChat"]

    await button.click()
    frame_element = page.locator("[data-aftersail-chat] iframe")
    await expect(frame_element).to_be_visible()
    assert "embed=1" in (await frame_element.get_attribute("src") or "")
    assert "lang=de" in (await frame_element.get_attribute("src") or "")
    chat = await frame_element.element_handle()
    frame = await chat.content_frame() if chat else None
    assert isinstance(frame, Frame)
    await frame.locator("#start-form input[name=order_number]").fill(shop.order_number)
    await frame.locator("#start-form input[name=email]").fill(shop.email)
    await frame.locator("#start-form button[type=submit]").click()
    await frame.locator("#message-input").fill("Hallo aus dem Shop!")
    await frame.locator("#message-input").press("Enter")
    await expect(frame.locator(".msg.mine .msg-state")).to_have_text("Gesendet")
    await save(page, artifacts_dir, "chat-widget-open.png")

    await frame.locator("#chat-close").click()  # the close button inside the frame
    await expect(frame_element).to_be_hidden()
    await expect(button).to_have_attribute("aria-label", "Chat mit uns")

    # On a right-to-left store page the button sits at the bottom left.
    await page.goto(f"{base_url}/chat/widget-demo?t={shop.tenant.slug}&lang=ar")
    await expect(button).to_have_attribute("aria-label", gettext("ar", "Chat with us"))
    box = await button.bounding_box()
    assert box and box["x"] < 120
    await button.click()
    panel = await frame_element.bounding_box()
    assert panel and panel["x"] < 120
    await save(page, artifacts_dir, "chat-widget-ar.png")
    assert real_errors(errors) == []
    await context.close()

    # On a phone the chat takes the whole screen, and closes from its own header.
    small = await phone(browser, "en-US")
    page = await small.new_page()
    await page.goto(f"{base_url}/chat/widget-demo?t={shop.tenant.slug}")
    button = page.locator("[data-aftersail-chat] button")
    await button.click()
    frame_element = page.locator("[data-aftersail-chat] iframe")
    await expect(frame_element).to_be_visible()
    assert await frame_element.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
    await expect(button).to_be_hidden()
    frame = await (await frame_element.element_handle()).content_frame()
    assert frame is not None
    await expect(frame.locator("#start-form")).to_be_visible()
    await save(page, artifacts_dir, "chat-widget-phone.png")
    await frame.locator("#chat-close").click()
    await expect(frame_element).to_be_hidden()
    await expect(button).to_be_visible()
    await small.close()


async def test_the_rating_page_from_an_email_records_one_click(
    browser: Browser, db: Database, api: httpx.AsyncClient, base_url: str, artifacts_dir: Path
) -> None:
    shop = await make_shop(db)
    started = await api.post(
        "/chat/api/start",
        json={"tenant": shop.tenant.slug, "order_number": shop.order_number, "email": shop.email},
    )
    token = {"X-Chat-Token": started.json()["token"]}
    sent = await api.post("/chat/api/messages", json={"body": "Wann kommt mein Paket?"}, headers=token)
    ticket_id = sent.json()["ticket_id"]
    await api.post(f"/api/v1/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=shop.agent)
    rate_url = (await api.get("/chat/api/thread", headers=token)).json()["rate_url"]
    assert rate_url.startswith(f"{base_url}/rate/")

    context = await phone(browser, "en-US")  # the browser speaks English; the case was German
    page = await context.new_page()
    errors = watch_for_errors(page)
    await page.goto(rate_url)
    await expect(page.locator(".rating-row-big .rating-button")).to_have_count(5)
    await save(page, artifacts_dir, "rate-de-ask.png")
    await page.goto(f"{rate_url}?rating=5")
    await page.wait_for_url(lambda url: "rating=" not in url)  # the form posted itself
    await expect(page.locator("h1")).to_have_text("Vielen Dank!")
    await expect(page.locator("#rate-result")).to_have_text("Sie haben uns mit 5 von 5 bewertet.")
    await save(page, artifacts_dir, "rate-de.png", publish=True)
    await page.get_by_label("Kommentar hinzufügen (optional)").fill("Sehr freundlich.")
    await page.get_by_role("button", name="Kommentar senden").click()
    await expect(page.locator(".notice-ok")).to_have_text("Danke! Wir haben Ihren Kommentar erhalten.")
    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=shop.agent)).json()
    assert any(e["kind"] == "csat" for e in detail["events"])

    # The buyer may change their mind: the last rating counts.
    await page.locator(".rate-change summary").click()
    await page.get_by_role("button", name="3 von 5").click()
    await expect(page.locator("#rate-result")).to_have_text("Sie haben uns mit 3 von 5 bewertet.")
    assert real_errors(errors) == []
    await context.close()
