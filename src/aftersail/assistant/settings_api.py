"""The tenant's assistant settings (GET/PUT /api/v1/settings/assistant): whether it answers buyers, when a
case goes to a person, and the language model it may use. The model's API key is write-only."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field, SecretStr

from aftersail.assistant import settings
from aftersail.assistant.service import HIGH_VALUE_MINOR
from aftersail.kit.sealing import Sealer
from aftersail.kit.validation import Out, Strict
from aftersail.tenants import service as tenants
from aftersail.web.deps import Reader, SessionDep, TenantAdmin

router = APIRouter(tags=["tenant"])


class ModelSettings(Strict):
    kind: Literal["openai", "anthropic"] = Field(
        description="OpenAI-compatible chat completions or Anthropic"
    )
    base_url: str = Field(
        default="",
        max_length=500,
        pattern=r"^(|\s*https?://\S+\s*)$",
        description="Empty: the vendor's own API; else an http(s) address",
    )
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


def _out(shown: settings.SettingsView) -> AssistantSettingsOut:
    return AssistantSettingsOut(
        enabled=shown.enabled,
        high_value_minor=shown.high_value_minor,
        vip_tag=shown.vip_tag,
        model=None
        if shown.model_kind is None
        else ModelSettingsOut(
            kind=shown.model_kind,
            base_url=shown.model_base_url,
            model=shown.model_name,
            api_key_set=shown.api_key_set,
            timeout_seconds=shown.timeout_seconds,
        ),
    )


@router.get("/settings/assistant", response_model=AssistantSettingsOut)
async def get_assistant_settings(session: SessionDep, principal: Reader) -> AssistantSettingsOut:
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return _out(settings.view(settings.raw_settings(tenant)))


@router.put("/settings/assistant", response_model=AssistantSettingsOut)
async def set_assistant_settings(
    body: AssistantSettingsIn, request: Request, session: SessionDep, principal: TenantAdmin
) -> AssistantSettingsOut:
    """Replace the assistant settings; a model's API key left out keeps the one stored (sealed at rest)."""
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    model = (
        None
        if body.model is None
        else settings.ModelChoice(
            kind=body.model.kind,
            base_url=body.model.base_url,
            model=body.model.model,
            api_key=body.model.api_key.get_secret_value() if body.model.api_key else None,
            timeout_seconds=body.model.timeout_seconds,
        )
    )
    shown = await settings.do_set_assistant_settings(
        session,
        tenant,
        enabled=body.enabled,
        high_value_minor=body.high_value_minor,
        vip_tag=body.vip_tag,
        model=model,
        sealer=sealer_of(request),
    )
    return _out(shown)


def sealer_of(request: Request) -> Sealer:
    return Sealer(request.app.state.services.settings.secret_key.get_secret_value())
