"""The tenant's assistant settings (GET/PUT /api/v1/settings/assistant): whether it answers buyers, when a
case goes to a person, and the language model it may use. The model's API key is write-only."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field, SecretStr

from aftersail.assistant import service
from aftersail.assistant.service import HIGH_VALUE_MINOR
from aftersail.kit.validation import Out, Strict
from aftersail.tenants import service as tenants
from aftersail.web.deps import Reader, SessionDep, TenantAdmin

router = APIRouter(tags=["tenant"])


class ModelSettings(Strict):
    kind: Literal["openai", "anthropic"] = Field(
        description="OpenAI-compatible chat completions or Anthropic"
    )
    base_url: str = Field(default="", max_length=500, description="Empty: the vendor's own API")
    model: str = Field(min_length=1, max_length=200)
    api_key: SecretStr | None = Field(default=None, description="Kept as it is when omitted on an update")
    timeout_seconds: float = Field(default=20.0, gt=0, le=120)


class AssistantSettingsIn(Strict):
    enabled: bool = Field(default=False, description="Answer buyers automatically")
    high_value_minor: int = Field(
        default=HIGH_VALUE_MINOR, ge=0, description="Orders from this total go to a person"
    )
    vip_tag: str = Field(default="vip", max_length=40, description="Tickets with this tag go to a person")
    model: ModelSettings | None = None


class ModelSettingsOut(Out):
    kind: str
    base_url: str
    model: str
    api_key_set: bool
    timeout_seconds: float


class AssistantSettingsOut(Out):
    enabled: bool
    high_value_minor: int
    vip_tag: str
    model: ModelSettingsOut | None


def _out(raw: dict[str, Any]) -> AssistantSettingsOut:
    model = raw.get("model") or None
    return AssistantSettingsOut(
        enabled=bool(raw.get("enabled", False)),
        high_value_minor=int(raw.get("high_value_minor", HIGH_VALUE_MINOR)),
        vip_tag=str(raw.get("vip_tag", "vip")),
        model=None
        if not model
        else ModelSettingsOut(
            kind=model["kind"],
            base_url=model.get("base_url", ""),
            model=model["model"],
            api_key_set=bool(model.get("api_key")),
            timeout_seconds=float(model.get("timeout_seconds", 20.0)),
        ),
    )


@router.get("/settings/assistant", response_model=AssistantSettingsOut)
async def get_assistant_settings(session: SessionDep, principal: Reader) -> AssistantSettingsOut:
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return _out(dict((tenant.settings or {}).get("assistant") or {}))


@router.put("/settings/assistant", response_model=AssistantSettingsOut)
async def set_assistant_settings(
    body: AssistantSettingsIn, session: SessionDep, principal: TenantAdmin
) -> AssistantSettingsOut:
    """Replace the assistant settings; a model's API key left out keeps the one stored."""
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    before = dict((tenant.settings or {}).get("assistant") or {})
    raw: dict[str, Any] = {
        "enabled": body.enabled,
        "high_value_minor": body.high_value_minor,
        "vip_tag": body.vip_tag.strip() or "vip",
    }
    if body.model is not None:
        key = (
            body.model.api_key.get_secret_value()
            if body.model.api_key
            else (before.get("model") or {}).get("api_key")
        )
        raw["model"] = {
            "kind": body.model.kind,
            "base_url": body.model.base_url.strip(),
            "model": body.model.model.strip(),
            "api_key": key or "",
            "timeout_seconds": body.model.timeout_seconds,
        }
    tenant.settings = {**(tenant.settings or {}), "assistant": raw}  # a new dict: tracked by value
    await session.flush()
    if not body.enabled:  # the cases it held go to people, with their next-response clocks running
        await service.do_release_all(session, tenant.id)
    return _out(raw)
