"""What the console reads about parcels as a whole: the parcels at risk (an exception open on them right now)
and each lane's health over a period (warehouse → country: transit percentiles from real deliveries beside
the lane's configured figures, parcels in flight, exception rates, on-time share).

Definitions of the lane figures (outbound parcels only; return parcels travel the other way):
- delivered: parcels delivered in the period (`delivered_at` within its days); their transit is
  `delivered_at − shipped_at` in days, and median / p90 are nearest-rank (`rules.percentile`);
- on time: of those delivered with a promised date, the share delivered no later than the promised day
  (days in the report's zone);
- shipped: parcels handed over in the period (`shipped_at` within its days); the exception rate of a kind is
  the share of them that had an exception of that kind (open now or cleared since);
- in flight: the lane's parcels still on their way now (not delivered, not expired), whenever they left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.analytics.rules import Period
from aftersail.catalog.models import Lane, Warehouse
from aftersail.kit.clock import as_utc
from aftersail.orders.models import Customer, Order
from aftersail.shipping.models import Shipment, ShipmentException
from aftersail.shipping.rules import (
    DEFAULT_PRIORITIES,
    Direction,
    ExceptionKind,
    Status,
    percentile,
)

AT_RISK_LIMIT = 200  # more than this at once: filter by kind, warehouse or country
NO_EXCEPTIONS = ("[]", "null")  # `open_exceptions` as stored when nothing is open
NOT_IN_FLIGHT = (Status.DELIVERED, Status.EXPIRED)


def _days(seconds: float) -> float:
    return seconds / 86400


KIND_VALUES = {kind.value: kind for kind in ExceptionKind}


def known_kinds(values: Iterable[Any] | None) -> list[ExceptionKind]:
    """The kinds in `Shipment.open_exceptions` this version knows (an unknown one is skipped, not fatal)."""
    return [KIND_VALUES[str(value)] for value in values or () if str(value) in KIND_VALUES]


# --- parcels at risk ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenException:
    """One exception open on a parcel: its row in `shipment_exceptions` (priority, ticket), or only its kind
    in `Shipment.open_exceptions` when no row was written for it (priority: the default for the kind)."""

    kind: ExceptionKind
    priority: str
    opened_at: datetime | None = None
    ticket_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AtRisk:
    shipment: Shipment
    order_number: str
    buyer_name: str
    buyer_email: str
    warehouse_code: str
    exceptions: list[OpenException]  # most urgent first, then newest
    days_since_scan: float  # since the last carrier event (or the hand-over, without one)

    @property
    def priority(self) -> str:
        return min((item.priority for item in self.exceptions), default="p3")

    @property
    def newest_at(self) -> datetime | None:
        return max((item.opened_at for item in self.exceptions if item.opened_at), default=None)

    @property
    def eta_slip_days(self) -> float | None:
        """How much later the parcel is now expected than first promised (negative: earlier)."""
        eta, promised = self.shipment.eta, self.shipment.promised_eta
        if eta is None or promised is None:
            return None
        return round(_days((as_utc(eta) - as_utc(promised)).total_seconds()), 1)

    @property
    def ticket_ids(self) -> list[int]:
        return sorted({item.ticket_id for item in self.exceptions if item.ticket_id})


@dataclass(slots=True)
class AtRiskFilters:
    kind: ExceptionKind | None = None
    warehouse_id: int | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class AtRiskList:
    rows: list[AtRisk]
    total: int  # all parcels at risk under the filters (rows holds at most the limit)


def _open_rows(tenant_id: int) -> Any:
    return (ShipmentException.tenant_id == tenant_id) & ShipmentException.resolved_at.is_(None)


def _has_open_kinds() -> Any:
    stored = cast(Shipment.open_exceptions, Text)
    return Shipment.open_exceptions.is_not(None) & stored.not_in(NO_EXCEPTIONS)


async def shipments_at_risk(
    session: AsyncSession,
    tenant_id: int,
    filters: AtRiskFilters | None = None,
    *,
    now: datetime,
    limit: int = AT_RISK_LIMIT,
) -> AtRiskList:
    """Parcels with an exception open now (a row not resolved, or a kind in `open_exceptions`), newest
    exception first, under `filters` (a kind open on the parcel, its warehouse, the buyer's country)."""
    filters = filters or AtRiskFilters()
    newest = (
        select(
            ShipmentException.shipment_id.label("shipment_id"),
            func.max(ShipmentException.opened_at).label("opened_at"),
        )
        .where(_open_rows(tenant_id))
        .group_by(ShipmentException.shipment_id)
        .subquery()
    )
    wanted = [
        Shipment.tenant_id == tenant_id,
        or_(newest.c.shipment_id.is_not(None), _has_open_kinds()),
    ]
    if filters.kind is not None:
        open_of_kind = exists().where(
            _open_rows(tenant_id),
            ShipmentException.shipment_id == Shipment.id,
            ShipmentException.kind == filters.kind,
        )
        kind_listed = cast(Shipment.open_exceptions, Text).contains(f'"{filters.kind.value}"')
        wanted.append(or_(open_of_kind, kind_listed))
    if filters.warehouse_id is not None:
        wanted.append(Shipment.warehouse_id == filters.warehouse_id)
    if filters.country:
        wanted.append(Shipment.country == filters.country.upper())
    base = select(Shipment).outerjoin(newest, newest.c.shipment_id == Shipment.id).where(*wanted)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    sort_time = func.coalesce(newest.c.opened_at, Shipment.evaluated_at, Shipment.updated_at)
    shipments = list(
        (await session.scalars(base.order_by(sort_time.desc(), Shipment.id.desc()).limit(limit))).all()
    )
    if not shipments:
        return AtRiskList([], total)
    ids = [shipment.id for shipment in shipments]
    exceptions = await _open_exceptions(session, tenant_id, ids)
    people = await _order_facts(session, tenant_id, {s.order_id for s in shipments})
    codes = await warehouse_codes(session, tenant_id)
    rows = []
    for shipment in shipments:
        number, name, email = people.get(shipment.order_id, ("", "", ""))
        open_now = merge_exceptions(exceptions.get(shipment.id, []), shipment.open_exceptions)
        last = as_utc(shipment.last_event_at or shipment.shipped_at)
        rows.append(
            AtRisk(
                shipment=shipment,
                order_number=number,
                buyer_name=name,
                buyer_email=email,
                warehouse_code=codes.get(shipment.warehouse_id, ("", ""))[0],
                exceptions=open_now,
                days_since_scan=round(max(_days((now - last).total_seconds()), 0.0), 1),
            )
        )
    return AtRiskList(rows, total)


def merge_exceptions(rows: Sequence[ShipmentException], kinds: Iterable[Any] | None) -> list[OpenException]:
    found = {
        row.kind: OpenException(
            kind=row.kind,
            priority=row.priority,
            opened_at=as_utc(row.opened_at),
            ticket_id=row.ticket_id,
            details=dict(row.details or {}),
        )
        for row in rows
    }
    for kind in known_kinds(kinds):
        found.setdefault(kind, OpenException(kind=kind, priority=DEFAULT_PRIORITIES[kind]))
    return sorted(
        found.values(),
        key=lambda item: (item.priority, -(item.opened_at.timestamp() if item.opened_at else 0.0)),
    )


async def _open_exceptions(
    session: AsyncSession, tenant_id: int, shipment_ids: Sequence[int]
) -> dict[int, list[ShipmentException]]:
    rows = await session.scalars(
        select(ShipmentException).where(
            _open_rows(tenant_id), ShipmentException.shipment_id.in_(sorted(shipment_ids))
        )
    )
    by_shipment: dict[int, list[ShipmentException]] = defaultdict(list)
    for row in rows.all():
        by_shipment[row.shipment_id].append(row)
    return by_shipment


async def _order_facts(
    session: AsyncSession, tenant_id: int, order_ids: Iterable[int]
) -> dict[int, tuple[str, str, str]]:
    """order id → (order number, buyer's name, buyer's e-mail)."""
    rows = await session.execute(
        select(Order.id, Order.number, Customer.name, Customer.email)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.tenant_id == tenant_id, Order.id.in_(sorted(set(order_ids))))
    )
    return {order_id: (number, name, email) for order_id, number, name, email in rows.all()}


