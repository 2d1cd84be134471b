"""Acting on an approval (the policy's or a person's): a returnless refund when nothing is worth bringing
back, else the route to the warehouse, the label booked with the carrier and the exchange reserved; and a
person's review of a request the policy sent to them."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Sku, Warehouse
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict
from aftersail.orders import service as orders
from aftersail.orders.models import Order
from aftersail.returns import exchanges, notices, refunds
from aftersail.returns.carriers import ReturnBooking, carrier_for
from aftersail.returns.models import ReturnLine, ReturnRequest
from aftersail.returns.planning import LineAsk, Plan, ReturnAsk, plan_return
from aftersail.returns.policy import return_policy
from aftersail.returns.records import do_move, do_record, return_lines
from aftersail.returns.rules import Resolution, ReturnStatus
from aftersail.shipping import service as shipping
from aftersail.shipping.rules import Direction
from aftersail.support import attachments as files
from aftersail.support import service as tickets


async def do_approve(
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    actor: str,
    files_dir: Path,
    plan: Plan | None = None,
    now: datetime | None = None,
) -> ReturnRequest:
    """Act on an approval: a returnless refund when nothing is worth bringing back, else the route, the label,
    and the exchange reserved (shipped at once for a trusted buyer)."""
    now = now or utcnow()
    ret.decided_at = now
    order = await orders.access_order(session, ret.tenant_id, ret.order_id)
    lines = await return_lines(session, ret)
    if ret.keep_item or all(line.keep for line, _ in lines if line.eligible):
        ret.keep_item = True
        await do_move(session, ret, ReturnStatus.KEEP_REFUNDED, actor=actor, now=now)
        await notices.do_tell_buyer(session, ret, notices.Notice.KEEP_REFUNDED, now=now)
        await refunds.do_request_refund(session, ret, actor=actor, now=now)
        return ret
    await do_move(session, ret, ReturnStatus.APPROVED, actor=actor, now=now)
    route = (
        plan.route
        if plan
        else (await plan_return(session, order, await _ask_again(session, ret), now=now)).route
    )
    if route.site is None:
        raise Conflict("No warehouse takes this return back.", return_id=ret.id)
    warehouse = await catalog.access_warehouse(session, ret.tenant_id, route.site.warehouse_id)
    ret.warehouse_id = warehouse.id
    ret.routing_reason = route.reason[:300]
    ret.reverse_freight_minor = route.site.freight_minor or 0
    await _book_label(session, ret, order, warehouse, lines, files_dir=files_dir, now=now)
    await do_record(
        session,
        ret,
        "routed",
        actor,
        warehouse=warehouse.code,
        reason=route.reason,
        carrier=ret.carrier,
        tracking_number=ret.tracking_number,
    )
    if ret.resolution in {Resolution.EXCHANGE, Resolution.REPLACEMENT, Resolution.REPAIR}:
        await exchanges.do_reserve_exchange(session, ret, order, lines, actor=actor, now=now)
    await notices.do_tell_buyer(session, ret, notices.Notice.APPROVED, now=now)
    return ret


async def _ask_again(session: AsyncSession, ret: ReturnRequest) -> ReturnAsk:
    lines = await return_lines(session, ret)
    return ReturnAsk(
        reason=ret.reason,
        resolution=ret.resolution,
        lines=[LineAsk(line.order_line_id, line.quantity, line.exchange_sku_id) for line, _ in lines],
        language=ret.language,
    )


async def _book_label(
    session: AsyncSession,
    ret: ReturnRequest,
    order: Order,
    warehouse: Warehouse,
    lines: list[tuple[ReturnLine, Sku]],
    *,
    files_dir: Path,
    now: datetime,
) -> None:
    """Book the way back with the tenant's carrier (the built-in self-managed one by default) and keep the
    label PDF beside the case's files. A self-managed booking is local and repeatable; a remote carrier's
    booking keys on the RMA number, so a retried request gets the same parcel."""
    customer = await orders.access_customer(session, ret.tenant_id, ret.customer_id)
    address = {str(k): str(v) for k, v in (order.shipping_address or {}).items()}
    carrier = carrier_for("self_managed")
    booked = await carrier.book_return(
        ReturnBooking(
            rma_number=ret.rma_number,
            from_name=customer.name,
            from_address=address,
            to_name=warehouse.name,
            to_address={str(k): str(v) for k, v in (warehouse.address or {}).items()},
            to_country=warehouse.country,
            weight_grams=sum(
                sku.weight_grams * line.quantity for line, sku in lines if line.eligible and not line.keep
            ),
            lines=tuple(
                (sku.code, sku.title, line.quantity) for line, sku in lines if line.eligible and not line.keep
            ),
            qr_payload=ret.rma_number,
            created_at=now,
        )
    )
    ret.carrier = booked.carrier
    ret.tracking_number = booked.tracking_number
    if booked.cost_minor is not None and booked.currency == ret.currency:
        ret.reverse_freight_minor = booked.cost_minor
    if ret.ticket_id is not None:
        ticket = await tickets.access_ticket(session, ret.tenant_id, ret.ticket_id)
        stored = await files.do_store_attachment(
            session,
            ticket,
            filename=f"{ret.rma_number}-label.pdf",
            data=booked.label_pdf,
            content_type="application/pdf",
            files_dir=files_dir,
        )
        ret.label_sha256 = stored.sha256
    else:
        ret.label_sha256 = hashlib.sha256(booked.label_pdf).hexdigest()
        files._write_once(files.blob_path(files_dir, ret.label_sha256), booked.label_pdf)
    # The way back is tracked like any parcel (its carrier events move the return along; ADR 0021).
    await shipping.do_record_shipment(
        session,
        ret.tenant_id,
        direction=Direction.RETURN,
        order_id=order.id,
        customer_id=ret.customer_id,
        warehouse_id=warehouse.id,
        country=order.country,
        carrier=booked.carrier,
        tracking_number=booked.tracking_number,
        return_id=ret.id,
        shipped_at=now,
    )
    ret.handling_minor = (await return_policy(session, ret.tenant_id)).handling_minor * sum(
        line.quantity for line, _ in lines if line.eligible and not line.keep
    )


async def do_review(
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    approve: bool,
    actor: str,
    note: str = "",
    files_dir: Path,
    now: datetime | None = None,
) -> ReturnRequest:
    """A person decides a request the policy sent for review; the decision and its note are audited."""
    now = now or utcnow()
    if ret.status is not ReturnStatus.REQUESTED:
        raise Conflict(f"Return {ret.rma_number} is {ret.status.value}; only a requested return is reviewed.")
    await do_record(session, ret, "reviewed", actor, approve=approve, note=note[:500])
    if approve:
        return await do_approve(session, ret, actor=actor, files_dir=files_dir, now=now)
    ret.decided_at = now
    await do_move(session, ret, ReturnStatus.REJECTED, actor=actor, now=now)
    await notices.do_tell_buyer(session, ret, notices.Notice.REJECTED, now=now, why=note)
    return ret
