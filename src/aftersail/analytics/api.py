"""HTTP routes of the reports: the support report as JSON (the console's Reports page renders the same)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.analytics import service as analytics
from aftersail.analytics.schemas import SupportReportOut
from aftersail.kit.clock import utcnow
from aftersail.kit.i18n import zone
from aftersail.kit.validation import TimeZoneName
from aftersail.tenants import service as tenants
from aftersail.tenants.service import Principal
from aftersail.web.deps import Reader, SessionDep

router = APIRouter(tags=["reports"])
DEFAULT_DAYS = 30
Dimension = Literal["team", "agent", "channel", "language", "priority"]
# The period and zone parameters of the report routes (this one and the returns cost report).
FirstDay = Annotated[
    date | None, Query(alias="from", description="First day (YYYY-MM-DD), in `tz`; default 30 days ago.")
]
LastDay = Annotated[
    date | None, Query(alias="to", description="Last day, included (YYYY-MM-DD); default today.")
]
ReportZone = Annotated[
    TimeZoneName | None, Query(description="IANA zone of the days; default the caller's (or the store's).")
]


async def viewer_time_zone(session: AsyncSession, principal: Principal) -> str:
    """A console user's own zone; for an API key, the tenant's."""
    if principal.user_id is not None:
        for user in await tenants.list_users(session, principal.tenant_id):
            if user.id == principal.user_id and user.time_zone:
                return user.time_zone
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return tenant.time_zone or "UTC"


def default_days(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """Missing ends: the report runs to today, and covers 30 days when it has no start."""
    last = last or today
    return first or last - timedelta(days=DEFAULT_DAYS - 1), last


@router.get("/reports/support", response_model=SupportReportOut)
async def support_report(
    session: SessionDep,
    principal: Reader,
    first_day: FirstDay = None,
    last_day: LastDay = None,
    group_by: Dimension = "team",
    tz: ReportZone = None,
) -> SupportReportOut:
    """Support figures for whole days `from`…`to` (at most 366) against the days just before: first
    response and resolution times (seconds), first-contact resolution, SLA attainment, CSAT; per group of
    `group_by` and per day."""
    time_zone = zone(tz or await viewer_time_zone(session, principal))
    first, last = default_days(first_day, last_day, utcnow().astimezone(time_zone).date())
    report = await analytics.support_report(
        session,
        principal.tenant_id,
        first_day=first,
        last_day=last,
        time_zone=time_zone,
        group_by=group_by,
    )
    return SupportReportOut.of(report)
