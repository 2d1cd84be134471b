"""Factories that build real rows through the services (never hand-written SQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aftersail.kit.db import Database
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role

PASSWORD = "correct-horse-battery"


@dataclass
class TenantFixture:
    tenant_id: int
    slug: str
    admin_email: str
    admin_user_id: int
    api_keys: dict[Role, str]

    def headers(self, role: Role = Role.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_keys[role]}"}


async def make_tenant(db: Database, *, name: str = "Test Seller") -> TenantFixture:
    """A fresh tenant with an admin user and one API key per role."""
    slug = f"t-{uuid.uuid4().hex[:10]}"
    async with db.transaction(system=True) as session:
        tenant = await tenants.do_create_tenant(session, slug=slug, name=name)
        admin = await tenants.do_create_user(
            session,
            tenant_id=tenant.id,
            email=f"admin@{slug}.test",
            name="Admin",
            password=PASSWORD,
            role=Role.ADMIN,
        )
        keys = {}
        for role in Role:
            full, _ = await tenants.do_create_api_key(
                session, tenant_id=tenant.id, name=f"{role} key", role=role
            )
            keys[role] = full
        return TenantFixture(tenant.id, slug, admin.email, admin.id, keys)
