"""Who may do what: the role matrix, pure."""

from __future__ import annotations

from enum import StrEnum

from aftersail.tenants.models import Role


class Permission(StrEnum):
    READ = "read"
    WRITE_CATALOG = "write_catalog"
    WRITE_STOCK = "write_stock"
    WRITE_ORDERS = "write_orders"
    WRITE_CUSTOMERS = "write_customers"
    WRITE_TICKETS = "write_tickets"
    MANAGE_TENANT = "manage_tenant"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.AGENT: frozenset(
        {Permission.READ, Permission.WRITE_ORDERS, Permission.WRITE_CUSTOMERS, Permission.WRITE_TICKETS}
    ),
    Role.WAREHOUSE: frozenset({Permission.READ, Permission.WRITE_STOCK}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
