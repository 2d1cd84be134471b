"""A buyer's return request as plain data (lines, reason, wanted resolution, photos and videos) and the
decision it would get now: the policy's verdict, the return-or-keep figures per line, the route back and
the fraud signals. Nothing here writes; the buyer page shows a plan before anything is stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Sku, WarehouseCapability
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.orders import service as orders
from aftersail.orders.models import Order, OrderLine, OrderStatus
from aftersail.returns import economics
from aftersail.returns.models import ReturnLine, ReturnRequest
from aftersail.returns.policy import return_policy
from aftersail.returns.rules import (
    Decision,
    Evidence,
    Reason,
    Resolution,
    ReturnFacts,
    ReturnPolicy,
    ReturnSite,
    ReturnStatus,
    Route,
    decide_return,
    route_return,
    wear_and_return,
)
from aftersail.returns.rules import ReturnLine as FactLine

OPEN_STATUSES = frozenset(
    {
        ReturnStatus.REQUESTED,
        ReturnStatus.APPROVED,
        ReturnStatus.IN_TRANSIT,
        ReturnStatus.RECEIVED,
        ReturnStatus.GRADED,
        ReturnStatus.KEEP_REFUNDED,
        ReturnStatus.REFUNDED,
        ReturnStatus.EXCHANGED,
        ReturnStatus.CLOSED,
    }
)  # statuses whose units count as asked back (rejected and cancelled requests free them)
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_VIDEO_BYTES = 50 * 1024 * 1024
MAX_UPLOADS = 6


class ReturnNotAllowed(InvalidInput):
    """A request the policy cannot take at all (nothing returnable, more than was delivered)."""


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes
    content_type: str  # sniffed by the caller (support.attachments.check_upload)

    @property
    def evidence(self) -> Evidence:
        return Evidence.VIDEO if self.content_type.startswith("video/") else Evidence.PHOTO


@dataclass(frozen=True, slots=True)
class LineAsk:
    order_line_id: int
    quantity: int
    exchange_sku_id: int | None = None  # the variant wanted instead (exchange); None: the same SKU


@dataclass(frozen=True, slots=True)
class ReturnAsk:
    """What the buyer (or an agent on their behalf) asks for."""

    reason: Reason
    resolution: Resolution
    lines: Sequence[LineAsk]
    sub_reason: str = ""
    note: str = ""
    language: str = "en"
    keep_offer_accepted: bool = False
    uploads: Sequence[Upload] = ()


@dataclass(frozen=True, slots=True)
class Returnable:
    """An order line and how many of its units may still be asked back."""

    line: OrderLine
    sku: Sku
    returnable: int
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class LineFigures:
    order_line_id: int
    keep: bool
    figures: economics.ReturnOrKeep


@dataclass(frozen=True, slots=True)
class Plan:
    """A request's decision, return-or-keep figures and route, before anything is stored (the buyer page
    shows it before submitting; `do_request_return` stores it)."""

    facts: ReturnFacts
    decision: Decision
    route: Route
    lines: tuple[LineFigures, ...]
    signals: dict[str, Any] = field(default_factory=dict)
    items: dict[int, Returnable] = field(default_factory=dict)  # the order's lines, by id, as planned

    @property
    def keeps_all(self) -> bool:
        eligible = {line.order_line_id for line in self.decision.lines if line.eligible}
        return self.facts.keep_offer_accepted or all(
            figure.keep for figure in self.lines if figure.order_line_id in eligible
        )


def check_uploads(uploads: Sequence[Upload]) -> None:
    if len(uploads) > MAX_UPLOADS:
        raise InvalidInput(f"Send at most {MAX_UPLOADS} photos or videos.", field="files")
    for upload in uploads:
        if upload.content_type in VIDEO_TYPES:
            limit = MAX_VIDEO_BYTES
        elif upload.content_type in PHOTO_TYPES:
            limit = MAX_PHOTO_BYTES
        else:
            raise InvalidInput(
                "Send photos (JPEG, PNG, WebP) or short videos (MP4, MOV, WebM).", field="files"
            )
        if len(upload.data) > limit:
            raise InvalidInput(
                f"{upload.filename} is larger than {limit // (1024 * 1024)} MB.", field="files"
            )


def delivered_at(order: Order) -> datetime | None:
    """When the order was delivered: the carrier's delivery scan of its last parcel (`orders.delivered_at`,
    set by tracking), else its last status change once it is delivered (an order marked delivered by hand)."""
    if order.status is not OrderStatus.DELIVERED:
        return None
    return as_utc(order.delivered_at or order.updated_at)


async def returnable_lines(session: AsyncSession, order: Order) -> list[Returnable]:
    """Each line of a delivered order with the units not yet asked back by an open return."""
    lines = await orders.order_lines(session, order.tenant_id, order.id)
    asked = dict(
        (
            await session.execute(
                select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
                .join(
                    ReturnRequest,
                    (ReturnRequest.id == ReturnLine.return_id) & (ReturnRequest.tenant_id == order.tenant_id),
                )
                .where(
                    ReturnRequest.tenant_id == order.tenant_id,
                    ReturnRequest.order_id == order.id,
                    ReturnRequest.status.in_([s.value for s in OPEN_STATUSES]),
                    ReturnLine.eligible.is_(True),
                )
                .group_by(ReturnLine.order_line_id)
            )
        ).all()
    )
    batches = await orders.shipped_batches(session, order.tenant_id, order.id)
    delivered = order.status is OrderStatus.DELIVERED
    return [
        Returnable(
            line, sku, (line.quantity if delivered else 0) - int(asked.get(line.id, 0)), batches.get(line.id)
        )
        for line, sku in lines
    ]


# --- deciding ----------------------------------------------------------------------------------------------


async def plan_return(
    session: AsyncSession,
    order: Order,
    ask: ReturnAsk,
    *,
    now: datetime | None = None,
    reused_photo: bool = False,
    policy: ReturnPolicy | None = None,
) -> Plan:
    """The decision this request would get now, with the return-or-keep figures and the route back."""
    now = now or utcnow()
    policy = policy or await return_policy(session, order.tenant_id)
    by_line = {item.line.id: item for item in await returnable_lines(session, order)}
    if not ask.lines:
        raise ReturnNotAllowed("Choose at least one item to return.", field="lines")
    fact_lines = []
    for wanted in ask.lines:
        item = by_line.get(wanted.order_line_id)
        if item is None:
            raise ReturnNotAllowed("That item is not part of this order.", field="lines")
        fact_lines.append(
            FactLine(
                item.line.id,
                item.sku.code,
                item.sku.category,
                wanted.quantity,
                max(item.returnable, 0),
                item.line.unit_price_minor,
            )
        )
    history = await _returns_since(session, order.tenant_id, order.customer_id, now - timedelta(days=180))
    facts = ReturnFacts(
        market=order.country,
        delivered_at=delivered_at(order),
        requested_at=now,
        reason=ask.reason,
        resolution=ask.resolution,
        lines=fact_lines,
        evidence=frozenset(upload.evidence for upload in ask.uploads),
        returns_last_180_days=history,
        reused_photo=reused_photo,
        keep_offer_accepted=ask.keep_offer_accepted,
    )
    decision = decide_return(policy, facts)
    sites = await _return_sites(session, order)
    categories = [
        line.category for line, verdict in zip(fact_lines, decision.lines, strict=True) if verdict.eligible
    ]
    route = route_return(policy, sites, categories or [line.category for line in fact_lines])
    figures = _figures(policy, facts, decision, route)
    signals: dict[str, Any] = {}
    if history:
        signals["returns_last_180_days"] = history
    if history >= policy.repeat_returner_after:
        signals["serial_returner"] = True
    if reused_photo:
        signals["reused_photo"] = True
    worn = [
        line.sku
        for line in fact_lines
        if wear_and_return(line.category, ask.reason, facts.delivered_at, now, decision.window_ends_at)
    ]
    if worn:
        signals["wear_and_return"] = worn
    return Plan(facts, decision, route, figures, signals, by_line)


def _figures(
    policy: ReturnPolicy, facts: ReturnFacts, decision: Decision, route: Route
) -> tuple[LineFigures, ...]:
    """Return or keep per line: the freight back is the route's lane cost shared across the units."""
    units = sum(
        line.quantity for line, verdict in zip(facts.lines, decision.lines, strict=True) if verdict.eligible
    )
    freight = route.site.freight_minor if route.site and route.site.freight_minor is not None else None
    shown = []
    for line, verdict in zip(facts.lines, decision.lines, strict=True):
        value = line.unit_price_minor * line.quantity
        share = (freight or 0) * line.quantity // max(units, 1)
        result = economics.return_or_keep(
            item_price_minor=value,
            reverse_freight_minor=share,
            handling_minor=policy.handling_minor * line.quantity,
            duties_lost_minor=value * policy.duties_lost_percent // 100,
        )
        keep = facts.keep_offer_accepted or (
            policy.offer_returnless and verdict.eligible and result.choice is economics.Choice.KEEP
        )
        if route.site is None and verdict.eligible:
            keep = True  # nowhere takes it back: refunding without a return is the only way
        shown.append(LineFigures(line.order_line_id, keep, result))
    return tuple(shown)


async def _returns_since(session: AsyncSession, tenant_id: int, customer_id: int, since: datetime) -> int:
    counted = await session.scalar(
        select(func.count(ReturnRequest.id)).where(
            ReturnRequest.tenant_id == tenant_id,
            ReturnRequest.customer_id == customer_id,
            ReturnRequest.requested_at >= since,
            ReturnRequest.status.not_in([ReturnStatus.CANCELLED.value, ReturnStatus.REJECTED.value]),
        )
    )
    return int(counted or 0)


async def _return_sites(session: AsyncSession, order: Order) -> list[ReturnSite]:
    warehouses = await catalog.list_warehouses(session, order.tenant_id)
    lanes = {
        lane.warehouse_id: lane
        for lane in await catalog.list_lanes(session, order.tenant_id, country=order.country)
    }
    sites = []
    for warehouse in warehouses:
        if not warehouse.is_active or WarehouseCapability.RETURNS.value not in (warehouse.capabilities or []):
            continue
        lane = lanes.get(warehouse.id)
        sites.append(
            ReturnSite(
                warehouse.id,
                warehouse.code,
                warehouse.name,
                lane.transit_days_median if lane else None,
                lane.cost_minor if lane and lane.currency == order.currency else None,
            )
        )
    return sites
