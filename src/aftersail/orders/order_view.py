"""One order as the console page and the change API show it: lines with backorders, where each part ships
from and why, the parcels it shares with the buyer's other orders, its audit trail, and the variants a line
may change to. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Sku, Warehouse
from aftersail.orders import service as orders
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Order,
    OrderEvent,
    OrderLine,
)
from aftersail.tenants import service as tenants


@dataclass
class AllocationView:
    allocation: Allocation
    warehouse: Warehouse | None
    lines: list[tuple[AllocationLine, Sku | None]]
    merged_with: list[str] = field(default_factory=list)  # numbers of other orders in the same parcel


@dataclass
class OrderView:
    order: Order
    lines: list[tuple[OrderLine, Sku]]
    allocations: list[AllocationView]
    events: list[OrderEvent] = field(default_factory=list)
    variants: dict[int, list[Sku]] = field(default_factory=dict)  # order line id → SKUs of its product
    actor_names: dict[str, str] = field(default_factory=dict)

    @property
    def backordered(self) -> int:
        return sum(line.backordered_quantity for line, _ in self.lines)

    def reason_parts(self, part: AllocationView) -> ReasonParts:
        """What the stored reason says, as data, so the page can say it in the viewer's language (the row
        keeps the English sentence for the API and the audit trail)."""
        codes = {line.id: sku.code for line, sku in self.lines}
        mine = sorted({al.order_line_id for al, _ in part.lines})
        name = part.warehouse.name.split(" (", 1)[0] if part.warehouse else f"#{part.allocation.warehouse_id}"
        return ReasonParts(
            warehouse=name,
            days=part.allocation.transit_days or 0,
            country=self.order.country,
            lines=len(mine),
            total=len(self.lines),
            labels=", ".join(codes.get(i, str(i)) for i in mine),
            whole=len(mine) == len(self.lines) and len(self.allocations) == 1,
        )


@dataclass(frozen=True)
class ReasonParts:
    warehouse: str
    days: int
    country: str
    lines: int
    total: int
    labels: str
    whole: bool  # one warehouse ships every line


async def _lines(session: AsyncSession, order: Order) -> list[tuple[OrderLine, Sku]]:
    # populate_existing: changes write backorders with bulk UPDATEs that leave loaded lines stale.
    rows = await session.execute(
        select(OrderLine, Sku)
        .join(Sku, (Sku.id == OrderLine.sku_id) & (Sku.tenant_id == order.tenant_id))
        .where(OrderLine.tenant_id == order.tenant_id, OrderLine.order_id == order.id)
        .order_by(OrderLine.id)
        .execution_options(populate_existing=True)
    )
    return [(line, sku) for line, sku in rows.all()]


async def _allocations(session: AsyncSession, order: Order) -> list[AllocationView]:
    tenant_id = order.tenant_id
    allocations = list(
        (
            await session.scalars(
                select(Allocation)
                .where(
                    Allocation.tenant_id == tenant_id,
                    Allocation.order_id == order.id,
                    Allocation.status != AllocationStatus.CANCELLED,
                )
                .order_by(Allocation.id)
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    if not allocations:
        return []
    warehouses = {w.id: w for w in await catalog.list_warehouses(session, tenant_id)}
    alloc_lines = list(
        (
            await session.scalars(
                select(AllocationLine)
                .where(
                    AllocationLine.tenant_id == tenant_id,
                    AllocationLine.allocation_id.in_([a.id for a in allocations]),
                )
                .order_by(AllocationLine.id)
            )
        ).all()
    )
    skus = await catalog.skus_by_ids(session, tenant_id, {al.sku_id for al in alloc_lines})
    groups = {a.shipment_group_id for a in allocations if a.shipment_group_id is not None}
    merged: dict[int, set[str]] = {g: set() for g in groups}
    if groups:
        rows = await session.execute(
            select(Allocation.shipment_group_id, Order.number)
            .join(Order, (Order.id == Allocation.order_id) & (Order.tenant_id == tenant_id))
            .where(
                Allocation.tenant_id == tenant_id,
                Allocation.shipment_group_id.in_(groups),
                Allocation.order_id != order.id,
                Allocation.status != AllocationStatus.CANCELLED,
            )
        )
        for group_id, number in rows.all():
            if group_id is not None:
                merged[group_id].add(number)
    return [
        AllocationView(
            allocation=a,
            warehouse=warehouses.get(a.warehouse_id),
            lines=[(al, skus.get(al.sku_id)) for al in alloc_lines if al.allocation_id == a.id],
            merged_with=sorted(merged.get(a.shipment_group_id or 0, ())),
        )
        for a in allocations
    ]


async def _actor_names(session: AsyncSession, tenant_id: int, events: list[OrderEvent]) -> dict[str, str]:
    """Who each actor was, as far as the trail can tell: the name written with the change, else the API
    key's name."""
    names: dict[str, str] = {}
    for event in events:
        name = (event.details or {}).get("actor_name")
        if isinstance(name, str) and name:
            names.setdefault(event.actor, name)
    if any(e.actor.startswith("api_key:") and e.actor not in names for e in events):
        for key in await tenants.list_api_keys(session, tenant_id):
            names.setdefault(f"api_key:{key.id}", key.name)
    return names


async def load_order_view(
    session: AsyncSession, order: Order, *, with_events: bool = False, with_variants: bool = False
) -> OrderView:
    lines = await _lines(session, order)
    view = OrderView(order=order, lines=lines, allocations=await _allocations(session, order))
    if with_events:
        view.events = await orders.list_order_events(session, order.tenant_id, order.id)
        view.actor_names = await _actor_names(session, order.tenant_id, view.events)
    if with_variants:
        products = await catalog.skus_of_products(
            session, order.tenant_id, {sku.product_id for _, sku in lines}
        )
        view.variants = {line.id: products.get(sku.product_id, []) for line, sku in lines}
    return view
