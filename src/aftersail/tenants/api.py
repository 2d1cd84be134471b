"""HTTP routes of the tenants domain: who am I, the tenant's API keys and settings."""

from __future__ import annotations

from fastapi import APIRouter, Response

from aftersail.kit.validation import PathId
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant
from aftersail.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    MeOut,
    ShopifySettingsIn,
    ShopifySettingsOut,
    TeamCreate,
    TeamOut,
    TenantOut,
)
from aftersail.web.deps import Reader, SessionDep, TenantAdmin

router = APIRouter()


@router.get("/me", response_model=MeOut, tags=["tenant"])
async def who_am_i(session: SessionDep, principal: Reader) -> MeOut:
    """The tenant and role behind the credentials of this request."""
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return MeOut(
        tenant=TenantOut.model_validate(tenant),
        role=principal.role,
        name=principal.name,
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["tenant"])
async def list_api_keys(session: SessionDep, principal: TenantAdmin) -> list[ApiKeyOut]:
    """Prefix, name, role and dates of every key, revoked ones included; never the secret."""
    keys = await tenants.list_api_keys(session, principal.tenant_id)
    return [ApiKeyOut.model_validate(key) for key in keys]


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["tenant"])
async def create_api_key(body: ApiKeyCreate, session: SessionDep, principal: TenantAdmin) -> ApiKeyCreated:
    """The full key is in this answer only; store it now."""
    full, key = await tenants.do_create_api_key(
        session,
        tenant_id=principal.tenant_id,
        name=body.name,
        role=body.role,
        created_by_id=principal.user_id,
    )
    await session.refresh(key)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full)


@router.delete("/api-keys/{api_key_id}", status_code=204, tags=["tenant"])
async def revoke_api_key(api_key_id: PathId, session: SessionDep, principal: TenantAdmin) -> Response:
    """Revoke a key; requests with it are refused from now on."""
    await tenants.do_revoke_api_key(session, tenant_id=principal.tenant_id, api_key_id=api_key_id)
    return Response(status_code=204)


def _shopify_out(tenant: Tenant, config: tenants.ShopifySettings | None) -> ShopifySettingsOut:
    return ShopifySettingsOut(
        configured=config is not None,
        webhook_secret_hint=config.secret_hint if config else None,
        shop_domain=config.shop_domain if config else None,
        webhook_path=f"/webhooks/shopify/{tenant.slug}/orders-create",
    )


@router.get("/settings/shopify", response_model=ShopifySettingsOut, tags=["tenant"])
async def get_shopify_settings(session: SessionDep, principal: TenantAdmin) -> ShopifySettingsOut:
    """Whether Shopify webhooks are set up, and where to point them; never the secret itself."""
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return _shopify_out(tenant, tenants.shopify_settings(tenant))


@router.put("/settings/shopify", response_model=ShopifySettingsOut, tags=["tenant"])
async def set_shopify_settings(
    body: ShopifySettingsIn, session: SessionDep, principal: TenantAdmin
) -> ShopifySettingsOut:
    """Set the secret Shopify signs webhooks with (and optionally the only shop domain to accept).

    Point Shopify's `orders/create` webhook (JSON) at `webhook_path` on this host. Each delivery must carry
    `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(secret, raw body)); until a secret is set every delivery is
    refused. The secret is not shown again: answers carry its last four characters."""
    config = await tenants.do_set_shopify_settings(
        session,
        principal.tenant_id,
        webhook_secret=body.webhook_secret.get_secret_value(),
        shop_domain=body.shop_domain,
    )
    return _shopify_out(await tenants.access_tenant(session, principal.tenant_id), config)


@router.get("/teams", response_model=list[TeamOut], tags=["tenant"])
async def list_teams(session: SessionDep, principal: Reader) -> list[TeamOut]:
    """Support teams with their languages and members (routing is set per team: PUT /teams/{id}/routing)."""
    return [
        TeamOut(id=team.id, name=team.name, languages=list(team.languages or []), member_ids=members)
        for team, members in await tenants.list_teams(session, principal.tenant_id)
    ]


@router.post("/teams", status_code=201, response_model=TeamOut, tags=["tenant"])
async def create_team(body: TeamCreate, session: SessionDep, principal: TenantAdmin) -> TeamOut:
    team = await tenants.do_create_team(
        session,
        tenant_id=principal.tenant_id,
        name=body.name,
        languages=list(body.languages),
        member_ids=list(dict.fromkeys(body.member_ids)),
    )
    return TeamOut(
        id=team.id, name=team.name, languages=list(team.languages), member_ids=sorted(set(body.member_ids))
    )
