"""Returns as the agents see them: the filtered, newest-first list (console and API share it) and one case
with everything around it (lines with their return-or-keep figures, evidence, refunds, the audit trail),
plus the person-readable labels of the returns vocabulary. Reads only; the actions are the services'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku, Warehouse
from aftersail.catalog.service import like_escape, page_of
from aftersail.kit.i18n import N_
from aftersail.kit.pagination import Page
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, Order
from aftersail.returns import refunds
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import (
    Disposition,
    Refund,
    RefundKind,
    RefundStatus,
    ReturnEvent,
    ReturnEvidence,
    ReturnLine,
    ReturnRequest,
)
from aftersail.returns.rules import Outcome, Payer, Reason, Resolution, ReturnStatus

NEEDS_REVIEW = "needs_review"  # the outcome filter's shortcut: sent to a person and still undecided

STATUS_LABELS = {
    ReturnStatus.REQUESTED: N_("Requested"),
    ReturnStatus.APPROVED: N_("Approved, label sent"),
    ReturnStatus.REJECTED: N_("Rejected"),
    ReturnStatus.KEEP_REFUNDED: N_("Refunded, item kept"),
    ReturnStatus.IN_TRANSIT: N_("On its way back"),
    ReturnStatus.RECEIVED: N_("Received"),
    ReturnStatus.GRADED: N_("Graded"),
    ReturnStatus.REFUNDED: N_("Refunded"),
    ReturnStatus.EXCHANGED: N_("Exchanged"),
    ReturnStatus.CLOSED: N_("Closed"),
    ReturnStatus.CANCELLED: N_("Cancelled"),
}
OUTCOME_LABELS = {
    Outcome.AUTO_APPROVED: N_("Approved by the policy"),
    Outcome.MANUAL_REVIEW: N_("Sent for review"),
    Outcome.REJECTED: N_("Refused by the policy"),
}
RULE_LABELS = {
    "auto_approve": N_("Within policy"),
    "evidence_missing": N_("Evidence missing"),
    "reused_photo": N_("Reused photo"),
    "repeat_returner": N_("Frequent returner"),
    "high_value": N_("High value"),
    "no_eligible_line": N_("Nothing returnable"),
}
REASON_LABELS = {
    Reason.DOES_NOT_FIT: N_("Does not fit"),
    Reason.NOT_AS_DESCRIBED: N_("Not as described"),
    Reason.DAMAGED: N_("Arrived damaged"),
    Reason.DEFECTIVE: N_("Defective"),
    Reason.WRONG_ITEM: N_("Wrong item sent"),
    Reason.MISSING_PARTS: N_("Parts missing"),
    Reason.CHANGED_MIND: N_("Changed their mind"),
    Reason.ARRIVED_LATE: N_("Arrived late"),
    Reason.OTHER: N_("Other reason"),
}
RESOLUTION_LABELS = {
    Resolution.REFUND: N_("Refund"),
    Resolution.EXCHANGE: N_("Exchange"),
    Resolution.STORE_CREDIT: N_("Store credit"),
    Resolution.REPLACEMENT: N_("Replacement"),
    Resolution.REPAIR: N_("Repair"),
}
PAYER_LABELS = {
    Payer.SELLER: N_("The seller pays the way back"),
    Payer.BUYER: N_("The buyer pays the way back"),
}
REFUND_KIND_LABELS = {
    RefundKind.REFUND: N_("Refund to the payment"),
    RefundKind.STORE_CREDIT: N_("Store credit"),
    RefundKind.KEEP_REFUND: N_("Refund, item kept"),
}
REFUND_STATUS_LABELS = {
    RefundStatus.REQUESTED: N_("Queued"),
    RefundStatus.PENDING: N_("On its way"),
    RefundStatus.SUCCEEDED: N_("Paid"),
    RefundStatus.FAILED: N_("Failed"),
}
GRADE_LABELS = {
    Grade.A: N_("A · as new"),
    Grade.B: N_("B · repackage"),
    Grade.C: N_("C · refurbish"),
    Grade.D: N_("D · scrap"),
}
DISPOSITION_LABELS = {
    Disposition.RESTOCK: N_("Back in stock"),
    Disposition.REFURBISH: N_("Refurbish"),
    Disposition.LIQUIDATE: N_("Liquidate"),
    Disposition.RETURN_TO_SUPPLIER: N_("Back to the supplier"),
    Disposition.DESTROY: N_("Destroy"),
}
EVENT_LABELS = {
    "requested": N_("Requested by the buyer"),
    "decided": N_("Decided by the policy"),
    "reviewed": N_("Reviewed"),
    "status": N_("Status changed"),
    "routed": N_("Routed, label issued"),
    "received": N_("Received at the warehouse"),
    "graded": N_("Graded"),
    "refund_requested": N_("Refund asked for"),
    "refunded": N_("Refunded"),
    "refund_failed": N_("Refund failed"),
    "cycle_breached": N_("Cycle time overdue"),
}
SIGNAL_LABELS = {
    "reused_photo": N_("Reused photo"),
    "serial_returner": N_("Serial returner"),
    "wear_and_return": N_("Wear and return"),
}
SIGNAL_HINTS = {
    "reused_photo": N_("A photo of this request was seen on another case."),
    "serial_returner": N_("%(count)s returns in the last 180 days."),
    "wear_and_return": N_("Clothes sent back for fit late in the window: %(skus)s."),
}


@dataclass
class ReturnFilters:
    status: ReturnStatus | None = None
    outcome: str | None = None  # an Outcome value, or NEEDS_REVIEW
    market: str | None = None
    warehouse_id: int | None = None
    q: str | None = None  # RMA number, tracking number or order number (a prefix)


def shown_signals(ret: ReturnRequest) -> list[str]:
    """The fraud signals to badge (shown to agents, never acted on)."""
    signals = ret.signals or {}
    return [name for name in SIGNAL_LABELS if signals.get(name)]


async def list_returns(
    session: AsyncSession, tenant_id: int, filters: ReturnFilters, *, cursor: str | None, limit: int
) -> Page[ReturnRequest]:
    """Newest first; every filter narrows within the tenant."""
    query = select(ReturnRequest).where(ReturnRequest.tenant_id == tenant_id)
    if filters.status is not None:
        query = query.where(ReturnRequest.status == filters.status)
    if filters.outcome == NEEDS_REVIEW:
        query = query.where(
            ReturnRequest.outcome == Outcome.MANUAL_REVIEW, ReturnRequest.status == ReturnStatus.REQUESTED
        )
    elif filters.outcome:
        query = query.where(ReturnRequest.outcome == Outcome(filters.outcome))
    if filters.market:
        query = query.where(ReturnRequest.market == filters.market.upper())
    if filters.warehouse_id is not None:
        query = query.where(ReturnRequest.warehouse_id == filters.warehouse_id)
    if filters.q and filters.q.strip():
        needle = filters.q.strip()
        prefix = like_escape(needle) + "%"
        orders_matching = select(Order.id).where(
            Order.tenant_id == tenant_id, Order.number.like(prefix, escape="\\")
        )
        query = query.where(
            or_(
                ReturnRequest.rma_number == needle.upper(),
                ReturnRequest.rma_number.like(like_escape(needle.upper()) + "%", escape="\\"),
                ReturnRequest.tracking_number == needle.upper(),
                ReturnRequest.order_id.in_(orders_matching),
            )
        )
    return await page_of(session, query, ReturnRequest.id, cursor=cursor, limit=limit)


@dataclass(frozen=True, slots=True)
class ListRow:
    ret: ReturnRequest
    order: Order
    customer: Customer
    warehouse: Warehouse | None


async def list_rows(session: AsyncSession, tenant_id: int, items: list[ReturnRequest]) -> list[ListRow]:
    """Each return with its order, buyer and warehouse (read once each)."""
    order_ids = {ret.order_id for ret in items}
    customer_ids = {ret.customer_id for ret in items}
    found_orders = {
        o.id: o
        for o in (
            await session.scalars(select(Order).where(Order.tenant_id == tenant_id, Order.id.in_(order_ids)))
        ).all()
    }
    found_customers = {
        c.id: c
        for c in (
            await session.scalars(
                select(Customer).where(Customer.tenant_id == tenant_id, Customer.id.in_(customer_ids))
            )
        ).all()
    }
    warehouses = await warehouses_by_id(session, tenant_id)
    return [
        ListRow(
            ret,
            found_orders[ret.order_id],
            found_customers[ret.customer_id],
            warehouses.get(ret.warehouse_id) if ret.warehouse_id else None,
        )
        for ret in items
    ]


async def warehouses_by_id(session: AsyncSession, tenant_id: int) -> dict[int, Warehouse]:
    rows = await session.scalars(select(Warehouse).where(Warehouse.tenant_id == tenant_id))
    return {w.id: w for w in rows.all()}


@dataclass(frozen=True, slots=True)
class CaseView:
    ret: ReturnRequest
    order: Order
    customer: Customer
    warehouse: Warehouse | None
    lines: list[tuple[ReturnLine, Sku]]
    exchange_skus: dict[int, Sku]
    evidence: list[ReturnEvidence]
    refunds: list[Refund]
    events: list[ReturnEvent]
    ceiling_minor: int  # what the lines asked back were paid: the most all refunds may add up to

    @property
    def refundable_minor(self) -> int:
        live = {RefundStatus.REQUESTED, RefundStatus.PENDING, RefundStatus.SUCCEEDED}
        return max(self.ceiling_minor - sum(r.amount_minor for r in self.refunds if r.status in live), 0)

    @property
    def signals(self) -> dict[str, Any]:
        return dict(self.ret.signals or {})


async def load_case(session: AsyncSession, tenant_id: int, return_id: int) -> CaseView:
    ret = await returns.access_return(session, tenant_id, return_id)
    order = await orders.access_order(session, tenant_id, ret.order_id)
    customer = await orders.access_customer(session, tenant_id, ret.customer_id)
    warehouse = None
    if ret.warehouse_id is not None:
        warehouse = (await warehouses_by_id(session, tenant_id)).get(ret.warehouse_id)
    lines = await returns.return_lines(session, ret)
    wanted = {line.exchange_sku_id for line, _ in lines if line.exchange_sku_id}
    exchange_skus: dict[int, Sku] = {}
    if wanted:
        rows = await session.scalars(select(Sku).where(Sku.tenant_id == tenant_id, Sku.id.in_(wanted)))
        exchange_skus = {sku.id: sku for sku in rows.all()}
    return CaseView(
        ret=ret,
        order=order,
        customer=customer,
        warehouse=warehouse,
        lines=lines,
        exchange_skus=exchange_skus,
        evidence=await returns.return_evidence(session, ret),
        refunds=await refunds.return_refunds(session, ret),
        events=await returns.return_events(session, ret),
        ceiling_minor=await refunds.refund_ceiling(session, ret),
    )
