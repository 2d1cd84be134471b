"""Console page of the assistant's settings, `/settings/assistant`: whether it answers buyers, when a case
goes to a person, and the language model it may use, beside how many cases it holds right now. A plain form
posted with the session's CSRF token and saved through `settings.do_set_assistant_settings`, the service the
API uses; no script needed. Admins change the settings; the other roles read them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from aftersail.assistant import service, settings
from aftersail.assistant.settings_api import sealer_of
from aftersail.kit.errors import PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.orders.page_forms import forget_notice, remember_notice, take_notice
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

PATH = "/settings/assistant"
MANAGE = Permission.MANAGE_TENANT  # as the API (`TenantAdmin`): admins only
NO_MODEL = "none"
KIND_LABELS = {
    NO_MODEL: N_("None: built-in understanding only"),
    "openai": N_("OpenAI-compatible"),
    "anthropic": N_("Anthropic"),
}
assert set(KIND_LABELS) == {NO_MODEL, *settings.MODEL_KINDS}, "a model kind without a label"
# The API's limits (settings_api.AssistantSettingsIn); a ticket tag is at most 40 characters.
MAX_VIP_TAG = 40
MAX_BASE_URL = 500
MAX_MODEL_NAME = 200
MAX_API_KEY = 1_000
MAX_TIMEOUT_SECONDS = 120.0
# Whole units and up to two decimals, e.g. 500 or 500.00 (full-width digits are folded first).
_AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,2})?", re.ASCII)
_SECONDS = re.compile(r"\d{1,3}(?:\.\d{1,3})?", re.ASCII)
ERRORS = {
    "high_value": N_("Enter an amount of 0 or more with at most two decimals, such as 500.00."),
    "vip_tag": N_("Keep the tag within 40 characters."),
    "model_kind": N_("Choose one of the listed kinds of model."),
    "model_base_url": N_(
        "Enter a web address that starts with https:// or http://, "
        "or leave it empty for the vendor's own API."
    ),
    "model_name": N_("Enter the model's name as the vendor writes it, such as gpt-4o-mini."),
    "model_name_long": N_("Keep the model's name within 200 characters."),
    "model_api_key": N_(
        "Paste the key as the vendor gave it: one line without spaces, at most 1,000 characters."
    ),
    "model_api_key_both": N_("Either type a new key or tick “Remove the stored key”, not both."),
    "model_timeout": N_("Enter a number of seconds above 0 and at most 120, such as 20."),
}
NOTICES = {
    "saved": N_("The assistant's settings were saved."),
    "saved_off": N_(
        "The assistant's settings were saved. It is off: the cases it held now wait for a person."
    ),
}
NOT_ALLOWED = N_("Only admins can change the assistant's settings.")


@dataclass(frozen=True, slots=True)
class CheckedSettings:
    """A valid form, in the service's terms."""

    enabled: bool
    high_value_minor: int
    vip_tag: str
    model: settings.ModelChoice | None


def format_amount(minor: int) -> str:
    """50000 → '500.00': the threshold is compared with an order's total in its currency's minor units."""
    return f"{Decimal(minor).scaleb(-2):.2f}"


def parse_amount(text: str) -> int | None:
    """'500', '500.5', '５００．００' → minor units; None when it is not a plain amount of 0 or more."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not _AMOUNT.fullmatch(folded):
        return None
    return int(Decimal(folded).scaleb(2))


def parse_seconds(text: str) -> float | None:
    """A timeout above 0 and at most `MAX_TIMEOUT_SECONDS`, else None."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not _SECONDS.fullmatch(folded):
        return None
    seconds = float(folded)
    return seconds if 0 < seconds <= MAX_TIMEOUT_SECONDS else None


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and not any(c.isspace() for c in url)


