"""API shapes of the reports: durations in seconds, shares from 0 to 1 (null when nothing was measured)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from aftersail.analytics.rules import DayPoint, Metrics, Period
from aftersail.analytics.service import GroupReport, SupportReport
from aftersail.kit.validation import Out


class PeriodOut(Out):
    from_day: date = Field(serialization_alias="from")
    to: date = Field(description="The last day, included.")
    days: int
    time_zone: str
    start: datetime = Field(description="The first instant, UTC.")
    end: datetime = Field(description="The instant after the last day ends, UTC.")

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(
            from_day=period.first_day,
            to=period.last_day,
            days=period.days,
            time_zone=period.zone.key,
            start=period.start,
            end=period.end,
        )


class MetricsOut(Out):
    tickets: int = Field(description="Tickets created in the period.")
    answered: int = Field(description="Of those, tickets with a first public reply.")
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolved: int = Field(description="Tickets resolved in the period.")
    resolution_median_seconds: float | None
    first_contact_resolved: int
    first_contact_resolution_rate: float | None
    sla_clocks_ended: int = Field(description="SLA clocks met or breached in the period.")
    sla_clocks_met: int
    sla_attainment: float | None
    csat_ratings: int
    csat_average: float | None
    csat_satisfied_share: float | None = Field(description="Share of ratings of 4 or 5.")

    @classmethod
    def of(cls, metrics: Metrics) -> MetricsOut:
        return cls(
            tickets=metrics.tickets,
            answered=metrics.answered,
            first_response_median_seconds=metrics.first_response_median,
            first_response_p90_seconds=metrics.first_response_p90,
            resolved=metrics.resolved,
            resolution_median_seconds=metrics.resolution_median,
            first_contact_resolved=metrics.first_contact_resolved,
            first_contact_resolution_rate=metrics.fcr_rate,
            sla_clocks_ended=metrics.sla_ended,
            sla_clocks_met=metrics.sla_met,
            sla_attainment=metrics.sla_attainment,
            csat_ratings=metrics.csat_count,
            csat_average=metrics.csat_average,
            csat_satisfied_share=metrics.csat_satisfied,
        )


class GroupOut(Out):
    key: int | str | None = Field(description="Team or user id, channel, language or priority; null: none.")
    name: str | None = Field(description="The team's or the agent's name.")
    metrics: MetricsOut

    @classmethod
    def of(cls, group: GroupReport) -> GroupOut:
        return cls(key=group.key, name=group.name, metrics=MetricsOut.of(group.metrics))


class DayOut(Out):
    day: date
    tickets: int
    resolved: int
    first_response_median_seconds: float | None

    @classmethod
    def of(cls, point: DayPoint) -> DayOut:
        return cls(
            day=point.day,
            tickets=point.tickets,
            resolved=point.resolved,
            first_response_median_seconds=point.first_response_median,
        )


class SupportReportOut(Out):
    period: PeriodOut
    previous_period: PeriodOut
    group_by: str
    totals: MetricsOut
    previous_totals: MetricsOut
    groups: list[GroupOut]
    series: list[DayOut]

    @classmethod
    def of(cls, report: SupportReport) -> SupportReportOut:
        return cls(
            period=PeriodOut.of(report.period),
            previous_period=PeriodOut.of(report.previous),
            group_by=report.group_by,
            totals=MetricsOut.of(report.totals),
            previous_totals=MetricsOut.of(report.previous_totals),
            groups=[GroupOut.of(g) for g in report.groups],
            series=[DayOut.of(p) for p in report.series],
        )
