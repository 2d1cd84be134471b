"""Console pages of the tenants domain: sign in, sign out, and the language switch."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from aftersail.kit.config import CONSOLE_LOCALES, Settings
from aftersail.kit.errors import InvalidInput, Unauthenticated
from aftersail.kit.i18n import N_, match_locale
from aftersail.tenants import service as tenants
from aftersail.web.console import (
    ConsoleDep,
    check_form_token,
    clear_session_cookie,
    issue_form_token,
    remember_form_nonce,
    set_session_cookie,
)
from aftersail.web.deps import SESSION_COOKIE, ServicesDep, SessionDep, as_system, scope_to_tenant
from aftersail.web.rendering import LANG_COOKIE, ConsolePageRoute, console_locale, render, safe_next

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

LOGIN_PURPOSE = "login"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
WRONG_LOGIN = N_("Wrong email or password.")
MISSING_LOGIN = N_("Enter your email address and password.")


def _form_text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _remember_lang(response: Response, locale: str, settings: Settings) -> None:
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=LANG_COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
    )


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_path: str,
    status_code: int = 200,
    error: str | None = None,
    email: str = "",
) -> HTMLResponse:
    locale = console_locale(request)
    nonce, form_token = issue_form_token(request, settings, LOGIN_PURPOSE)
    context = {
        "request": request,
        "next_path": next_path,
        "form_token": form_token,
        "error": error,
        "email": email,
    }
    response = render("console/login.html", context, locale=locale, status_code=status_code)
    remember_form_nonce(response, nonce, settings)
    return response


@router.get("/login")
async def login_form(request: Request, services: ServicesDep, next: str = "/", lang: str = "") -> Response:
    settings = services.settings
    chosen = match_locale(lang, CONSOLE_LOCALES)
    if chosen:
        request.state.locale = chosen
    response = _login_page(request, settings, next_path=safe_next(next))
    if chosen:
        _remember_lang(response, chosen, settings)
    return response


@router.post("/login")
async def login(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    settings = services.settings
    form = await request.form()
    check_form_token(request, _form_text(form, "form_token", 1000), settings, LOGIN_PURPOSE)
    email = _form_text(form, "email", 254)
    password = form.get("password")
    next_path = safe_next(_form_text(form, "next", 1000))
    if not email or not isinstance(password, str) or not password:
        return _login_page(
            request, settings, next_path=next_path, status_code=422, error=MISSING_LOGIN, email=email
        )
    await as_system(session, services)
    try:
        user = await tenants.check_login(session, email=email, password=password)
    except Unauthenticated:
        return _login_page(
            request, settings, next_path=next_path, status_code=401, error=WRONG_LOGIN, email=email
        )
    await scope_to_tenant(session, services, user.tenant_id)
    token, _ = await tenants.do_start_session(
        session,
        user=user,
        max_age=timedelta(seconds=settings.session_max_age_seconds),
        user_agent=request.headers.get("user-agent", ""),
    )
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, token, settings)
    return response


@router.post("/logout")
async def logout(
    request: Request, console: ConsoleDep, session: SessionDep, services: ServicesDep
) -> Response:
    await tenants.do_end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse(f"/login?lang={console.locale}", status_code=303)
    clear_session_cookie(response, services.settings)
    return response


@router.post("/locale")
async def switch_locale(
    request: Request, console: ConsoleDep, services: ServicesDep, session: SessionDep
) -> Response:
    """Stores the chosen console language on the user (and in the `lang` cookie for the sign-in page)."""
    form = await request.form()
    chosen = match_locale(_form_text(form, "lang", 16), CONSOLE_LOCALES)
    if chosen is None:
        raise InvalidInput(f"lang: one of {', '.join(CONSOLE_LOCALES)}", field="lang")
    await tenants.do_set_user_locale(session, user=console.user, locale=chosen)
    response = RedirectResponse(safe_next(_form_text(form, "next", 1000)), status_code=303)
    _remember_lang(response, chosen, services.settings)
    return response
