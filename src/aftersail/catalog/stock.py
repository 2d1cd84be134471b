"""Use cases of inventory: the stock level each warehouse holds of a SKU (or one batch of it), and how the
warehouse moves on-hand units — counts (snapshots) and adjustments — each leaving a `StockMovement` row.
Reservations for orders move `reserved` in `catalog.reservations`; batches are in `catalog.batches`.

A count never undercuts a reservation: a line that counts fewer units than orders have reserved is
rejected (on-hand stays) and raises a `stock.discrepancy` event so a person looks. An adjustment never
takes available units below zero. Changed levels are announced after commit: `live.stock` for the Live
board, `stock.low` / `stock.sold_out` when available units reach the level's threshold.

Locks: a count or an adjustment changes each existing row with one conditional UPDATE, after taking it
`FOR UPDATE` in stock-row id order — the order reservations lock in — so the two queue, never deadlock.
Every query filters by `tenant_id`. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.batches import batches_by_ids, do_create_batch, find_batch
from aftersail.catalog.models import Sku, StockLevel, StockMovement, StockMovementKind
from aftersail.catalog.reservations import StockAfter
from aftersail.catalog.schemas import (
    BatchCreate,
    CountOutcome,
    SnapshotLineIn,
    SnapshotLineOut,
    StockSet,
    StockSnapshotIn,
    StockSnapshotOut,
)
from aftersail.catalog.stock_events import announce_levels, raise_discrepancy
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.pagination import Page

MAX_ON_HAND = 1_000_000_000  # far above any warehouse, far below a 32-bit column
FieldName = Callable[[int, str], str]


def _line_field(index: int, name: str) -> str:
    return f"lines.{index}.{name}"


def flat_field(_index: int, name: str) -> str:
    return name


LEVEL_FIGURES = (
    StockLevel.warehouse_id,
    StockLevel.sku_id,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.low_stock_threshold,
)


@dataclass(frozen=True, slots=True)
class SlotCount:
    """A snapshot line with its references resolved."""

    index: int
    sku: Sku
    batch_id: int | None
    counted: int
    threshold: int | None


# --- reading ----------------------------------------------------------------------------------------------


async def slot_id(
    session: AsyncSession, tenant_id: int, warehouse_id: int, sku_id: int, batch_id: int | None
) -> int | None:
    batch_match = StockLevel.batch_id.is_(None) if batch_id is None else StockLevel.batch_id == batch_id
    return await session.scalar(
        select(StockLevel.id).where(
            StockLevel.tenant_id == tenant_id,
            StockLevel.warehouse_id == warehouse_id,
            StockLevel.sku_id == sku_id,
            batch_match,
        )
    )


async def list_stock(
    session: AsyncSession,
    tenant_id: int,
    *,
    warehouse_id: int | None = None,
    sku_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[StockLevel]:
    query = select(StockLevel).where(StockLevel.tenant_id == tenant_id)
    if warehouse_id is not None:
        query = query.where(StockLevel.warehouse_id == warehouse_id)
    if sku_id is not None:
        query = query.where(StockLevel.sku_id == sku_id)
    return await catalog.page_of(session, query, StockLevel.id, cursor=cursor, limit=limit)


async def list_movements(
    session: AsyncSession,
    tenant_id: int,
    *,
    stock_level_id: int | None = None,
    warehouse_id: int | None = None,
    sku_id: int | None = None,
    kind: StockMovementKind | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[StockMovement]:
    """Newest first. Filters by slot, or by warehouse and/or SKU across their slots."""
    query = select(StockMovement).where(StockMovement.tenant_id == tenant_id)
    if stock_level_id is not None:
        query = query.where(StockMovement.stock_level_id == stock_level_id)
    if warehouse_id is not None or sku_id is not None:
        levels = select(StockLevel.id).where(StockLevel.tenant_id == tenant_id)
        if warehouse_id is not None:
            levels = levels.where(StockLevel.warehouse_id == warehouse_id)
        if sku_id is not None:
            levels = levels.where(StockLevel.sku_id == sku_id)
        query = query.where(StockMovement.stock_level_id.in_(levels))
    if kind is not None:
        query = query.where(StockMovement.kind == kind)
    return await catalog.page_of(session, query, StockMovement.id, cursor=cursor, limit=limit)


# --- counts (snapshots) -----------------------------------------------------------------------------------


async def resolve_counts(
    session: AsyncSession, tenant_id: int, lines: Sequence[SnapshotLineIn], field: FieldName
) -> list[SlotCount]:
    """SKUs and batches by id or code, within the tenant; an unknown batch code becomes a new batch."""
    by_id = await catalog.skus_by_ids(session, tenant_id, [ln.sku_id for ln in lines if ln.sku_id])
    by_code = await catalog.find_skus_by_code(
        session, tenant_id, [ln.sku_code for ln in lines if ln.sku_code]
    )
    batches = await batches_by_ids(session, tenant_id, [ln.batch_id for ln in lines if ln.batch_id])
    counts: list[SlotCount] = []
    seen: dict[tuple[int, int | None], int] = {}
    for index, line in enumerate(lines):
        sku = by_id.get(line.sku_id) if line.sku_id is not None else by_code.get(line.sku_code or "")
        if sku is None:
            name = "sku_id" if line.sku_id is not None else "sku_code"
            raise InvalidInput("no such SKU", field=field(index, name))
        batch_id = None
        if line.batch_id is not None:
            batch = batches.get(line.batch_id)
            if batch is None or batch.sku_id != sku.id:
                raise InvalidInput(f"no such batch of {sku.code}", field=field(index, "batch_id"))
            batch_id = batch.id
        elif line.batch_code:
            found = await find_batch(session, tenant_id, sku.id, line.batch_code)
            found = found or await do_create_batch(
                session, tenant_id, sku.id, BatchCreate(code=line.batch_code)
            )
            batch_id = found.id
        if (sku.id, batch_id) in seen:
            raise InvalidInput(
                f"counts the same SKU and batch as line {seen[(sku.id, batch_id)]}",
                field=field(index, "sku_id" if line.sku_id is not None else "sku_code"),
            )
        seen[(sku.id, batch_id)] = index
        counts.append(SlotCount(index, sku, batch_id, line.on_hand, line.low_stock_threshold))
    return counts


def movement_row(
    tenant_id: int,
    level_id: int,
    kind: StockMovementKind,
    delta: int,
    after: StockAfter,
    reason: str,
    source: str,
) -> StockMovement:
    return StockMovement(
        tenant_id=tenant_id,
        stock_level_id=level_id,
        kind=kind,
        on_hand_delta=delta,
        reserved_delta=0,
        on_hand_after=after.on_hand,
        reserved_after=after.reserved,
        reason=reason[:300],
        source=source[:80],
    )


async def create_slot(
    session: AsyncSession, tenant_id: int, warehouse_id: int, count: SlotCount, on_hand: int
) -> StockLevel | None:
    """A new slot holding `on_hand`; None when a concurrent writer created it first."""
    level = StockLevel(
        tenant_id=tenant_id,
        warehouse_id=warehouse_id,
        sku_id=count.sku.id,
        batch_id=count.batch_id,
        on_hand=on_hand,
        reserved=0,
        low_stock_threshold=count.threshold or 0,
        updated_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(level)
            await session.flush()
    except IntegrityError:
        return None
    return level


def _line_out(
    count: SlotCount,
    outcome: CountOutcome,
    message: str,
    level_id: int,
    before: int | None,
    after: StockAfter,
) -> SnapshotLineOut:
    changed = outcome is not CountOutcome.REJECTED
    return SnapshotLineOut(
        line=count.index,
        outcome=outcome,
        message=message,
        stock_level_id=level_id,
        sku_id=count.sku.id,
        batch_id=count.batch_id,
        counted=count.counted,
        on_hand_before=before,
        on_hand=after.on_hand,
        reserved=after.reserved,
        available=after.available,
        delta=(after.on_hand - (before or 0)) if changed else 0,
    )


async def _apply_count(
    session: AsyncSession, tenant_id: int, level_id: int, count: SlotCount, *, reason: str, source: str
) -> tuple[SnapshotLineOut, StockAfter | None]:
    """Set one existing slot's on-hand to the count, unless orders have reserved more than was counted."""
    on_hand, reserved, threshold, warehouse_id = (
        await session.execute(
            select(
                StockLevel.on_hand,
                StockLevel.reserved,
                StockLevel.low_stock_threshold,
                StockLevel.warehouse_id,
            )
            .where(StockLevel.tenant_id == tenant_id, StockLevel.id == level_id)
            .with_for_update()
        )
    ).one()
    current = StockAfter(level_id, warehouse_id, count.sku.id, on_hand, reserved, threshold)
    if reserved > count.counted:
        await raise_discrepancy(session, tenant_id, current, count.batch_id, count.counted, reason, source)
        message = (
            f"{count.sku.code}: counted {count.counted}, but {reserved} units are reserved for orders; "
            f"on-hand stays at {on_hand} and a stock discrepancy was raised for someone to check"
        )
        return _line_out(count, CountOutcome.REJECTED, message, level_id, on_hand, current), None
    values: dict[str, object] = {"on_hand": count.counted, "updated_at": utcnow()}
    if count.threshold is not None:
        values["low_stock_threshold"] = count.threshold
    row = (
        await session.execute(
            update(StockLevel)
            .where(
                StockLevel.tenant_id == tenant_id,
                StockLevel.id == level_id,
                StockLevel.reserved <= count.counted,  # the lock already holds; the CHECK stands behind
            )
            .values(**values)
            .returning(*LEVEL_FIGURES)
            .execution_options(synchronize_session=False)
        )
    ).one()
    after = StockAfter(level_id, *row)
    delta = after.on_hand - on_hand
    session.add(movement_row(tenant_id, level_id, StockMovementKind.SNAPSHOT, delta, after, reason, source))
    if delta == 0 and after.low_stock_threshold == threshold:
        return _line_out(count, CountOutcome.UNCHANGED, "count matches", level_id, on_hand, after), None
    message = f"on-hand {on_hand} → {after.on_hand} ({delta:+d})"
    return _line_out(count, CountOutcome.CHANGED, message, level_id, on_hand, after), after