async def warehouse_codes(session: AsyncSession, tenant_id: int) -> dict[int, tuple[str, str]]:
    """warehouse id → (code, name) of the tenant's warehouses."""
    rows = await session.execute(
        select(Warehouse.id, Warehouse.code, Warehouse.name).where(Warehouse.tenant_id == tenant_id)
    )
    return {warehouse_id: (code, name) for warehouse_id, code, name in rows.all()}


async def shipment_exceptions(session: AsyncSession, shipment: Shipment) -> list[ShipmentException]:
    """Every exception found on the parcel, open or cleared, newest first."""
    rows = await session.scalars(
        select(ShipmentException)
        .where(
            ShipmentException.tenant_id == shipment.tenant_id, ShipmentException.shipment_id == shipment.id
        )
        .order_by(ShipmentException.opened_at.desc(), ShipmentException.id.desc())
    )
    return list(rows.all())


# --- lane health ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LaneHealth:
    warehouse_id: int
    warehouse_code: str
    warehouse_name: str
    country: str
    configured_median: int | None = None  # the catalog lane's figures (None: no lane configured)
    configured_p90: int | None = None
    carrier: str = ""
    shipped: int = 0
    delivered: int = 0
    transit_days: list[float] = field(default_factory=list)
    in_flight: int = 0
    exceptions: dict[ExceptionKind, int] = field(default_factory=dict)
    on_time: int = 0
    with_promise: int = 0  # delivered parcels that had a promised date (the on-time share's base)

    @property
    def median_days(self) -> float | None:
        return round(percentile(self.transit_days, 0.5), 1) if self.transit_days else None

    @property
    def p90_days(self) -> float | None:
        return round(percentile(self.transit_days, 0.9), 1) if self.transit_days else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.with_promise if self.with_promise else None

    def exception_rate(self, kind: ExceptionKind) -> float | None:
        return self.exceptions.get(kind, 0) / self.shipped if self.shipped else None

    @property
    def exception_total(self) -> int:
        return sum(self.exceptions.values())

    @property
    def slower_than_configured(self) -> bool:
        """Real deliveries take longer than the lane promises (its p90 above the configured p90)."""
        p90 = self.p90_days
        return p90 is not None and self.configured_p90 is not None and p90 > self.configured_p90


