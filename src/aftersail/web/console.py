"""The console's signed-in context, its session cookie, and CSRF protection for every console form.

Signed in: the session's own `csrf_token` must come back in the `csrf_token` form field (or the
`X-CSRF-Token` header) of every POST. Before sign-in there is no session, so forms such as the login form
use a signed double-submit token: a random nonce in an HttpOnly cookie and the same nonce, signed with the
secret key and the form's purpose, in a hidden field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from aftersail.kit.config import CONSOLE_LOCALES, Settings
from aftersail.kit.errors import PermissionDenied, Unauthenticated
from aftersail.kit.i18n import N_, match_locale
from aftersail.kit.security import constant_time_equal, new_token
from aftersail.tenants import service as tenants
from aftersail.tenants.models import ConsoleSession, Tenant, User
from aftersail.web.deps import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    ServicesDep,
    SessionDep,
    as_system,
    scope_to_tenant,
)
from aftersail.web.rendering import LoginRequired, render

CSRF_FIELD = "csrf_token"
FORM_NONCE_COOKIE = "aftersail_form"
FORM_TOKEN_MAX_AGE = 2 * 3600
CSRF_FAILED = N_("This form has expired or did not come from this site. Reload the page and try again.")


@dataclass(frozen=True, slots=True)
class ConsoleContext:
    """Who is signed in to the console, in which tenant, seeing which language."""

    user: User
    tenant: Tenant
    console_session: ConsoleSession
    locale: str

    @property
    def csrf_token(self) -> str:
        return self.console_session.csrf_token

    @property
    def time_zone(self) -> str:
        return self.user.time_zone or self.tenant.time_zone or "UTC"


def _requested_path(request: Request) -> str:
    if request.method not in SAFE_METHODS:
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def check_console_csrf(request: Request, expected: str) -> None:
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else ""
    if not presented or not constant_time_equal(presented, expected):
        raise PermissionDenied(CSRF_FAILED)


async def get_console(request: Request, session: SessionDep, services: ServicesDep) -> ConsoleContext:
    """The signed-in console user, with the transaction scoped to their tenant; else a redirect to login."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(_requested_path(request))
    await as_system(session, services)
    try:
        console_session, user = await tenants.access_session(session, token)
    except Unauthenticated as exc:
        raise LoginRequired(_requested_path(request)) from exc
    await scope_to_tenant(session, services, user.tenant_id)
    tenant = await tenants.access_tenant(session, user.tenant_id)
    locale = match_locale(user.locale, CONSOLE_LOCALES) or services.settings.console_default_locale
    request.state.locale = locale
    if request.method not in SAFE_METHODS:
        await check_console_csrf(request, console_session.csrf_token)
    return ConsoleContext(user=user, tenant=tenant, console_session=console_session, locale=locale)


ConsoleDep = Annotated[ConsoleContext, Depends(get_console)]


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookies_secure
    )


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt=f"aftersail.form.{purpose}.v1")


def issue_form_token(request: Request, settings: Settings, purpose: str) -> tuple[str, str]:
    """(nonce, hidden-field value) for a pre-session form; keep the nonce with `remember_form_nonce`."""
    nonce = request.cookies.get(FORM_NONCE_COOKIE) or new_token(16)
    return nonce, str(_serializer(settings, purpose).dumps(nonce))


def render_find_form(
    request: Request,
    settings: Settings,
    template: str,
    *,
    purpose: str,
    locale: str,
    status_code: int = 200,
    error: str | None = None,
    values: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A buyer's "find your order" form (returns, tracking) with a fresh form token: the typed values back
    after a miss, the store from `?shop=`."""
    nonce, form_token = issue_form_token(request, settings, purpose)
    context = {
        "request": request,
        "form_token": form_token,
        "error": error,
        "values": dict(values or {}),
        "shop": request.query_params.get("shop", "")[:64],
    }
    response = render(template, context, locale=locale, status_code=status_code, headers=headers)
    remember_form_nonce(response, nonce, settings)
    return response


def remember_form_nonce(response: Response, nonce: str, settings: Settings) -> None:
    response.set_cookie(
        FORM_NONCE_COOKIE,
        nonce,
        max_age=FORM_TOKEN_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
    )


def check_form_token(request: Request, presented: str, settings: Settings, purpose: str) -> None:
    nonce = request.cookies.get(FORM_NONCE_COOKIE, "")
    try:
        signed_nonce = _serializer(settings, purpose).loads(presented, max_age=FORM_TOKEN_MAX_AGE)
    except BadSignature as exc:
        raise PermissionDenied(CSRF_FAILED) from exc
    if not nonce or not isinstance(signed_nonce, str) or not constant_time_equal(signed_nonce, nonce):
        raise PermissionDenied(CSRF_FAILED)
