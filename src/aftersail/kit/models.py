"""Imports every domain's tables so that `Base.metadata` is complete (for Alembic and tests)."""

from aftersail.assistant import knowledge_models
from aftersail.assistant import models as assistant_models
from aftersail.catalog import models as catalog_models
from aftersail.kit import outbox_models
from aftersail.kit.db import Base
from aftersail.orders import models as orders_models
from aftersail.returns import models as returns_models
from aftersail.shipping import models as shipping_models
from aftersail.support import models as support_models
from aftersail.tenants import models as tenants_models
from aftersail.video import models as video_models

__all__ = [
    "Base",
    "assistant_models",
    "catalog_models",
    "knowledge_models",
    "orders_models",
    "outbox_models",
    "returns_models",
    "shipping_models",
    "support_models",
    "tenants_models",
    "video_models",
]


def tenant_tables() -> list[str]:
    """Tables with a `tenant_id` column: each gets an RLS policy on PostgreSQL."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c and t.name != "tenants")
