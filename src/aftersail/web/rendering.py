"""Server-rendered pages: one Jinja2 environment per locale, security headers, and HTML error pages.

Page routers use `ConsolePageRoute` or `BuyerPageRoute`: a domain error raised by a page becomes an HTML
page in the viewer's language (the JSON error handlers stay for the API), and every page response carries
the security headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from aftersail.kit.config import CONSOLE_LOCALES, SUPPORTED_LOCALES
from aftersail.kit.errors import DomainError
from aftersail.kit.http import STATUS_BY_ERROR
from aftersail.kit.i18n import (
    N_,
    format_day,
    format_money,
    format_when,
    language_name,
    negotiate_locale,
    text_direction,
    translations,
)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
LANG_COOKIE = "lang"
INVALID_ADDRESS = N_("The link you followed is not valid.")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "geolocation=(), payment=()",
}


class LoginRequired(Exception):
    """Raised by console dependencies when nobody is signed in; becomes a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@functools.cache
def environment(locale: str) -> Environment:
    """A Jinja2 environment with this locale's gettext installed (one per locale, so requests never race)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        locale=locale,
        dir=text_direction(locale),
        language_name=language_name,
        buyer_locales=SUPPORTED_LOCALES,
        console_locales=CONSOLE_LOCALES,
    )
    env.filters["when"] = lambda value, tz=None, fmt="medium": format_when(value, tz, locale, fmt)
    env.filters["day"] = lambda value, tz=None, fmt="medium": format_day(value, tz, locale, fmt)
    env.filters["money"] = lambda amount, currency: _isolated_ltr(format_money(int(amount), currency, locale))
    return env


def _isolated_ltr(text: str) -> Markup:
    """Amounts keep their own left-to-right order inside Arabic text (else 'US$' shows as '$US')."""
    return Markup('<bdi dir="ltr">{}</bdi>').format(text)


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    locale: str,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = environment(locale).get_template(template).render(**context)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["Content-Language"] = locale
    return response


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations(locale).gettext


def apply_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "text/html" in response.headers.get("content-type", ""):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def safe_next(path: str | None, default: str = "/") -> str:
    """Only same-site paths may be redirect targets (no '//host' or '/\\host' tricks)."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or "\n" in path or "\r" in path:
        return default
    return path


def console_locale(request: Request) -> str:
    """Before sign-in: the `lang` cookie, then Accept-Language, then the console default."""
    chosen = getattr(request.state, "locale", None)
    if chosen:
        return str(chosen)
    settings = request.app.state.services.settings
    return negotiate_locale(
        request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
        allowed=CONSOLE_LOCALES,
        default=settings.console_default_locale,
    )


def buyer_locale(request: Request, profile_language: str | None = None) -> str:
    """`?lang=`, then Accept-Language, then the customer's preferred language, then the default."""
    chosen = getattr(request.state, "locale", None)
    if chosen:
        return str(chosen)
    settings = request.app.state.services.settings
    return negotiate_locale(
        request.query_params.get("lang"),
        accept_language=request.headers.get("accept-language"),
        after=[profile_language],
        allowed=SUPPORTED_LOCALES,
        default=settings.default_locale,
    )


def _error_page(request: Request, *, audience: str, status_code: int, message: str) -> HTMLResponse:
    if audience == "buyer":
        locale = buyer_locale(request)
        template = "buyer/error.html"
    else:
        locale = console_locale(request)
        template = "console/error.html"
    gettext = gettext_for(locale)
    return render(
        template,
        {"status_code": status_code, "message": gettext(message), "request": request},
        locale=locale,
        status_code=status_code,
    )


class _PageRoute(APIRoute):
    audience = "console"

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        audience = self.audience

        async def page_handler(request: Request) -> Response:
            response: Response
            try:
                response = await original(request)
            except LoginRequired as exc:
                response = RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
            except DomainError as exc:
                response = _error_page(
                    request, audience=audience, status_code=status_for(exc), message=exc.message
                )
            except RequestValidationError:
                response = _error_page(request, audience=audience, status_code=422, message=INVALID_ADDRESS)
            return apply_security_headers(response)

        return page_handler


class ConsolePageRoute(_PageRoute):
    audience = "console"


class BuyerPageRoute(_PageRoute):
    audience = "buyer"