@dataclass(frozen=True, slots=True)
class LaneReport:
    period: Period
    lanes: list[LaneHealth]
    kinds: list[ExceptionKind]  # kinds seen on any lane, in the taxonomy's order

    @property
    def empty(self) -> bool:
        return not any(lane.shipped or lane.delivered or lane.in_flight for lane in self.lanes)


async def lane_health(session: AsyncSession, tenant_id: int, period: Period) -> LaneReport:
    """Every lane's health in `period`: each configured lane, and any warehouse → country pair that parcels
    took without one; sorted by warehouse code and country."""
    codes = await warehouse_codes(session, tenant_id)
    lanes: dict[tuple[int, str], LaneHealth] = {}

    def lane(warehouse_id: int, country: str) -> LaneHealth:
        key = (warehouse_id, country)
        if key not in lanes:
            code, name = codes.get(warehouse_id, (f"#{warehouse_id}", ""))
            lanes[key] = LaneHealth(warehouse_id, code, name, country)
        return lanes[key]

    for configured in (await session.scalars(select(Lane).where(Lane.tenant_id == tenant_id))).all():
        health = lane(configured.warehouse_id, configured.country)
        health.configured_median = configured.transit_days_median
        health.configured_p90 = configured.transit_days_p90
        health.carrier = configured.carrier
    outbound = (Shipment.tenant_id == tenant_id) & (Shipment.direction == Direction.OUTBOUND)
    start, end = period.start, period.end
    delivered = await session.execute(
        select(
            Shipment.warehouse_id,
            Shipment.country,
            Shipment.shipped_at,
            Shipment.delivered_at,
            Shipment.promised_eta,
        ).where(outbound, Shipment.delivered_at >= start, Shipment.delivered_at < end)
    )
    for warehouse_id, country, shipped_at, delivered_at, promised in delivered.all():
        health = lane(warehouse_id, country)
        if delivered_at is None:  # never: the query asks for a delivery day
            continue
        health.delivered += 1
        arrived = as_utc(delivered_at)
        health.transit_days.append(_days((arrived - as_utc(shipped_at)).total_seconds()))
        if promised is not None:
            health.with_promise += 1
            health.on_time += period.day_of(arrived) <= period.day_of(as_utc(promised))
    shipped_ids = select(Shipment.id).where(outbound, Shipment.shipped_at >= start, Shipment.shipped_at < end)
    shipped = await session.execute(
        select(Shipment.id, Shipment.warehouse_id, Shipment.country, Shipment.open_exceptions).where(
            Shipment.id.in_(shipped_ids)
        )
    )
    kinds_of: dict[int, set[ExceptionKind]] = {}
    lane_of: dict[int, LaneHealth] = {}
    for shipment_id, warehouse_id, country, open_kinds in shipped.all():
        health = lane(warehouse_id, country)
        health.shipped += 1
        lane_of[shipment_id] = health
        kinds_of[shipment_id] = set(known_kinds(open_kinds))
    found = await session.execute(
        select(ShipmentException.shipment_id, ShipmentException.kind).where(
            ShipmentException.tenant_id == tenant_id, ShipmentException.shipment_id.in_(shipped_ids)
        )
    )
    for shipment_id, kind in found.all():
        kinds_of.setdefault(shipment_id, set()).add(ExceptionKind(kind))
    seen: set[ExceptionKind] = set()
    for shipment_id, kinds in kinds_of.items():
        for kind in kinds:
            counts = lane_of[shipment_id].exceptions
            counts[kind] = counts.get(kind, 0) + 1
            seen.add(kind)
    flying = await session.execute(
        select(Shipment.warehouse_id, Shipment.country, func.count())
        .where(outbound, Shipment.status.not_in(NOT_IN_FLIGHT))
        .group_by(Shipment.warehouse_id, Shipment.country)
    )
    for warehouse_id, country, count in flying.all():
        lane(warehouse_id, country).in_flight = int(count)
    ordered = sorted(lanes.values(), key=lambda h: (h.warehouse_code, h.country))
    return LaneReport(period, ordered, [kind for kind in ExceptionKind if kind in seen])