async def _count_slots(
    session: AsyncSession,
    tenant_id: int,
    warehouse_id: int,
    counts: Sequence[SlotCount],
    *,
    reason: str,
    source: str,
) -> list[SnapshotLineOut]:
    results: dict[int, SnapshotLineOut] = {}
    changed: list[StockAfter] = []
    existing: dict[int, SlotCount] = {}
    for count in counts:
        level_id = await slot_id(session, tenant_id, warehouse_id, count.sku.id, count.batch_id)
        if level_id is None:
            level = await create_slot(session, tenant_id, warehouse_id, count, count.counted)
            if level is not None:
                after = StockAfter(
                    level.id, warehouse_id, count.sku.id, level.on_hand, 0, level.low_stock_threshold
                )
                session.add(
                    movement_row(
                        tenant_id, level.id, StockMovementKind.SNAPSHOT, count.counted, after, reason, source
                    )
                )
                message = f"new stock slot with {count.counted} on hand"
                results[count.index] = _line_out(count, CountOutcome.CREATED, message, level.id, None, after)
                changed.append(after)
                continue
            level_id = await slot_id(session, tenant_id, warehouse_id, count.sku.id, count.batch_id)
            assert level_id is not None  # the concurrent writer's row
        existing[level_id] = count
    for level_id in sorted(existing):  # id order: the lock order reservations share
        line, after_count = await _apply_count(
            session, tenant_id, level_id, existing[level_id], reason=reason, source=source
        )
        results[line.line] = line
        if after_count is not None:
            changed.append(after_count)
    await session.flush()
    await announce_levels(session, tenant_id, changed, cause="snapshot")
    return [results[index] for index in sorted(results)]


