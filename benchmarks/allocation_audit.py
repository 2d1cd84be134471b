"""After the load: did every unit add up? Stock against allocation lines, order lines against what was
allocated or backordered, and the outbox backlog the dispatchers still had to deliver."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import text

from aftersail.kit.db import Database

STOCK_AUDIT = """
SELECT s.id, s.on_hand, s.reserved, COALESCE(held.units, 0) AS allocated
FROM stock_levels s
LEFT JOIN (
    SELECT al.stock_level_id, SUM(al.quantity) AS units
    FROM allocation_lines al JOIN allocations a ON a.id = al.allocation_id
    WHERE a.tenant_id = :tenant AND a.status = 'reserved'
    GROUP BY al.stock_level_id
) held ON held.stock_level_id = s.id
WHERE s.tenant_id = :tenant
"""

LINE_AUDIT = """
SELECT COUNT(*) FROM order_lines ol
LEFT JOIN (
    SELECT al.order_line_id, SUM(al.quantity) AS units
    FROM allocation_lines al JOIN allocations a ON a.id = al.allocation_id
    WHERE a.tenant_id = :tenant AND a.status = 'reserved'
    GROUP BY al.order_line_id
) held ON held.order_line_id = ol.id
WHERE ol.tenant_id = :tenant AND ol.order_id > :after
    AND COALESCE(held.units, 0) + ol.backordered_quantity <> ol.quantity
"""

COUNTS = """
SELECT
    (SELECT COUNT(*) FROM orders WHERE tenant_id = :tenant AND id > :after),
    (SELECT COUNT(*) FROM orders WHERE tenant_id = :tenant AND id > :after AND status = 'allocated'),
    (SELECT COUNT(*) FROM orders WHERE tenant_id = :tenant AND id > :after AND status = 'backordered'),
    (SELECT COUNT(*) FROM allocations WHERE tenant_id = :tenant AND order_id > :after),
    (SELECT COUNT(*) FROM order_events WHERE tenant_id = :tenant AND order_id > :after),
    (SELECT COUNT(*) FROM outbox_events WHERE tenant_id = :tenant AND id > :outbox_after),
    (SELECT COUNT(*) FROM outbox_events WHERE tenant_id = :tenant AND id > :outbox_after AND status = 'done'),
    (SELECT COUNT(*) FROM outbox_events
        WHERE tenant_id = :tenant AND id > :outbox_after AND topic = 'stock.sold_out')
"""


@dataclass(frozen=True)
class Audit:
    stock_rows: int
    oversold: int  # units allocated beyond on-hand stock, summed over stock rows
    reserved_beyond_stock: int  # stock rows whose reserved exceeds on-hand
    reserved_mismatch: int  # stock rows whose reserved differs from their reserved allocation lines
    undecided_lines: int  # order lines whose units are neither allocated nor backordered exactly
    orders: int
    allocated: int
    backordered: int
    allocations: int
    audit_events: int
    outbox_events: int
    outbox_done: int
    sold_out_events: int

    @property
    def sound(self) -> bool:
        return not (
            self.oversold or self.reserved_beyond_stock or self.reserved_mismatch or self.undecided_lines
        )


async def audit_stock(db: Database, tenant_id: int, *, after: int = 0, outbox_after: int = 0) -> Audit:
    """The stock, the orders after order id `after` and the outbox events after `outbox_after` (the seeded
    history before them is not audited)."""
    params = {"tenant": tenant_id, "after": after, "outbox_after": outbox_after}
    async with db.transaction(system=True, readonly=True) as session:
        rows = (await session.execute(text(STOCK_AUDIT), {"tenant": tenant_id})).all()
        undecided = await session.scalar(text(LINE_AUDIT), params)
        counts = (await session.execute(text(COUNTS), params)).one()
    return Audit(
        stock_rows=len(rows),
        oversold=sum(max(allocated - on_hand, 0) for _, on_hand, _, allocated in rows),
        reserved_beyond_stock=sum(1 for _, on_hand, reserved, _ in rows if reserved > on_hand),
        reserved_mismatch=sum(1 for _, _, reserved, allocated in rows if reserved != allocated),
        undecided_lines=int(undecided or 0),
        orders=counts[0],
        allocated=counts[1],
        backordered=counts[2],
        allocations=counts[3],
        audit_events=counts[4],
        outbox_events=counts[5],
        outbox_done=counts[6],
        sold_out_events=counts[7],
    )


async def outbox_backlog(db: Database) -> int:
    """Events not yet delivered (pending or being handled)."""
    async with db.transaction(system=True, readonly=True) as session:
        count = await session.scalar(
            text("SELECT COUNT(*) FROM outbox_events WHERE status IN ('pending', 'running')")
        )
    return int(count or 0)


async def wait_for_outbox(db: Database, *, within: float) -> float | None:
    """Seconds until the dispatchers delivered every event, or None if they did not `within` that many."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await outbox_backlog(db) == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    return None
