"""Read models of the Live board (直播看板): a live session's orders per minute, totals, top SKUs, the stock
of what it sells in every warehouse, and its sell-outs.

The board opens from these figures; after that the browser keeps them current from the `live.order` and
`live.stock` events pushed over `/ws`. Everything here only reads, and every query filters by `tenant_id`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog import service as catalog
from aftersail.catalog.models import Sku, Warehouse
from aftersail.catalog.stock_board import StockCell, stock_cells
from aftersail.kit.clock import utcnow
from aftersail.orders import service as orders
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    LiveSession,
    Order,
    OrderLine,
    OrderStatus,
)

LIVE_WINDOW_MINUTES = 60  # a session still on air shows its last hour, minute by minute
MAX_CHART_MINUTES = 240  # an ended session shows its whole run, up to its last four hours
TOP_SKUS = 8
RECENT_ORDERS = 12


# --- pure rules --------------------------------------------------------------------------------------------


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def on_air(live: LiveSession, now: datetime) -> bool:
    return live.starts_at <= now and (live.ends_at is None or now < live.ends_at)


def chart_window(live: LiveSession, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the orders-per-minute chart, on whole minutes.

    On air (or not started yet): the last `LIVE_WINDOW_MINUTES` up to now, the minute in progress included.
    Ended: the session's own start to end, its last `MAX_CHART_MINUTES` when it ran longer.
    """
    if live.ends_at is not None and live.ends_at <= now:
        end = floor_minute(live.ends_at) + (timedelta(minutes=1) if live.ends_at.second else timedelta())
        end = max(end, floor_minute(live.starts_at) + timedelta(minutes=1))
        start = max(floor_minute(live.starts_at), end - timedelta(minutes=MAX_CHART_MINUTES))
        return start, end
    end = floor_minute(now) + timedelta(minutes=1)
    return end - timedelta(minutes=LIVE_WINDOW_MINUTES), end


