"""API shapes of the tenants domain: who am I, API keys (the secret appears once, in the create answer), and
settings such as the Shopify webhook secret (never returned after it is set)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, StringConstraints, field_validator

from aftersail.kit.validation import IdIn, Out, Strict
from aftersail.tenants.models import Role


class TenantOut(Out):
    id: int
    slug: str
    name: str
    default_locale: str
    time_zone: str


class MeOut(BaseModel):
    tenant: TenantOut
    role: Role
    name: str
    user_id: int | None
    api_key_id: int | None


class ApiKeyCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    role: Role


class ApiKeyOut(Out):
    id: int
    name: str
    prefix: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str


class ShopifySettingsIn(Strict):
    webhook_secret: SecretStr = Field(
        min_length=16,
        max_length=200,
        description="The secret Shopify signs webhooks with (your app's client secret, or the key shown "
        "under Settings → Notifications → Webhooks)",
    )
    shop_domain: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                to_lower=True,
                max_length=255,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}$",
            ),
        ]
        | None
    ) = Field(
        default=None, description="e.g. my-shop.myshopify.com: when set, other shops' webhooks are refused"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _printable(cls, value: SecretStr) -> SecretStr:
        if not all("!" <= ch <= "~" for ch in value.get_secret_value()):
            raise ValueError("visible ASCII characters only, no spaces")
        return value


class ShopifySettingsOut(BaseModel):
    configured: bool
    webhook_secret_hint: str | None = Field(description="The last characters of the secret, never all of it")
    shop_domain: str | None
    webhook_path: str = Field(description="Where to point the Shopify orders/create webhook, on this host")


class TeamCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list, max_length=20
    )
    member_ids: list[IdIn] = Field(default_factory=list, max_length=500)


class TeamOut(BaseModel):
    id: int
    name: str
    languages: list[str]
    member_ids: list[int]
