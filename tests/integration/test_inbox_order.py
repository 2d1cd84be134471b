"""The inbox list in each order, paged through the whole view (SQLite and PostgreSQL): a case opened long ago
that the buyer just wrote on comes first by activity, whatever page the newest-first order would put it on,
and the SLA order puts the soonest due first and cases without a running clock last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from aftersail.kit.db import Database
from aftersail.kit.errors import InvalidInput
from aftersail.support import inbox
from aftersail.support.models import Ticket
from tests.support_desk import make_desk, open_ticket

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def every_page(database: Database, tenant_id: int, order: str, limit: int = 2) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
            page = await inbox.list_tickets(
                session,
                tenant_id,
                inbox.TicketFilters(view="all"),
                user_id=None,
                cursor=cursor,
                limit=limit,
                order=order,
            )
        seen += [ticket.id for ticket in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_each_order_pages_through_the_whole_view(database: Database) -> None:
    desk = await make_desk(database)
    ids = [
        await open_ticket(database, desk, category="usage", at=START + timedelta(hours=n)) for n in range(5)
    ]
    oldest, second, third, fourth, newest = ids
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        # The oldest case just had a message; two share an activity time (ties go by id).
        for ticket_id, at in (
            (oldest, START + timedelta(days=3)),
            (second, START + timedelta(days=2)),
            (third, START + timedelta(days=2)),
        ):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(updated_at=at))
        # Due: the fourth soonest, then the third and second (a tie), then the rest with no clock.
        for ticket_id, due in (
            (fourth, START + timedelta(hours=1)),
            (third, START + timedelta(hours=5)),
            (second, START + timedelta(hours=5)),
            (oldest, None),
            (newest, None),
        ):
            await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(next_due_at=due))

    assert await every_page(database, desk.tenant_id, "newest") == [newest, fourth, third, second, oldest]
    assert await every_page(database, desk.tenant_id, "activity") == [oldest, third, second, newest, fourth]
    assert await every_page(database, desk.tenant_id, "due") == [fourth, second, third, oldest, newest]
    assert await every_page(database, desk.tenant_id, "due", limit=1) == [
        fourth,
        second,
        third,
        oldest,
        newest,
    ]

    async with database.transaction(tenant_id=desk.tenant_id, readonly=True) as session:
        page = await inbox.list_tickets(
            session, desk.tenant_id, inbox.TicketFilters(view="all"), user_id=None, limit=2, order="activity"
        )
        assert page.next_cursor is not None
        with pytest.raises(InvalidInput):  # a cursor of one order is refused by another
            await inbox.list_tickets(
                session,
                desk.tenant_id,
                inbox.TicketFilters(view="all"),
                user_id=None,
                cursor=page.next_cursor,
                order="due",
            )
        with pytest.raises(InvalidInput):
            await inbox.list_tickets(
                session, desk.tenant_id, inbox.TicketFilters(view="all"), user_id=None, order="random"
            )
