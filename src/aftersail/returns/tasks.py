"""Jobs of returns: sending a refund to the payment provider (after the refund row committed), the
return's cycle-time check at its due time, and following the return parcel's tracking."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Handler, Publisher, register
from aftersail.kit.realtime import RealtimeBus
from aftersail.returns import refunds
from aftersail.returns.models import Refund, ReturnRequest
from aftersail.returns.payments import gateway_from_settings
from aftersail.returns.service import CYCLE_DUE_TOPIC, do_follow_parcel, do_sweep_cycle
from aftersail.shipping.watch import RETURN_PARCEL_TOPIC


@register(RETURN_PARCEL_TOPIC, name="returns.follow_parcel")
async def follow_parcel(session: AsyncSession, delivery: Delivery) -> None:
    return_id = delivery.payload.get("return_id")
    ret = await session.get(ReturnRequest, return_id) if isinstance(return_id, int) else None
    if ret is None or ret.tenant_id != delivery.tenant_id:
        return
    delivered = delivery.payload.get("delivered_at")
    await do_follow_parcel(
        session,
        ret,
        moving=bool(delivery.payload.get("moving")),
        delivered_at=datetime.fromisoformat(delivered) if isinstance(delivered, str) else None,
        now=utcnow(),
    )


@register(CYCLE_DUE_TOPIC, name="returns.cycle_due")
async def check_cycle(session: AsyncSession, delivery: Delivery) -> None:
    return_id = delivery.payload.get("return_id")
    ret = await session.get(ReturnRequest, return_id) if isinstance(return_id, int) else None
    if ret is not None and ret.tenant_id == delivery.tenant_id:
        await do_sweep_cycle(session, ret)


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    gateway = gateway_from_settings(settings)

    async def send_refund(session: AsyncSession, delivery: Delivery) -> None:
        refund_id = delivery.payload.get("refund_id")
        refund = await session.get(Refund, refund_id) if isinstance(refund_id, int) else None
        if refund is not None and refund.tenant_id == delivery.tenant_id:
            await refunds.do_send_refund(session, refund, gateway)

    return [Handler(name="returns.send_refund", topics=(refunds.SEND_TOPIC,), fn=send_refund)]
