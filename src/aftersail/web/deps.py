"""Annotated dependencies shared by every router: the request's transaction and who is calling.

`SessionDep` is the request's one transaction: it commits when the route returns, before the response
is sent (dependency scope "function"), so a failed commit is an error response, never a lost write.

An API key's principal is remembered by the process for `API_KEY_CACHE_SECONDS` (order intake sends
thousands of requests a minute with one key): a key revoked in this process stops at once, in other
server processes within that time. `last_used_at` moves at most once a minute, in a transaction of its
own, so that concurrent requests never queue on the key's row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.db import set_rls_context
from aftersail.kit.errors import PermissionDenied, Unauthenticated
from aftersail.kit.security import constant_time_equal
from aftersail.tenants import service as tenants
from aftersail.tenants.models import ApiKey
from aftersail.tenants.rules import Permission, role_allows
from aftersail.tenants.service import Principal
from aftersail.web.services import Services

log = logging.getLogger(__name__)

SESSION_COOKIE = "aftersail_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_KEY_CACHE_SECONDS = 5.0
API_KEY_TOUCH_SECONDS = 60.0
_API_KEY_CACHE_LIMIT = 10_000


class ApiKeyCache:
    """Principals of recently presented API keys, by a digest of the key (never the key itself), and
    when this process last moved each key's `last_used_at`.

    A key in steady use is checked again in the background once half its time is up (one check at a
    time per key): it never expires under a stream of requests, which would otherwise all fall back to
    the database at once every `ttl` seconds, and a revoked key still stops within `ttl`."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._known: dict[bytes, tuple[float, Principal]] = {}
        self._touched: dict[bytes, float] = {}
        self._refreshing: set[bytes] = set()

    @staticmethod
    def digest(presented: str) -> bytes:
        return hashlib.sha256(presented.encode()).digest()

    def get(self, digest: bytes) -> Principal | None:
        known = self._known.get(digest)
        if known is None or known[0] < time.monotonic():
            return None
        return known[1]

    def put(self, digest: bytes, principal: Principal, *, recently_used: bool) -> None:
        if len(self._known) >= _API_KEY_CACHE_LIMIT:
            self._known.clear()
            self._touched.clear()
        self._known[digest] = (time.monotonic() + self.ttl, principal)
        if recently_used:
            self._touched.setdefault(digest, time.monotonic())

    def claim_refresh(self, digest: bytes) -> bool:
        """True for the one request that should check the key again now (over half its time is up)."""
        known = self._known.get(digest)
        if known is None or digest in self._refreshing or known[0] - time.monotonic() > self.ttl / 2:
            return False
        self._refreshing.add(digest)
        return True

    def refreshed(self, digest: bytes, principal: Principal | None) -> None:
        """The background check's verdict: the key's principal again, or None (revoked: forget it)."""
        self._refreshing.discard(digest)
        if principal is None:
            self._known.pop(digest, None)
        else:
            self.put(digest, principal, recently_used=True)

    def refresh_failed(self, digest: bytes) -> None:
        self._refreshing.discard(digest)

    def claim_touch(self, digest: bytes) -> bool:
        """True for the one request of this process that should move `last_used_at` this minute."""
        now = time.monotonic()
        if now - self._touched.get(digest, -API_KEY_TOUCH_SECONDS) < API_KEY_TOUCH_SECONDS:
            return False
        self._touched[digest] = now
        return True

    def clear(self) -> None:
        self._known.clear()


api_key_cache = ApiKeyCache(API_KEY_CACHE_SECONDS)


@event.listens_for(ApiKey.revoked_at, "set")
def _forget_keys_on_revoke(_target: ApiKey, value: Any, _old: Any, _initiator: Any) -> None:
    if value is not None:
        api_key_cache.clear()


async def get_services(request: Request) -> Services:  # async: no thread-pool hop per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(request: Request, services: ServicesDep) -> AsyncIterator[AsyncSession]:
    # Safe methods read: on SQLite they begin without the write lock and never wait on writers.
    # A caller whose API key this process knows gets a transaction scoped to its tenant from the start
    # (one statement less); `get_principal` checks the key and the scope again either way.
    known = _known_api_key_principal(request)
    async with services.db.transaction(
        tenant_id=known.tenant_id if known else None, readonly=request.method in SAFE_METHODS
    ) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def scope_to_tenant(session: AsyncSession, services: Services, tenant_id: int) -> None:
    session.info["tenant_id"] = tenant_id
    if services.db.is_postgres:
        await set_rls_context(session, tenant_id=tenant_id, system=False)


async def as_system(session: AsyncSession, services: Services) -> None:
    session.info["tenant_id"] = None  # no longer scoped to one tenant
    if services.db.is_postgres:
        await set_rls_context(session, tenant_id=None, system=True)


def _known_api_key_principal(request: Request) -> Principal | None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    return api_key_cache.get(api_key_cache.digest(presented.strip()))


