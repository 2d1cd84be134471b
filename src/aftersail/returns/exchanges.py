"""Exchanges and replacements: the item going out is reserved through allocation when the return is approved
(a replacement order at no charge, so it can never be oversold), shipped when the return is scanned in, or
at once for a trusted buyer (instant exchange); withdrawn with the return."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku
from aftersail.kit.validation import Address
from aftersail.orders import changes
from aftersail.orders import service as orders
from aftersail.orders.allocation import do_place_order
from aftersail.orders.models import Order, OrderChannel, OrderStatus
from aftersail.orders.schemas import OrderCreate, OrderLineIn
from aftersail.returns import notices
from aftersail.returns.models import ReturnLine, ReturnRequest
from aftersail.returns.policy import return_policy
from aftersail.returns.records import do_record
from aftersail.returns.rules import ReturnStatus

SHIPPABLE = frozenset({OrderStatus.ALLOCATED, OrderStatus.BACKORDERED})


async def is_trusted_buyer(session: AsyncSession, ret: ReturnRequest, *, now: datetime) -> bool:
    """Enough delivered orders, no other return in 180 days, no fraud signal: the exchange need not wait."""
    if ret.signals:
        return False
    policy = await return_policy(session, ret.tenant_id)
    delivered = await orders.count_orders(
        session, ret.tenant_id, ret.customer_id, status=OrderStatus.DELIVERED
    )
    others = await session.scalar(
        select(func.count(ReturnRequest.id)).where(
            ReturnRequest.tenant_id == ret.tenant_id,
            ReturnRequest.customer_id == ret.customer_id,
            ReturnRequest.id != ret.id,
            ReturnRequest.requested_at >= now - timedelta(days=180),
        )
    )
    return delivered >= policy.trusted_buyer_orders and not others


async def do_reserve_exchange(
    session: AsyncSession,
    ret: ReturnRequest,
    order: Order,
    lines: list[tuple[ReturnLine, Sku]],
    *,
    actor: str,
    now: datetime,
) -> Order | None:
    """Place the replacement order (allocated to the nearest warehouse with stock, or backordered)."""
    wanted = [
        OrderLineIn(sku_id=line.exchange_sku_id or line.sku_id, quantity=line.quantity, unit_price_minor=0)
        for line, _ in lines
        if line.eligible and not line.keep
    ]
    if not wanted or ret.replacement_order_id is not None:
        return None
    replacement = await do_place_order(
        session,
        ret.tenant_id,
        OrderCreate(
            number=f"{order.number}-{ret.rma_number}"[-40:],  # the exchange is found by its return's number
            customer_id=order.customer_id,
            channel=OrderChannel.API,
            currency=order.currency,
            lines=wanted,
            shipping_address=Address.model_validate(order.shipping_address),
            external_ref=f"exchange:{ret.rma_number}",
        ),
        actor=actor,
    )
    ret.replacement_order_id = replacement.id
    await do_record(
        session, ret, "exchange_reserved", actor, order=replacement.number, status=replacement.status.value
    )
    if await is_trusted_buyer(session, ret, now=now):
        ret.instant_exchange = True
        await do_ship_exchange(session, ret, actor=actor, now=now)
    return replacement


async def do_ship_exchange(session: AsyncSession, ret: ReturnRequest, *, actor: str, now: datetime) -> bool:
    """Release the replacement for picking (the return was scanned in, or the buyer is trusted)."""
    if ret.replacement_order_id is None:
        return False
    replacement = await orders.access_order(session, ret.tenant_id, ret.replacement_order_id)
    if replacement.status is not OrderStatus.ALLOCATED:
        return False  # backordered: it ships when stock arrives; released or later: already on its way
    await changes.do_release_for_picking(session, replacement, actor=actor)
    await do_record(session, ret, "exchange_released", actor, order=replacement.number)
    await notices.do_tell_buyer(session, ret, notices.Notice.EXCHANGE_SHIPPED, now=now)
    if ret.status in {ReturnStatus.GRADED} and not ret.instant_exchange:
        ret.resolved_at = ret.resolved_at or now
    return True


async def do_release_exchange(session: AsyncSession, ret: ReturnRequest, *, actor: str) -> None:
    """The return was withdrawn: give the reserved replacement's units back to stock."""
    if ret.replacement_order_id is None:
        return
    replacement = await orders.access_order(session, ret.tenant_id, ret.replacement_order_id)
    if replacement.status in SHIPPABLE:
        await changes.do_cancel_order(
            session, replacement, actor=actor, reason=f"return {ret.rma_number} withdrawn"
        )
