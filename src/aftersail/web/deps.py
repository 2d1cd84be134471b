"""Annotated dependencies shared by every router: the request's transaction and who is calling.

`SessionDep` is the request's one transaction: it commits when the route returns, before the response
is sent (dependency scope "function"), so a failed commit is an error response, never a lost write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.db import set_rls_context
from aftersail.kit.errors import PermissionDenied, Unauthenticated
from aftersail.kit.security import constant_time_equal
from aftersail.tenants import service as tenants
from aftersail.tenants.rules import Permission, role_allows
from aftersail.tenants.service import Principal
from aftersail.web.services import Services

SESSION_COOKIE = "aftersail_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(request: Request, services: ServicesDep) -> AsyncIterator[AsyncSession]:
    # Safe methods read: on SQLite they begin without the write lock and never wait on writers.
    async with services.db.transaction(readonly=request.method in SAFE_METHODS) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def scope_to_tenant(session: AsyncSession, services: Services, tenant_id: int) -> None:
    session.info["tenant_id"] = tenant_id
    if services.db.is_postgres:
        await set_rls_context(session, tenant_id=tenant_id, system=False)


async def as_system(session: AsyncSession, services: Services) -> None:
    if services.db.is_postgres:
        await set_rls_context(session, tenant_id=None, system=True)


async def get_principal(request: Request, session: SessionDep, services: ServicesDep) -> Principal:
    """API key (`Authorization: Bearer …`) or console session cookie (+ CSRF header on writes)."""
    authorization = request.headers.get("authorization", "")
    await as_system(session, services)
    if authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <api key>'.")
        readonly = request.method in SAFE_METHODS
        key = await tenants.access_api_key(session, presented.strip(), touch=not readonly)
        if readonly and tenants.api_key_needs_touch(key):
            async with services.db.transaction(system=True) as touching:
                await tenants.do_touch_api_key(touching, key.id)
        principal = Principal(tenant_id=key.tenant_id, role=key.role, api_key_id=key.id, name=key.name)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("Missing API key: send 'Authorization: Bearer <api key>'.")
        console_session, user = await tenants.access_session(session, token)
        if request.method not in SAFE_METHODS and not constant_time_equal(
            request.headers.get(CSRF_HEADER, ""), console_session.csrf_token
        ):
            raise PermissionDenied("Missing or wrong CSRF token.")
        principal = Principal(
            tenant_id=user.tenant_id, role=user.role, user_id=user.id, name=user.name, locale=user.locale
        )
    await scope_to_tenant(session, services, principal.tenant_id)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the caller's role must carry `permission`."""

    async def _check(principal: PrincipalDep) -> Principal:
        if not role_allows(principal.role, permission):
            raise PermissionDenied(
                f"The {principal.role.value} role may not {permission.value.replace('_', ' ')}."
            )
        return principal

    return _check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
CatalogWriter = Annotated[Principal, Depends(require(Permission.WRITE_CATALOG))]
StockWriter = Annotated[Principal, Depends(require(Permission.WRITE_STOCK))]
OrderWriter = Annotated[Principal, Depends(require(Permission.WRITE_ORDERS))]
CustomerWriter = Annotated[Principal, Depends(require(Permission.WRITE_CUSTOMERS))]
TenantAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_TENANT))]
