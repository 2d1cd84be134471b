"""Pure catalog data the allocation rules read: warehouses serving a destination and free stock slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class WarehouseOption:
    """A warehouse that serves the destination, with its lane's figures."""

    warehouse_id: int
    name: str
    transit_days: int
    cost_minor: int


@dataclass(frozen=True, slots=True)
class StockSlot:
    """One stock row: a SKU (and batch) in a warehouse, with what is free to reserve."""

    stock_level_id: int
    warehouse_id: int
    sku_id: int
    available: int
    batch_id: int | None = None
    expires_on: date | None = None
    received_on: date | None = None


def batch_order(slot: StockSlot) -> tuple[Any, ...]:
    """First-expiry-first-out, then first-in-first-out; unbatched stock after dated batches."""
    return (
        slot.expires_on is None,
        slot.expires_on or date.max,
        slot.received_on or date.max,
        slot.batch_id or 0,
        slot.stock_level_id,
    )
