"""HTTP routes of the parcels report: the parcels at risk now and each lane's health over whole days (the
console's `/shipments` and `/shipments/lanes` pages show the same). Response schemas live beside them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from aftersail.analytics.api import FirstDay, LastDay, ReportZone, viewer_time_zone
from aftersail.analytics.rules import check_period
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.i18n import zone
from aftersail.kit.validation import QueryId
from aftersail.shipping import report
from aftersail.shipping.report import AtRisk, AtRiskFilters, LaneHealth, LaneReport
from aftersail.shipping.rules import Direction, ExceptionKind, Status, SubStatus
from aftersail.web.deps import Reader, SessionDep

router = APIRouter(tags=["shipments"])
LANE_DAYS = 90  # lanes move slowly: a quarter of deliveries says more than a month


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class OpenExceptionOut(BaseModel):
    kind: ExceptionKind
    priority: str
    opened_at: datetime | None
    ticket_id: int | None
    details: dict[str, Any]


class AtRiskOut(BaseModel):
    shipment_id: int
    direction: Direction
    order_id: int
    order_number: str
    buyer_name: str
    buyer_email: str
    country: str
    warehouse_id: int
    warehouse_code: str
    lane: str  # "FRA>DE": warehouse code > the buyer's country
    carrier: str
    tracking_number: str
    status: Status
    sub_status: SubStatus
    last_event_at: datetime | None
    days_since_scan: float
    eta: datetime | None
    promised_eta: datetime | None
    eta_slip_days: float | None  # eta − promised ETA, in days
    priority: str  # the most urgent of its exceptions
    exceptions: list[OpenExceptionOut]

    @classmethod
    def of(cls, row: AtRisk) -> AtRiskOut:
        shipment = row.shipment
        return cls(
            shipment_id=shipment.id,
            direction=shipment.direction,
            order_id=shipment.order_id,
            order_number=row.order_number,
            buyer_name=row.buyer_name,
            buyer_email=row.buyer_email,
            country=shipment.country,
            warehouse_id=shipment.warehouse_id,
            warehouse_code=row.warehouse_code,
            lane=f"{row.warehouse_code}>{shipment.country}",
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            status=shipment.status,
            sub_status=shipment.sub_status,
            last_event_at=_utc(shipment.last_event_at),
            days_since_scan=row.days_since_scan,
            eta=_utc(shipment.eta),
            promised_eta=_utc(shipment.promised_eta),
            eta_slip_days=row.eta_slip_days,
            priority=row.priority,
            exceptions=[
                OpenExceptionOut(
                    kind=item.kind,
                    priority=item.priority,
                    opened_at=item.opened_at,
                    ticket_id=item.ticket_id,
                    details=item.details,
                )
                for item in row.exceptions
            ],
        )


class AtRiskListOut(BaseModel):
    total: int  # parcels at risk under the filters; `items` holds at most `limit` of them
    items: list[AtRiskOut]


@router.get("/shipments/at-risk", response_model=AtRiskListOut)
async def shipments_at_risk(
    session: SessionDep,
    principal: Reader,
    kind: ExceptionKind | None = None,
    warehouse_id: QueryId = None,
    country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$", description="Buyer's country")] = None,
    limit: Annotated[int, Query(ge=1, le=report.AT_RISK_LIMIT)] = report.AT_RISK_LIMIT,
) -> AtRiskListOut:
    """Parcels with an exception open now (customs hold, stalled, failed attempts, …), newest exception
    first, with the order, the buyer, the lane, the carrier, days since the last scan, ETA against the
    promised ETA, and each open exception's kind, priority and ticket."""
    found = await report.shipments_at_risk(
        session,
        principal.tenant_id,
        AtRiskFilters(kind=kind, warehouse_id=warehouse_id, country=country),
        now=utcnow(),
        limit=limit,
    )
    return AtRiskListOut(total=found.total, items=[AtRiskOut.of(row) for row in found.rows])


class LaneOut(BaseModel):
    warehouse_id: int
    warehouse_code: str
    country: str
    lane: str
    carrier: str
    configured_median_days: int | None  # the catalog lane's figures (null: no lane configured)
    configured_p90_days: int | None
    shipped: int  # parcels handed over in the period
    delivered: int  # parcels delivered in the period
    median_transit_days: float | None  # of those delivered: delivered_at − shipped_at
    p90_transit_days: float | None
    in_flight: int  # on their way now (not delivered, not expired)
    on_time_rate: float | None  # delivered by the promised day, of those delivered with a promise
    exceptions: dict[str, int]  # parcels shipped in the period that had an exception of the kind
    exception_rates: dict[str, float]  # the same ÷ shipped

    @classmethod
    def of(cls, lane: LaneHealth) -> LaneOut:
        return cls(
            warehouse_id=lane.warehouse_id,
            warehouse_code=lane.warehouse_code,
            country=lane.country,
            lane=f"{lane.warehouse_code}>{lane.country}",
            carrier=lane.carrier,
            configured_median_days=lane.configured_median,
            configured_p90_days=lane.configured_p90,
            shipped=lane.shipped,
            delivered=lane.delivered,
            median_transit_days=lane.median_days,
            p90_transit_days=lane.p90_days,
            in_flight=lane.in_flight,
            on_time_rate=lane.on_time_rate,
            exceptions={kind.value: count for kind, count in lane.exceptions.items()},
            exception_rates={
                kind.value: round(count / lane.shipped, 4) for kind, count in lane.exceptions.items()
            },
        )


class LaneReportOut(BaseModel):
    first_day: date
    last_day: date
    time_zone: str
    lanes: list[LaneOut]

    @classmethod
    def of(cls, found: LaneReport) -> LaneReportOut:
        return cls(
            first_day=found.period.first_day,
            last_day=found.period.last_day,
            time_zone=str(found.period.zone.key),
            lanes=[LaneOut.of(lane) for lane in found.lanes],
        )


@router.get("/reports/lanes", response_model=LaneReportOut)
async def lanes_report(
    session: SessionDep,
    principal: Reader,
    first_day: FirstDay = None,
    last_day: LastDay = None,
    tz: ReportZone = None,
) -> LaneReportOut:
    """Each lane (warehouse → country) over whole days `from`…`to` (default the last 90 days): parcels
    delivered with their median and p90 transit in days beside the lane's configured figures, parcels in
    flight now, the exception rate of each kind among parcels shipped, and the on-time share."""
    time_zone = zone(tz or await viewer_time_zone(session, principal))
    last = last_day or utcnow().astimezone(time_zone).date()
    first = first_day or last - timedelta(days=LANE_DAYS - 1)
    period = check_period(first, last, time_zone)
    return LaneReportOut.of(await report.lane_health(session, principal.tenant_id, period))
