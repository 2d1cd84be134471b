"""The buyer shell over HTTP: language negotiation, right-to-left Arabic, the find-your-order form, signed
order links (valid, forged, expired, wrong scope) and the security headers."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from aftersail.kit.db import Database
from aftersail.tenants.links import SALT, BuyerGrant, LinkScope
from tests.e2e.test_pages_shop import hidden_value, seed_shop


def html_tag(html: str) -> str:
    found = re.search(r"<html [^>]*>", html)
    assert found
    return found.group(0)


@pytest.mark.parametrize(
    ("query", "accept_language", "expected"),
    [
        ("", "", '<html lang="en" dir="ltr">'),
        ("?lang=ar", "", '<html lang="ar" dir="rtl">'),
        ("", "ar-AE,ar;q=0.9,en;q=0.5", '<html lang="ar" dir="rtl">'),
        ("", "fr-CH, fr;q=0.9, en;q=0.8", '<html lang="fr" dir="ltr">'),
        ("", "sv-SE, de;q=0.7, en;q=0.9", '<html lang="en" dir="ltr">'),  # q-values, not order, decide
        ("", "zh-Hant-TW", '<html lang="zh" dir="ltr">'),
        ("?lang=ja", "ko-KR", '<html lang="ja" dir="ltr">'),  # ?lang= beats the header
        ("?lang=xx", "pt-BR", '<html lang="pt" dir="ltr">'),  # an unknown ?lang= falls through
    ],
)
async def test_help_page_negotiates_the_language(
    client: httpx.AsyncClient, query: str, accept_language: str, expected: str
) -> None:
    headers = {"accept-language": accept_language} if accept_language else {}
    page = await client.get(f"/help{query}", headers=headers)
    assert page.status_code == 200
    assert html_tag(page.text) == expected
    assert page.headers["content-language"] == expected.split('"')[1]


async def test_help_page_text_is_translated(client: httpx.AsyncClient) -> None:
    expectations = {
        "en": "Find your order",
        "zh": "查找您的订单",
        "es": "Encuentra tu pedido",
        "fr": "Retrouver votre commande",
        "de": "Bestellung finden",
        "it": "Trova il tuo ordine",
        "pt": "Encontre seu pedido",
        "ja": "ご注文を探す",
        "ko": "주문 찾기",
        "ar": "ابحث عن طلبك",
    }
    for code, title in expectations.items():
        page = await client.get(f"/help?lang={code}")
        assert f"<h1>{title}</h1>" in page.text, code
        # every language is offered in its own name, and the current one is marked
        assert re.search(rf'lang="{code}" hreflang="{code}" aria-current="true"', page.text), code


async def find_order(client: httpx.AsyncClient, query: str, number: str, email: str) -> httpx.Response:
    form = await client.get(f"/help{query}")
    data = {"form_token": hidden_value(form.text, "form_token"), "number": number, "email": email}
    return await client.post(f"/help{query}", data=data)


async def test_find_your_order_leads_to_a_signed_link(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    number = list(shop.orders)[2]  # Layla's order, she prefers Arabic
    query = f"?shop={shop.tenant.slug}"
    found = await find_order(client, query, f"  {number} ", shop.emails["layla"].upper())
    assert found.status_code == 303
    link = found.headers["location"]
    assert link.startswith("/o/")
    page = await client.get(link)  # no ?lang, no Accept-Language: the customer's own language
    assert page.status_code == 200
    assert html_tag(page.text) == '<html lang="ar" dir="rtl">'
    assert number in page.text and "قيد التجهيز" in page.text and "Aurora desk lamp, black" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"  # the token stays out of Referer headers
    german = await client.get(link, headers={"accept-language": "de-DE,de;q=0.9"})
    assert html_tag(german.text) == '<html lang="de" dir="ltr">' and "Wird vorbereitet" in german.text
    spanish = await client.get(f"{link}?lang=es", headers={"accept-language": "de"})
    assert html_tag(spanish.text) == '<html lang="es" dir="ltr">' and "En preparación" in spanish.text


async def test_find_your_order_refuses_wrong_details(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    number = next(iter(shop.orders))
    query = f"?shop={shop.tenant.slug}&lang=fr"
    wrong_email = await find_order(client, query, number, shop.emails["layla"])
    assert wrong_email.status_code == 404
    assert "Nous n’avons trouvé aucune commande" in wrong_email.text
    no_store = await find_order(client, "?shop=no-such-store-here&lang=en", number, shop.emails["emma"])
    assert no_store.status_code == 404 and "We could not find that store" in no_store.text
    missing = await find_order(client, query, "", "")
    assert missing.status_code == 422
    unsigned = await client.post(f"/help{query}", data={"number": number, "email": shop.emails["emma"]})
    assert unsigned.status_code == 403 and "Ce formulaire a expiré" in unsigned.text


async def test_bad_links_get_a_friendly_page_in_the_buyers_language(
    client: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    shop = await seed_shop(database)
    order_id = next(iter(shop.orders.values()))
    forged = await client.get("/o/not-a-real-token", headers={"accept-language": "es"})
    assert forged.status_code == 401
    assert "Este enlace no es válido." in forged.text and '<html lang="es"' in forged.text
    assert 'href="/help?lang=es"' in forged.text

    secret = app.state.services.settings.secret_key.get_secret_value()

    class FortyDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 40 * 24 * 3600

    stale = URLSafeTimedSerializer(secret, salt=SALT, signer=FortyDaysAgo)
    expired = await client.get(f"/o/{stale.dumps([shop.tenant.tenant_id, 'order', order_id])}?lang=ar")
    assert expired.status_code == 401
    assert "انتهت صلاحية هذا الرابط" in expired.text and 'dir="rtl"' in expired.text

    ticket_link = app.state.services.links.sign(BuyerGrant(shop.tenant.tenant_id, LinkScope.TICKET, order_id))
    wrong_scope = await client.get(f"/o/{ticket_link}?lang=en")
    assert wrong_scope.status_code == 404 and "This link is not valid." in wrong_scope.text


async def test_buyer_pages_send_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/help?lang=ar")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"]
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline for the CSP to block
    css = await client.get("/static/css/buyer.css")
    assert css.status_code == 200 and "margin-inline" in css.text
