"""The tenant's support policy (`tenant.settings["support"]`), read and written in one place."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import NotFound
from aftersail.support.rules import SupportPolicy
from aftersail.tenants.models import Tenant


async def _tenant(session: AsyncSession, tenant_id: int) -> Tenant:
    # `get` answers from the session's identity map after the first read: one event's several clock
    # updates read the tenant once.
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.", tenant_id=tenant_id)
    return tenant


async def support_policy(session: AsyncSession, tenant_id: int) -> SupportPolicy:
    return SupportPolicy.from_settings((await _tenant(session, tenant_id)).settings)


async def do_set_support_policy(
    session: AsyncSession, tenant_id: int, policy: SupportPolicy
) -> SupportPolicy:
    tenant = await _tenant(session, tenant_id)
    tenant.settings = {**(tenant.settings or {}), "support": policy.as_settings()}  # a new dict: tracked
    await session.flush()
    return policy
