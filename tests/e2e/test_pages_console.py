"""The console over HTTP: sign-in with CSRF, the session cookie, sign-out, the language switch, orders and
warehouses pages, tenant isolation of the order page, and the security headers."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from aftersail.kit.db import Database
from aftersail.tenants.models import ConsoleSession, User
from aftersail.web.deps import SESSION_COOKIE
from tests.e2e.test_pages_shop import PASSWORD, hidden_value, meta_csrf, seed_shop, sign_in


def session_cookie_header(response: httpx.Response) -> str:
    return next(
        (v for v in response.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}=")), ""
    )


async def test_signed_out_console_redirects_to_login_with_next(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders?status=shipped")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/orders%3Fstatus%3Dshipped"
    for path in ("/", "/warehouses", "/inbox", "/orders/1"):
        assert (await client.get(path)).headers["location"].startswith("/login?next=")
    login = await client.get("/login?next=/orders%3Fstatus%3Dshipped")
    assert hidden_value(login.text, "next") == "/orders?status=shipped"


async def test_login_without_or_with_a_wrong_form_token_is_403(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    credentials = {"email": shop.agent_email, "password": PASSWORD}
    missing = await client.post("/login", data=credentials)
    assert missing.status_code == 403
    assert not session_cookie_header(missing)
    await client.get("/login")  # sets the nonce cookie, but the field below was never issued for it
    wrong = await client.post("/login", data={**credentials, "form_token": "forged.token.value"})
    assert wrong.status_code == 403
    assert "并非来自本网站" in wrong.text  # the console speaks Chinese until told otherwise
    assert not session_cookie_header(wrong)


async def test_wrong_password_is_a_401_page_and_no_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    form = await client.get("/login?lang=en")
    response = await client.post(
        "/login",
        data={
            "email": shop.agent_email,
            "password": "not-the-password",
            "form_token": hidden_value(form.text, "form_token"),
        },
    )
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert hidden_value(response.text, "email") == shop.agent_email  # kept, so only the password is retyped
    assert not session_cookie_header(response)
    assert (await client.get("/orders")).status_code == 303


async def test_login_sets_a_hardened_cookie_and_lands_on_next(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    form = await client.get("/login?next=/warehouses")
    response = await client.post(
        "/login",
        data={
            "email": shop.agent_email.upper(),
            "password": PASSWORD,
            "next": hidden_value(form.text, "next"),
            "form_token": hidden_value(form.text, "form_token"),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/warehouses"
    cookie = session_cookie_header(response).lower()
    assert (
        "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie and "path=/" in cookie
    )
    assert "secure" not in cookie.replace("samesite", "")  # plain-HTTP base URL in tests
    page = await client.get("/warehouses")
    csrf = meta_csrf(page.text)
    assert hidden_value(page.text, "csrf_token") == csrf  # the hidden field of the console forms
    async with database.transaction(system=True) as session:
        stored = await session.scalars(
            select(ConsoleSession.csrf_token).where(ConsoleSession.tenant_id == shop.tenant.tenant_id)
        )
        assert csrf in set(stored.all())


async def test_open_redirects_are_refused(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": shop.agent_email,
            "password": PASSWORD,
            "next": "//evil.example/steal",
            "form_token": hidden_value(form.text, "form_token"),
        },
    )
    assert response.headers["location"] == "/"


async def test_console_posts_need_the_session_csrf_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    shop = await seed_shop(database)
    csrf = await sign_in(client, shop.agent_email)
    refused = await client.post("/locale", data={"lang": "zh", "next": "/orders"})
    assert refused.status_code == 403
    wrong = await client.post("/locale", data={"lang": "zh", "csrf_token": "x" + csrf})
    assert wrong.status_code == 403
    assert (await client.post("/logout")).status_code == 403


async def test_locale_switch_is_stored_on_the_user(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database, agent_locale="en")
    csrf = await sign_in(client, shop.agent_email)
    english = await client.get("/orders")
    assert '<html lang="en" dir="ltr">' in english.text and ">Orders<" in english.text
    switched = await client.post("/locale", data={"lang": "zh", "next": "/orders", "csrf_token": csrf})
    assert switched.status_code == 303 and switched.headers["location"] == "/orders"
    chinese = await client.get("/orders")
    assert '<html lang="zh" dir="ltr">' in chinese.text
    assert "订单" in chinese.text and "海外仓" in chinese.text and "退出登录" in chinese.text
    async with database.transaction(system=True) as session:
        user = await session.scalar(select(User).where(User.email == shop.agent_email))
        assert user is not None and user.locale == "zh"
    bad = await client.post("/locale", data={"lang": "xx", "csrf_token": csrf})
    assert bad.status_code == 422


async def test_login_page_language_follows_cookie_then_header(client: httpx.AsyncClient) -> None:
    english = await client.get("/login", headers={"accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en"' in english.text and "Sign in" in english.text
    chinese = await client.get("/login?lang=zh")
    assert '<html lang="zh"' in chinese.text and "登录" in chinese.text
    assert "lang=zh" in chinese.headers.get("set-cookie", "")
    remembered = await client.get("/login", headers={"accept-language": "en"})  # the `lang` cookie wins
    assert '<html lang="zh"' in remembered.text


async def test_logout_ends_the_session(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    csrf = await sign_in(client, shop.agent_email)
    token = client.cookies.get(SESSION_COOKIE)
    response = await client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert session_cookie_header(response).startswith(f'{SESSION_COOKIE}=""') or "max-age=0" in (
        session_cookie_header(response).lower()
    )
    client.cookies.set(SESSION_COOKIE, token or "")  # replaying the old cookie does not work either
    assert (await client.get("/orders")).status_code == 303


async def test_placeholder_sections_say_what_arrives(client: httpx.AsyncClient, database: Database) -> None:
    shop = await seed_shop(database)
    await sign_in(client, shop.agent_email)
    for path, promise in [
        ("/settings", "Return windows"),
    ]:
        page = await client.get(path)
        assert page.status_code == 200
        assert promise in page.text and "Not built yet" in page.text
        assert 'aria-current="page"' in page.text


async def test_security_headers_on_console_and_login(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/login"), await client.get("/orders")):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    css = await client.get("/static/css/base.css")
    assert css.status_code == 200 and "inset-inline-start" in css.text
