"""Stock per SKU per warehouse, summed over batches: the figures the Live board watches.

A warehouse's stock of one SKU can sit on several rows (one per batch); a person watching a live sale asks
"how many lamps are left in Frankfurt", so the rows are added up into one cell that remembers its row ids
(the `live.stock` events name rows, and the board adds them up the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import StockLevel


@dataclass(frozen=True, slots=True)
class StockCell:
    """All rows of one SKU in one warehouse."""

    sku_id: int
    warehouse_id: int
    on_hand: int
    reserved: int
    levels: tuple[tuple[int, int, int], ...]  # (stock level id, on hand, reserved) of each row
    updated_at: datetime | None

    @property
    def level_ids(self) -> tuple[int, ...]:
        return tuple(level_id for level_id, _, _ in self.levels)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def sold_out(self) -> bool:
        return self.available <= 0


def add_up(rows: Iterable[tuple[int, int, int, int, int, datetime | None]]) -> list[StockCell]:
    """`(level id, warehouse id, sku id, on hand, reserved, updated at)` rows → one cell per SKU and
    warehouse, in (SKU, warehouse) id order."""
    cells: dict[tuple[int, int], list[tuple[int, int, int, datetime | None]]] = {}
    for level_id, warehouse_id, sku_id, on_hand, reserved, updated_at in rows:
        cells.setdefault((sku_id, warehouse_id), []).append((level_id, on_hand, reserved, updated_at))
    result = []
    for (sku_id, warehouse_id), levels in sorted(cells.items()):
        times = [t for *_, t in levels if t is not None]
        result.append(
            StockCell(
                sku_id=sku_id,
                warehouse_id=warehouse_id,
                on_hand=sum(on_hand for _, on_hand, _, _ in levels),
                reserved=sum(reserved for _, _, reserved, _ in levels),
                levels=tuple(
                    sorted((level_id, on_hand, reserved) for level_id, on_hand, reserved, _ in levels)
                ),
                updated_at=max(times) if times else None,
            )
        )
    return result


async def stock_cells(session: AsyncSession, tenant_id: int, sku_ids: Iterable[int]) -> list[StockCell]:
    """The stock of `sku_ids` in every warehouse that has a row for them."""
    wanted = sorted(set(sku_ids))
    if not wanted:
        return []
    rows = await session.execute(
        select(
            StockLevel.id,
            StockLevel.warehouse_id,
            StockLevel.sku_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.updated_at,
        ).where(StockLevel.tenant_id == tenant_id, StockLevel.sku_id.in_(wanted))
    )
    return add_up(
        (level_id, warehouse_id, sku_id, on_hand, reserved, updated_at)
        for level_id, warehouse_id, sku_id, on_hand, reserved, updated_at in rows.all()
    )