async def _api_key_principal(
    request: Request, session: AsyncSession, services: Services, presented: str
) -> Principal:
    digest = api_key_cache.digest(presented)
    principal = api_key_cache.get(digest)
    if principal is None:
        await as_system(session, services)
        key = await tenants.access_api_key(session, presented, touch=False)
        principal = Principal(tenant_id=key.tenant_id, role=key.role, api_key_id=key.id, name=key.name)
        api_key_cache.put(digest, principal, recently_used=not tenants.api_key_needs_touch(key))
    await _touch_when_due(services, digest, principal, request_session=session, method=request.method)
    return principal


async def _touch_when_due(
    services: Services,
    digest: bytes,
    principal: Principal,
    *,
    request_session: AsyncSession | None,
    method: str,
) -> None:
    """Move the key's `last_used_at` at most once a minute per process, in a short transaction of its own
    (SQLite: inside the request's write transaction, which holds the one write lock anyway)."""
    if principal.api_key_id is None or not api_key_cache.claim_touch(digest):
        return
    if request_session is not None and not services.db.is_postgres and method not in SAFE_METHODS:
        await tenants.do_touch_api_key(request_session, principal.api_key_id)
        return
    async with services.db.transaction(system=True) as touching:
        await tenants.do_touch_api_key(touching, principal.api_key_id)


async def get_principal(request: Request, session: SessionDep, services: ServicesDep) -> Principal:
    """API key (`Authorization: Bearer …`) or console session cookie (+ CSRF header on writes)."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <api key>'.")
        principal = await _api_key_principal(request, session, services, presented.strip())
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("Missing API key: send 'Authorization: Bearer <api key>'.")
        await as_system(session, services)
        console_session, user = await tenants.access_session(session, token)
        if request.method not in SAFE_METHODS and not constant_time_equal(
            request.headers.get(CSRF_HEADER, ""), console_session.csrf_token
        ):
            raise PermissionDenied("Missing or wrong CSRF token.")
        principal = Principal(
            tenant_id=user.tenant_id, role=user.role, user_id=user.id, name=user.name, locale=user.locale
        )
    if session.info.get("tenant_id") != principal.tenant_id:  # else scoped when the transaction began
        await scope_to_tenant(session, services, principal.tenant_id)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def known_api_key_caller(services: Services, authorization: str, method: str) -> Principal | None:
    """The caller behind an `Authorization: Bearer …` value whose key this process knows (no database
    work; `last_used_at` moves when due), else None."""
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    digest = api_key_cache.digest(presented.strip())
    known = api_key_cache.get(digest)
    if known is not None:
        if api_key_cache.claim_refresh(digest):
            task = asyncio.create_task(_check_again(services, presented.strip(), digest))
            _background.add(task)
            task.add_done_callback(_background.discard)
        await _touch_when_due(services, digest, known, request_session=None, method=method)
    return known


_background: set[asyncio.Task[None]] = set()  # refresh tasks, kept until they finish


async def _check_again(services: Services, presented: str, digest: bytes) -> None:
    principal: Principal | None = None
    try:
        async with services.db.transaction(system=True, readonly=True) as session:
            key = await tenants.access_api_key(session, presented, touch=False)
        principal = Principal(tenant_id=key.tenant_id, role=key.role, api_key_id=key.id, name=key.name)
    except Unauthenticated:
        pass  # revoked or deleted: the next request is refused
    except Exception:
        log.warning("could not check an API key again; it expires as usual", exc_info=True)
        api_key_cache.refresh_failed(digest)
        return
    api_key_cache.refreshed(digest, principal)


async def get_principal_alone(request: Request, services: ServicesDep) -> Principal:
    """The caller, for routes that open their own transactions (order intake's group commit): an API key
    this process knows costs no database work; anything else is checked in a short transaction."""
    known = await known_api_key_caller(services, request.headers.get("authorization", ""), request.method)
    if known is not None:
        request.state.principal = known
        return known
    async with services.db.transaction() as session:
        return await get_principal(request, session, services)


def check_permission(principal: Principal, permission: Permission) -> Principal:
    if not role_allows(principal.role, permission):
        raise PermissionDenied(
            f"The {principal.role.value} role may not {permission.value.replace('_', ' ')}."
        )
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the caller's role must carry `permission`."""

    async def _check(principal: PrincipalDep) -> Principal:
        return check_permission(principal, permission)

    return _check


def require_alone(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """`require` for routes without the request transaction (`get_principal_alone`)."""

    async def _check(principal: Annotated[Principal, Depends(get_principal_alone)]) -> Principal:
        return check_permission(principal, permission)

    return _check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
CatalogWriter = Annotated[Principal, Depends(require(Permission.WRITE_CATALOG))]
StockWriter = Annotated[Principal, Depends(require(Permission.WRITE_STOCK))]
OrderWriter = Annotated[Principal, Depends(require(Permission.WRITE_ORDERS))]
OrderWriterAlone = Annotated[Principal, Depends(require_alone(Permission.WRITE_ORDERS))]
CustomerWriter = Annotated[Principal, Depends(require(Permission.WRITE_CUSTOMERS))]
TicketWriter = Annotated[Principal, Depends(require(Permission.WRITE_TICKETS))]
TenantAdmin = Annotated[Principal, Depends(require(Permission.MANAGE_TENANT))]