def check_settings_form(values: Mapping[str, Any]) -> tuple[CheckedSettings | None, dict[str, str]]:
    """(the settings to save, or None; an error message per bad field). The model's fields are checked only
    when a kind of model is chosen: with none, the service drops the model and its stored key."""
    errors: dict[str, str] = {}
    high_value_minor = parse_amount(str(values.get("high_value") or ""))
    if high_value_minor is None:
        errors["high_value"] = ERRORS["high_value"]
    vip_tag = str(values.get("vip_tag") or "").strip().lower()  # tickets' tags are kept lower-case
    if len(vip_tag) > MAX_VIP_TAG:
        errors["vip_tag"] = ERRORS["vip_tag"]
    kind = str(values.get("model_kind") or "").strip().lower()
    if kind not in KIND_LABELS:
        errors["model_kind"] = ERRORS["model_kind"]
    model: settings.ModelChoice | None = None
    if kind in settings.MODEL_KINDS:
        base_url = str(values.get("model_base_url") or "").strip()
        if base_url and (len(base_url) > MAX_BASE_URL or not _valid_url(base_url)):
            errors["model_base_url"] = ERRORS["model_base_url"]
        name = str(values.get("model_name") or "").strip()
        if not name:
            errors["model_name"] = ERRORS["model_name"]
        elif len(name) > MAX_MODEL_NAME:
            errors["model_name"] = ERRORS["model_name_long"]
        typed_key = str(values.get("model_api_key") or "").strip()
        remove_key = bool(values.get("model_remove_key"))
        api_key: str | None = None  # keep the stored one
        if typed_key and remove_key:
            errors["model_api_key"] = ERRORS["model_api_key_both"]
        elif typed_key:
            if len(typed_key) > MAX_API_KEY or any(c.isspace() or not c.isprintable() for c in typed_key):
                errors["model_api_key"] = ERRORS["model_api_key"]
            api_key = typed_key
        elif remove_key:
            api_key = ""
        timeout = parse_seconds(str(values.get("model_timeout") or ""))
        if timeout is None:
            errors["model_timeout"] = ERRORS["model_timeout"]
        if not errors and timeout is not None:
            model = settings.ModelChoice(
                kind=kind, base_url=base_url, model=name, api_key=api_key, timeout_seconds=timeout
            )
    if errors or high_value_minor is None:
        return None, errors
    return CheckedSettings(
        enabled=bool(values.get("enabled")), high_value_minor=high_value_minor, vip_tag=vip_tag, model=model
    ), {}


def _can_change(console: ConsoleContext) -> bool:
    return role_allows(console.user.role, MANAGE)


def _stored_values(shown: settings.SettingsView) -> dict[str, Any]:
    """The form as the stored settings fill it; the API key is never put back into a page."""
    return {
        "enabled": shown.enabled,
        "high_value": format_amount(shown.high_value_minor),
        "vip_tag": shown.vip_tag,
        "model_kind": shown.model_kind or NO_MODEL,
        "model_base_url": shown.model_base_url,
        "model_name": shown.model_name,
        "model_remove_key": False,
        "model_timeout": f"{shown.timeout_seconds:g}",
        "key_typed": False,
    }


def _form_values(form: FormData) -> dict[str, Any]:
    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value[: limit + 1].replace("\x00", "") if isinstance(value, str) else ""

    return {
        "enabled": form.get("enabled") == "on",
        "high_value": text("high_value", 40),
        "vip_tag": text("vip_tag", MAX_VIP_TAG + 200),
        "model_kind": text("model_kind", 20),
        "model_base_url": text("model_base_url", MAX_BASE_URL + 100),
        "model_name": text("model_name", MAX_MODEL_NAME + 100),
        "model_api_key": text("model_api_key", MAX_API_KEY + 100),
        "model_remove_key": form.get("model_remove_key") == "on",
        "model_timeout": text("model_timeout", 20),
    }


async def _page(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    shown = settings.view(settings.raw_settings(console.tenant))
    context = {
        "request": request,
        "console": console,
        "nav": "assistant",
        "shown": shown,
        "held": await service.count_held_cases(session, console.tenant.id),
        "values": values,
        "errors": errors,
        "kinds": KIND_LABELS,
        "can_change": _can_change(console),
        "limits": {"vip_tag": MAX_VIP_TAG, "base_url": MAX_BASE_URL, "model_name": MAX_MODEL_NAME},
        "notice": take_notice(request, NOTICES) if status_code == 200 else None,
    }
    response = render(
        "console/assistant_settings.html", context, locale=console.locale, status_code=status_code
    )
    if context["notice"]:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


@router.get(PATH)
async def assistant_settings_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    shown = settings.view(settings.raw_settings(console.tenant))
    return await _page(request, console, session, _stored_values(shown), {})


@router.post(PATH)
async def save_assistant_settings(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    if not _can_change(console):
        raise PermissionDenied(NOT_ALLOWED)
    values = _form_values(await request.form())
    checked, errors = check_settings_form(values)
    if checked is None:
        # The key is never sent back: the person types it again.
        shown_again = {**values, "model_api_key": "", "key_typed": bool(values["model_api_key"].strip())}
        return await _page(request, console, session, shown_again, errors, status_code=422)
    await settings.do_set_assistant_settings(
        session,
        console.tenant,
        enabled=checked.enabled,
        high_value_minor=checked.high_value_minor,
        vip_tag=checked.vip_tag,
        model=checked.model,
        sealer=sealer_of(request),
    )
    response = RedirectResponse(PATH, status_code=303)
    notice = "saved" if checked.enabled else "saved_off"
    remember_notice(response, notice, PATH, request.app.state.services.settings.cookies_secure)
    return response
