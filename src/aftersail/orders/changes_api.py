"""HTTP routes for cooling-off changes (冷静期): cancel, change address, change a line, release for picking.
Changes need the order-writer role; the release needs stock-writer (warehouse or admin). Every answer is the
order as it now is: status, lines with backorders, allocations. (The audit trail is GET
/orders/{order_id}/events in orders/api.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field, StringConstraints, model_validator

from aftersail.kit.validation import Address, IdIn, Out, PathId, Strict
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.models import AllocationStatus, OrderStatus
from aftersail.orders.order_view import load_order_view
from aftersail.orders.rules import NoWarehouseServes
from aftersail.orders.schemas import OrderOut
from aftersail.web.deps import OrderWriter, SessionDep, StockWriter

router = APIRouter(tags=["orders"])


class CancelOrder(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why the order is cancelled; kept in the audit trail"
    )


class ChangeAddress(Strict):
    address: Address


class ChangeLine(Strict):
    sku_id: IdIn | None = Field(default=None, description="Another variant: a SKU of the same product")
    quantity: int | None = Field(default=None, gt=0, le=10_000)

    @model_validator(mode="after")
    def _something_to_change(self) -> ChangeLine:
        if self.sku_id is None and self.quantity is None:
            raise ValueError("give sku_id, quantity, or both")
        return self


class AllocationLineOut(Out):
    order_line_id: int
    sku_id: int
    sku_code: str
    batch_id: int | None
    stock_level_id: int
    quantity: int


class AllocationOut(Out):
    id: int
    warehouse_id: int
    warehouse_code: str
    status: AllocationStatus
    reason: str
    transit_days: int | None
    shipment_group_id: int | None
    merged_with: list[str] = Field(description="Numbers of the buyer's other orders in the same parcel")
    lines: list[AllocationLineOut]


class ChangedLineOut(Out):
    id: int
    sku_id: int
    sku_code: str
    quantity: int
    backordered_quantity: int
    unit_price_minor: int
    total_minor: int


class OrderStateOut(OrderOut):
    released_at: datetime | None
    changeable: bool = Field(description="False once released for picking: changes become returns")
    lines: list[ChangedLineOut]
    allocations: list[AllocationOut]


async def order_state(session: SessionDep, order_id: int, tenant_id: int) -> OrderStateOut:
    order = await orders.access_order(session, tenant_id, order_id)
    view = await load_order_view(session, order)
    base = OrderOut.model_validate(order).model_dump(exclude={"released_at"})
    return OrderStateOut(
        **base,
        released_at=order.released_at,
        changeable=order.status in {OrderStatus.PENDING, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED},
        lines=[
            ChangedLineOut(
                id=line.id,
                sku_id=sku.id,
                sku_code=sku.code,
                quantity=line.quantity,
                backordered_quantity=line.backordered_quantity,
                unit_price_minor=line.unit_price_minor,
                total_minor=line.unit_price_minor * line.quantity,
            )
            for line, sku in view.lines
        ],
        allocations=[
            AllocationOut(
                id=a.allocation.id,
                warehouse_id=a.allocation.warehouse_id,
                warehouse_code=a.warehouse.code if a.warehouse else "",
                status=a.allocation.status,
                reason=a.allocation.reason,
                transit_days=a.allocation.transit_days,
                shipment_group_id=a.allocation.shipment_group_id,
                merged_with=a.merged_with,
                lines=[
                    AllocationLineOut(
                        order_line_id=al.order_line_id,
                        sku_id=al.sku_id,
                        sku_code=sku.code if sku else "",
                        batch_id=al.batch_id,
                        stock_level_id=al.stock_level_id,
                        quantity=al.quantity,
                    )
                    for al, sku in a.lines
                ],
            )
            for a in view.allocations
        ],
    )


@router.post("/orders/{order_id}/cancel", response_model=OrderStateOut)
async def cancel_order(
    order_id: PathId, body: CancelOrder, session: SessionDep, principal: OrderWriter
) -> OrderStateOut:
    """Cancel an order that is not yet released for picking; its reserved stock goes back. After release:
    409 `change_window_closed` (ask for a return instead)."""
    order = await orders.access_order(session, principal.tenant_id, order_id)
    await changes.do_cancel_order(
        session, order, actor=principal.actor, reason=body.reason, actor_name=principal.name
    )
    return await order_state(session, order_id, principal.tenant_id)


@router.put("/orders/{order_id}/address", response_model=OrderStateOut)
async def change_address(
    order_id: PathId, body: ChangeAddress, session: SessionDep, principal: OrderWriter
) -> OrderStateOut:
    """Ship to another address before picking; the order is allocated again for it (another country may
    mean another warehouse). A country no warehouse serves is 422 and nothing changes."""
    order = await orders.access_order(session, principal.tenant_id, order_id)
    try:
        await changes.do_change_address(
            session, order, body.address.model_dump(), actor=principal.actor, actor_name=principal.name
        )
    except NoWarehouseServes as exc:
        exc.field = exc.details["field"] = "address.country"  # this body's path, not the order's
        raise
    return await order_state(session, order_id, principal.tenant_id)


@router.patch("/orders/{order_id}/lines/{line_id}", response_model=OrderStateOut)
async def change_line(
    order_id: PathId, line_id: PathId, body: ChangeLine, session: SessionDep, principal: OrderWriter
) -> OrderStateOut:
    """Change a line's variant (`sku_id`, a SKU of the same product) and/or `quantity` before picking; the
    order is allocated again and its total follows."""
    order = await orders.access_order(session, principal.tenant_id, order_id)
    await changes.do_change_line(
        session,
        order,
        line_id,
        sku_id=body.sku_id,
        quantity=body.quantity,
        actor=principal.actor,
        actor_name=principal.name,
    )
    return await order_state(session, order_id, principal.tenant_id)


@router.post("/orders/{order_id}/release", response_model=OrderStateOut)
async def release_order(order_id: PathId, session: SessionDep, principal: StockWriter) -> OrderStateOut:
    """The warehouse starts picking (warehouse or admin role): the cooling-off window closes."""
    order = await orders.access_order(session, principal.tenant_id, order_id)
    await changes.do_release_for_picking(session, order, actor=principal.actor, actor_name=principal.name)
    return await order_state(session, order_id, principal.tenant_id)
