"""Events that stock changes raise, written to the outbox in the changing transaction: `live.stock` for the
Live board, `stock.low` / `stock.sold_out` alerts, and `stock.discrepancy` when a warehouse counts fewer
units than orders have reserved. Payloads match what allocation emits for the same topics."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.reservations import StockAfter
from aftersail.kit.outbox import emit


def level_payload(level: StockAfter) -> dict[str, int]:
    return {
        "stock_level_id": level.stock_level_id,
        "warehouse_id": level.warehouse_id,
        "sku_id": level.sku_id,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "available": level.available,
    }


async def announce_levels(
    session: AsyncSession, tenant_id: int, levels: Sequence[StockAfter], *, cause: str
) -> None:
    """Levels a count or an adjustment changed reach the Live board; those at or below their low-stock
    threshold raise `stock.low`, or `stock.sold_out` when nothing is left to sell."""
    if not levels:
        return
    await emit(
        session,
        "live.stock",
        {
            "order_id": None,
            "live_session_id": None,
            "cause": cause,
            "levels": [level_payload(level) for level in levels],
        },
        tenant_id=tenant_id,
    )
    for topic, payload in stock_alerts(levels):
        await emit(session, topic, payload, tenant_id=tenant_id)


def stock_alerts(levels: Sequence[StockAfter]) -> list[tuple[str, dict[str, int]]]:
    """`stock.low` for each level at or below its threshold, `stock.sold_out` for each at zero."""
    return [
        (
            "stock.sold_out" if level.available == 0 else "stock.low",
            {
                "stock_level_id": level.stock_level_id,
                "warehouse_id": level.warehouse_id,
                "sku_id": level.sku_id,
                "available": level.available,
                "threshold": level.low_stock_threshold,
            },
        )
        for level in levels
        if level.available <= level.low_stock_threshold
    ]


async def raise_discrepancy(
    session: AsyncSession,
    tenant_id: int,
    level: StockAfter,
    batch_id: int | None,
    counted: int,
    note: str,
    source: str,
) -> None:
    """A count below the reserved units: stock was not changed, and someone should look."""
    await emit(
        session,
        "stock.discrepancy",
        level_payload(level)
        | {
            "batch_id": batch_id,
            "counted": counted,
            "shortfall": level.reserved - counted,
            "note": note,
            "source": source,
        },
        tenant_id=tenant_id,
    )