def minute_buckets(times: Iterable[datetime], start: datetime, end: datetime) -> list[int]:
    """How many of `times` fall in each whole minute of [start, end)."""
    counts = [0] * max(0, int((end - start).total_seconds() // 60))
    for moment in times:
        if start <= moment < end:
            counts[int((moment - start).total_seconds() // 60)] += 1
    return counts


# --- the sessions list ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSummary:
    live: LiveSession
    order_count: int
    gmv: dict[str, int]  # currency → minor units, cancelled orders left out

    def is_on_air(self, now: datetime) -> bool:
        return on_air(self.live, now)


async def list_session_summaries(session: AsyncSession, tenant_id: int) -> list[SessionSummary]:
    """Every live session of the tenant, newest first, with its order count and GMV per currency."""
    sessions = await orders.list_live_sessions(session, tenant_id)
    counts: dict[int, int] = defaultdict(int)
    gmv: dict[int, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(Order.live_session_id, Order.currency, Order.status, func.count(), func.sum(Order.total_minor))
        .where(Order.tenant_id == tenant_id, Order.live_session_id.is_not(None))
        .group_by(Order.live_session_id, Order.currency, Order.status)
    )
    for live_id, currency, status, count, total in rows.all():
        if live_id is None:
            continue
        counts[live_id] += count
        if status != OrderStatus.CANCELLED:
            gmv[live_id][currency] = gmv[live_id].get(currency, 0) + int(total or 0)
    return [SessionSummary(live, counts[live.id], gmv[live.id]) for live in sessions]


# --- one session's board -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopSku:
    sku: Sku
    units: int
    orders: int


@dataclass(frozen=True, slots=True)
class SellOut:
    """A SKU with nothing left to sell in one warehouse, and when its last units were taken."""

    sku: Sku
    warehouse: Warehouse
    at: datetime | None


@dataclass(frozen=True, slots=True)
class StockRow:
    """One SKU's stock across the board's warehouses (None where a warehouse holds no row of it)."""

    sku: Sku
    cells: dict[int, StockCell]


@dataclass
class Board:
    live: LiveSession
    now: datetime
    window_start: datetime
    window_end: datetime
    per_minute: list[int]
    order_count: int
    cancelled_count: int
    units: int
    gmv: dict[str, int]
    last_order_id: int
    top_skus: list[TopSku]
    warehouses: list[Warehouse]
    stock: list[StockRow]
    sell_outs: list[SellOut]
    recent: list[Order] = field(default_factory=list)

    @property
    def on_air(self) -> bool:
        return on_air(self.live, self.now)

    def state(self) -> dict[str, Any]:
        """What the board's script starts from (JSON-ready)."""
        return {
            "session_id": self.live.id,
            "on_air": self.on_air,
            "window_start": self.window_start.isoformat(),
            "per_minute": self.per_minute,
            "order_count": self.order_count,
            "units": self.units,
            "gmv": self.gmv,
            "last_order_id": self.last_order_id,
            "levels": {
                str(level_id): [row.sku.id, warehouse_id, on_hand, reserved]
                for row in self.stock
                for warehouse_id, cell in row.cells.items()
                for level_id, on_hand, reserved in cell.levels
            },
        }


async def live_board(
    session: AsyncSession, tenant_id: int, live_session_id: int, *, now: datetime | None = None
) -> Board:
    """The board of one live session; another tenant's session is NotFound."""
    live = await orders.access_live_session(session, tenant_id, live_session_id)
    now = now or utcnow()
    start, end = chart_window(live, now)
    in_session = (Order.tenant_id == tenant_id) & (Order.live_session_id == live.id)

    order_count = cancelled = last_order_id = 0
    gmv: dict[str, int] = {}
    for currency, status, count, total, top_id in (
        await session.execute(
            select(
                Order.currency, Order.status, func.count(), func.sum(Order.total_minor), func.max(Order.id)
            )
            .where(in_session)
            .group_by(Order.currency, Order.status)
        )
    ).all():
        order_count += count
        last_order_id = max(last_order_id, top_id)
        if status == OrderStatus.CANCELLED:
            cancelled += count
        else:
            gmv[currency] = gmv.get(currency, 0) + int(total or 0)
    placed = await session.scalars(
        select(Order.placed_at).where(in_session, Order.placed_at >= start, Order.placed_at < end)
    )
    recent = await session.scalars(
        select(Order).where(in_session).order_by(Order.placed_at.desc(), Order.id.desc()).limit(RECENT_ORDERS)
    )

    sold = (
        await session.execute(
            select(OrderLine.sku_id, func.sum(OrderLine.quantity), func.count(distinct(OrderLine.order_id)))
            .join(Order, (Order.id == OrderLine.order_id) & (Order.tenant_id == tenant_id))
            .where(OrderLine.tenant_id == tenant_id, in_session, Order.status != OrderStatus.CANCELLED)
            .group_by(OrderLine.sku_id)
        )
    ).all()
    skus = await catalog.skus_by_ids(session, tenant_id, [sku_id for sku_id, _, _ in sold])
    ranked = sorted(sold, key=lambda row: (-int(row[1]), -int(row[2]), skus[row[0]].code))
    top = [TopSku(skus[sku_id], int(units), int(count)) for sku_id, units, count in ranked[:TOP_SKUS]]

    # Stock of what the session sells; a bundle's stock is its components'.
    bundles = await reservations.bundle_map(session, tenant_id, [s.id for s in skus.values() if s.is_bundle])
    stocked = [sku_id for sku_id, _, _ in ranked if sku_id not in bundles]
    for sku_id, _, _ in ranked:
        stocked += [component for component, _ in bundles.get(sku_id, ()) if component not in stocked]
    skus.update(await catalog.skus_by_ids(session, tenant_id, [i for i in stocked if i not in skus]))
    cells = await stock_cells(session, tenant_id, stocked)
    by_sku: dict[int, dict[int, StockCell]] = defaultdict(dict)
    for cell in cells:
        by_sku[cell.sku_id][cell.warehouse_id] = cell
    warehouse_ids = {cell.warehouse_id for cell in cells}
    warehouses = [w for w in await catalog.list_warehouses(session, tenant_id) if w.id in warehouse_ids]
    by_id = {w.id: w for w in warehouses}
    sold_out_at = await _last_taken(session, tenant_id, [c for c in cells if c.sold_out])
    sell_outs = sorted(
        (
            SellOut(
                skus[cell.sku_id], by_id[cell.warehouse_id], sold_out_at.get(cell.level_ids, cell.updated_at)
            )
            for cell in cells
            if cell.sold_out and cell.reserved > 0
        ),
        key=lambda s: (s.at is None, -(s.at.timestamp() if s.at else 0), s.sku.code),
    )
    return Board(
        live=live,
        now=now,
        window_start=start,
        window_end=end,
        per_minute=minute_buckets(placed, start, end),
        order_count=order_count,
        cancelled_count=cancelled,
        units=sum(int(units) for _, units, _ in sold),
        gmv=gmv,
        last_order_id=last_order_id,
        top_skus=top,
        warehouses=warehouses,
        stock=[StockRow(skus[sku_id], by_sku[sku_id]) for sku_id in stocked if sku_id in by_sku],
        sell_outs=sell_outs,
        recent=list(recent.all()),
    )


async def _last_taken(
    session: AsyncSession, tenant_id: int, cells: list[StockCell]
) -> dict[tuple[int, ...], datetime]:
    """When an order last took units from each cell: the moment a sold-out cell sold out."""
    level_ids = [level_id for cell in cells for level_id in cell.level_ids]
    if not level_ids:
        return {}
    rows = await session.execute(
        select(AllocationLine.stock_level_id, func.max(Allocation.created_at))
        .join(
            Allocation,
            (Allocation.id == AllocationLine.allocation_id) & (Allocation.tenant_id == tenant_id),
        )
        .where(
            AllocationLine.tenant_id == tenant_id,
            AllocationLine.stock_level_id.in_(level_ids),
            Allocation.status != AllocationStatus.CANCELLED,
        )
        .group_by(AllocationLine.stock_level_id)
    )
    taken: dict[int, datetime] = {level_id: at for level_id, at in rows.all() if at is not None}
    result = {}
    for cell in cells:
        times = [taken[level_id] for level_id in cell.level_ids if level_id in taken]
        if times:
            result[cell.level_ids] = max(times)
    return result
