"""API shapes of the tenants domain: who am I, API keys (the secret appears once, in the create answer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from aftersail.kit.validation import Out, Strict
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
