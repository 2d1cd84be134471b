"""A small support desk for tests, built through the services: a tenant, a German buyer, a returns team in
Shenzhen working split shifts (09:00–12:00, 13:30–18:00 Asia/Shanghai, Monday to Friday) with two agents —
Wang (speaks German) and Li — and a catch-all inquiries team with a third agent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.schemas import CustomerCreate
from aftersail.support import messages, routing
from aftersail.support import service as tickets
from aftersail.support.models import Channel, Presence, Ticket
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role, User
from tests.factories import PASSWORD, TenantFixture, make_tenant

SHENZHEN_HOURS = {
    "time_zone": "Asia/Shanghai",
    "weekly": {day: [["09:00", "12:00"], ["13:30", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "overrides": {},
}


@dataclass
class Desk:
    tenant: TenantFixture
    customer_id: int
    returns_team_id: int
    inquiries_team_id: int
    wang_id: int
    li_id: int
    zhao_id: int

    @property
    def tenant_id(self) -> int:
        return self.tenant.tenant_id


async def make_desk(db: Database, *, online: tuple[str, ...] = ("wang", "li", "zhao")) -> Desk:
    tenant = await make_tenant(db)
    suffix = uuid.uuid4().hex[:8]
    async with db.transaction(tenant_id=tenant.tenant_id) as session:
        customer = await orders.do_create_customer(
            session,
            tenant.tenant_id,
            CustomerCreate(
                name="Lena Vogel",
                email=f"lena-{suffix}@example.de",
                country="DE",
                preferred_language="de",
                time_zone="Europe/Berlin",
            ),
        )
        agents: dict[str, User] = {}
        for name, languages in (("wang", ["zh", "de"]), ("li", ["zh", "en"]), ("zhao", ["zh"])):
            agents[name] = await tenants.do_create_user(
                session,
                tenant_id=tenant.tenant_id,
                email=f"{name}-{suffix}@seller.test",
                name=name.title(),
                password=PASSWORD,
                role=Role.AGENT,
                languages=languages,
            )
        returns_team = await tenants.do_create_team(
            session,
            tenant_id=tenant.tenant_id,
            name="Returns",
            languages=["zh", "de", "en"],
            member_ids=[agents["wang"].id, agents["li"].id],
        )
        inquiries = await tenants.do_create_team(
            session,
            tenant_id=tenant.tenant_id,
            name="Inquiries",
            languages=["zh"],
            member_ids=[agents["zhao"].id],
        )
        await routing.do_configure_team(
            session,
            tenant.tenant_id,
            returns_team.id,
            mode="least_loaded",
            categories=["damaged", "wrong_item", "defective", "return", "usage"],
            calendar=SHENZHEN_HOURS,
        )
        for name in online:
            await routing.do_heartbeat(session, agents[name], Presence.ONLINE)
        return Desk(
            tenant,
            customer.id,
            returns_team.id,
            inquiries.id,
            agents["wang"].id,
            agents["li"].id,
            agents["zhao"].id,
        )


async def open_ticket(
    db: Database,
    desk: Desk,
    *,
    category: str,
    at: datetime,
    body: str = "Mein Paket ist beschädigt angekommen.",
) -> int:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.do_open_ticket(
            session,
            desk.tenant_id,
            customer_id=desk.customer_id,
            channel=Channel.CHAT,
            subject="Paket beschädigt",
            language="de",
            category=category,
            actor="customer",
            now=at,
        )
        await messages.do_add_customer_message(
            session, ticket, body=body, channel=Channel.CHAT, author_name="Lena Vogel", language="de", now=at
        )
        return ticket.id


async def load_ticket(db: Database, desk: Desk, ticket_id: int) -> Ticket:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        session.expunge(ticket)
        return ticket


# --- the agents' inbox (console pages and browser tests) ------------------------------------------------


async def user_email(db: Database, desk: Desk, user_id: int) -> str:
    """The sign-in address of one of the desk's agents."""
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.email


async def set_user_locale(db: Database, desk: Desk, user_id: int, locale: str) -> None:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        user = await session.get(User, user_id)
        assert user is not None
        await tenants.do_set_user_locale(session, user=user, locale=locale)


async def open_buyer_ticket(
    db: Database,
    desk: Desk,
    *,
    name: str,
    body: str,
    subject: str,
    language: str = "de",
    channel: Channel = Channel.CHAT,
    category: str = "other",
    country: str = "DE",
    time_zone: str = "Europe/Berlin",
    tags: tuple[str, ...] = (),
) -> int:
    """A ticket from a new buyer (any name, any text: the inbox must show it as text), with one message."""
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        customer = await orders.do_create_customer(
            session,
            desk.tenant_id,
            CustomerCreate(
                name=name,
                email=f"buyer-{uuid.uuid4().hex[:10]}@example.test",
                country=country,
                preferred_language=language,
                time_zone=time_zone,
            ),
        )
        ticket = await tickets.do_open_ticket(
            session,
            desk.tenant_id,
            customer_id=customer.id,
            channel=channel,
            subject=subject,
            language=language,
            category=category,
            actor="customer",
        )
        await messages.do_add_customer_message(
            session, ticket, body=body, channel=channel, author_name=name, language=language
        )
        if tags:
            await tickets.do_set_tags(session, ticket, list(tags), actor="system")
        return ticket.id
