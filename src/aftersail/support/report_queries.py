"""Reads of the support tables for reports (analytics): what happened to tickets, SLA clocks and CSAT
ratings over a span of time, as plain rows, in three queries. Read-only; tickets merged into another are
left out everywhere (their conversation lives on in the ticket they were merged into)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from aftersail.kit.clock import as_utc
from aftersail.support import rules
from aftersail.support.models import Channel, ClockState, CsatRating, Priority, SlaClock, Ticket

PRIORITIES = tuple(p.value for p in Priority)
CHANNELS = tuple(c.value for c in Channel)


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What a report groups a ticket by, and the moments it measures."""

    ticket_id: int
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_contact_resolved: bool
    team_id: int | None
    assignee_id: int | None
    channel: str
    language: str
    priority: str


@dataclass(frozen=True, slots=True)
class ClockOutcome:
    """A clock that was met (`ended_at` = when it stopped) or breached (`ended_at` = when the sweep marked
    it breached; for one stopped late before any sweep did, when it stopped). Cancelled clocks (a ticket
    resolved or closed while a response clock ran) have no outcome and are not listed."""

    ticket: TicketFacts
    kind: str
    met: bool
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class RatingFacts:
    ticket: TicketFacts
    rating: int
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class ReportRows:
    tickets: list[TicketFacts]  # created or resolved in the span
    clocks: list[ClockOutcome]  # met or breached in the span
    ratings: list[RatingFacts]  # given in the span


_TICKET_COLUMNS = (
    Ticket.id.label("ticket_id"),
    Ticket.created_at,
    Ticket.first_response_at,
    Ticket.resolved_at,
    Ticket.reopen_count,
    Ticket.customer_followups,
    Ticket.team_id,
    Ticket.assignee_id,
    Ticket.channel,
    Ticket.language,
    Ticket.priority,
)


def _facts(row: Row[*tuple[Any, ...]]) -> TicketFacts:
    resolved_at = as_utc(row.resolved_at) if row.resolved_at is not None else None
    return TicketFacts(
        ticket_id=row.ticket_id,
        created_at=as_utc(row.created_at),
        first_response_at=as_utc(row.first_response_at) if row.first_response_at is not None else None,
        resolved_at=resolved_at,
        first_contact_resolved=rules.first_contact_resolved(
            resolved=resolved_at is not None,
            reopen_count=row.reopen_count,
            customer_followups=row.customer_followups,
        ),
        team_id=row.team_id,
        assignee_id=row.assignee_id,
        channel=row.channel.value,
        language=row.language,
        priority=row.priority.value,
    )


def _within(column: InstrumentedAttribute[Any], start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


async def report_rows(session: AsyncSession, tenant_id: int, start: datetime, end: datetime) -> ReportRows:
    """Every ticket created or resolved in [start, end), every clock whose outcome fell in it, every rating
    given in it — each with its ticket's facts, for grouping."""
    live = and_(Ticket.tenant_id == tenant_id, Ticket.merged_into_id.is_(None))
    ticket_rows = await session.execute(
        select(*_TICKET_COLUMNS).where(
            live, or_(_within(Ticket.created_at, start, end), _within(Ticket.resolved_at, start, end))
        )
    )
    tickets = [_facts(row) for row in ticket_rows]

    stopped = and_(
        SlaClock.breached_at.is_(None),
        SlaClock.state == ClockState.MET,
        _within(SlaClock.stopped_at, start, end),
    )
    clock_rows = await session.execute(
        select(
            SlaClock.kind.label("clock_kind"),
            SlaClock.breached_at.label("clock_breached_at"),
            SlaClock.stopped_at.label("clock_stopped_at"),
            SlaClock.counted_seconds.label("clock_counted"),
            SlaClock.target_seconds.label("clock_target"),
            *_TICKET_COLUMNS,
        )
        .join(Ticket, and_(Ticket.id == SlaClock.ticket_id, Ticket.tenant_id == SlaClock.tenant_id))
        .where(SlaClock.tenant_id == tenant_id, live, or_(_within(SlaClock.breached_at, start, end), stopped))
    )
    clocks = [
        ClockOutcome(
            ticket=_facts(row),
            kind=row.clock_kind.value,
            # A clock stopped after its due time before the sweep came round is marked met; what counted
            # against its target says it was not.
            met=row.clock_breached_at is None and row.clock_counted <= row.clock_target,
            ended_at=as_utc(row.clock_breached_at or row.clock_stopped_at),
        )
        for row in clock_rows
    ]

    rating_rows = await session.execute(
        select(CsatRating.rating, CsatRating.created_at.label("rated_at"), *_TICKET_COLUMNS)
        .join(Ticket, and_(Ticket.id == CsatRating.ticket_id, Ticket.tenant_id == CsatRating.tenant_id))
        .where(CsatRating.tenant_id == tenant_id, live, _within(CsatRating.created_at, start, end))
    )
    ratings = [RatingFacts(_facts(row), row.rating, as_utc(row.rated_at)) for row in rating_rows]
    return ReportRows(tickets, clocks, ratings)