async def do_take_snapshot(
    session: AsyncSession,
    tenant_id: int,
    data: StockSnapshotIn,
    *,
    source: str,
    field: FieldName = _line_field,
) -> StockSnapshotOut:
    """Apply a warehouse's counts line by line and report what each line did.

    Unknown warehouses, SKUs or batches refuse the whole snapshot (nothing is written); a line counting
    fewer units than are reserved is reported `rejected` and the others still apply.
    """
    if data.warehouse_id is not None:
        warehouse_id = (await catalog.referenced_warehouse(session, tenant_id, data.warehouse_id)).id
    else:
        found = await catalog.find_warehouse_by_code(session, tenant_id, data.warehouse_code or "")
        if found is None:
            raise InvalidInput(f"no warehouse {data.warehouse_code!r}", field="warehouse_code")
        warehouse_id = found.id
    counts = await resolve_counts(session, tenant_id, data.lines, field)
    lines = await _count_slots(
        session, tenant_id, warehouse_id, counts, reason=data.note or "count", source=source
    )
    rejected = sum(1 for line in lines if line.outcome is CountOutcome.REJECTED)
    return StockSnapshotOut(
        warehouse_id=warehouse_id, applied=len(lines) - rejected, rejected=rejected, lines=lines
    )


async def do_set_stock(
    session: AsyncSession, tenant_id: int, data: StockSet, *, source: str = "api"
) -> StockLevel:
    """Set on-hand units of one warehouse/SKU/batch slot, creating it: a one-line count that is refused
    (`Conflict`) instead of reported when it is below what orders have reserved."""
    snapshot = StockSnapshotIn(
        warehouse_id=data.warehouse_id,
        lines=[
            SnapshotLineIn(
                sku_id=data.sku_id,
                batch_id=data.batch_id,
                on_hand=data.on_hand,
                low_stock_threshold=data.low_stock_threshold,
            )
        ],
    )
    report = await do_take_snapshot(session, tenant_id, snapshot, source=source, field=flat_field)
    [line] = report.lines
    if line.outcome is CountOutcome.REJECTED:
        raise Conflict(
            f"on_hand {data.on_hand} is below the {line.reserved} units already reserved",
            field="on_hand",
            reserved=line.reserved,
        )
    level = await session.get(StockLevel, line.stock_level_id, populate_existing=True)
    assert level is not None
    return level
