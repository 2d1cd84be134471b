"""A tenant's assistant settings (`tenant.settings["assistant"]`): whether it answers buyers, when a case goes
to a person, and the language model it may use. One service for the API and the console page: the model's
API key is sealed before it is stored (`kit.sealing`) and never shown again; switching the assistant off
hands the cases it held to people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant import service
from aftersail.assistant.service import HIGH_VALUE_MINOR
from aftersail.kit.sealing import Sealer
from aftersail.tenants.models import Tenant

MODEL_KINDS = ("openai", "anthropic")
DEFAULT_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class ModelChoice:
    kind: str  # one of MODEL_KINDS
    base_url: str  # empty: the vendor's own API
    model: str
    api_key: str | None  # None keeps the stored one; "" removes it
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True, slots=True)
class SettingsView:
    """What the API and the console show: the key only as set or not."""

    enabled: bool
    high_value_minor: int
    vip_tag: str
    model_kind: str | None
    model_base_url: str
    model_name: str
    api_key_set: bool
    timeout_seconds: float


def raw_settings(tenant: Tenant) -> dict[str, Any]:
    return dict((tenant.settings or {}).get("assistant") or {})


def view(raw: dict[str, Any]) -> SettingsView:
    model = raw.get("model") or {}
    return SettingsView(
        enabled=bool(raw.get("enabled", False)),
        high_value_minor=int(raw.get("high_value_minor", HIGH_VALUE_MINOR)),
        vip_tag=str(raw.get("vip_tag", "vip")),
        model_kind=model.get("kind") or None,
        model_base_url=str(model.get("base_url", "")),
        model_name=str(model.get("model", "")),
        api_key_set=bool(model.get("api_key")),
        timeout_seconds=float(model.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
    )


async def do_set_assistant_settings(
    session: AsyncSession,
    tenant: Tenant,
    *,
    enabled: bool,
    high_value_minor: int,
    vip_tag: str,
    model: ModelChoice | None,
    sealer: Sealer,
) -> SettingsView:
    """Replace the settings (inputs validated by the caller's schema or form)."""
    before = raw_settings(tenant)
    raw: dict[str, Any] = {
        "enabled": enabled,
        "high_value_minor": high_value_minor,
        "vip_tag": vip_tag.strip() or "vip",
    }
    if model is not None:
        if model.api_key is None:
            key = str((before.get("model") or {}).get("api_key") or "")
        else:
            key = sealer.seal(model.api_key, tenant_id=tenant.id) if model.api_key else ""
        raw["model"] = {
            "kind": model.kind,
            "base_url": model.base_url.strip(),
            "model": model.model.strip(),
            "api_key": key,
            "timeout_seconds": model.timeout_seconds,
        }
    tenant.settings = {**(tenant.settings or {}), "assistant": raw}  # a new dict: tracked by value
    await session.flush()
    if not enabled:  # the cases it held go to people, with their next-response clocks running
        await service.do_release_all(session, tenant.id)
    return view(raw)
