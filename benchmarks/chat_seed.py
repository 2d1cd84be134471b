"""The chat benchmark's tenant, built through the services like any seller's: a chat team of agents, an
API key their consoles' sockets use, and buyers — German and English, as a European shop has them — each
with an open chat case holding their first message, so that the run measures a conversation going on
(the buyer writes again) rather than a thousand cases being opened at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from aftersail.kit.db import Database
from aftersail.orders import service as orders
from aftersail.orders.schemas import CustomerCreate
from aftersail.support import intake
from aftersail.support.models import Channel
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role

# What buyers write in a chat while they wait for an answer: (language, country, text).
LINES: tuple[tuple[str, str, str], ...] = (
    ("de", "DE", "Hallo, mein Paket ist noch nicht angekommen. Können Sie bitte nachsehen?"),
    ("en", "GB", "Hi, the parcel still hasn't arrived. Could you check where it is?"),
    ("de", "DE", "Die Lampe war beim Auspacken schon kaputt, das Glas ist gesprungen."),
    ("en", "US", "The lamp arrived broken, the glass shade is cracked. What can I do?"),
    ("de", "AT", "Ich möchte den Artikel zurückschicken. Wie bekomme ich das Etikett?"),
    ("en", "GB", "I'd like to return the item. How do I get a return label?"),
    ("de", "DE", "Vielen Dank für die schnelle Antwort! Wann wird das Geld erstattet?"),
    ("en", "US", "Thanks for the quick reply! When will the refund show up on my card?"),
)
FIRST_MESSAGES = {
    "de": "Guten Tag, ich habe eine Frage zu meiner Bestellung.",
    "en": "Hello, I have a question about my order.",
}
BATCH = 100  # buyers per seeding transaction


@dataclass
class ChatWorld:
    tenant_id: int
    api_key: str
    customer_ids: list[int] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)  # each buyer's, in the order of customer_ids


def buyer_language(index: int) -> tuple[str, str]:
    """(language, country) of the `index`-th buyer: the LINES cycle, so each buyer writes in their own."""
    language, country, _ = LINES[index % len(LINES)]
    return language, country


def buyer_lines(language: str) -> list[str]:
    return [line for lang, _, line in LINES if lang == language]


async def seed_chat(db: Database, *, buyers: int, agents: int) -> ChatWorld:
    async with db.transaction(system=True) as session:
        tenant = await tenants.do_create_tenant(
            session, slug="bench-chat", name="Bench Chat Shop", time_zone="Europe/Berlin"
        )
        api_key, _ = await tenants.do_create_api_key(
            session, tenant_id=tenant.id, name="agent consoles", role=Role.AGENT
        )
        members = [
            await tenants.do_create_user(
                session,
                tenant_id=tenant.id,
                email=f"agent{n}@bench-chat.test",
                name=f"Agent {n}",
                password="bench-chat-agent-password",
                role=Role.AGENT,
                languages=["de", "en", "zh"],
            )
            for n in range(1, agents + 1)
        ]
        await tenants.do_create_team(
            session,
            tenant_id=tenant.id,
            name="Chat",
            languages=["de", "en"],
            member_ids=[user.id for user in members],
        )
    world = ChatWorld(tenant_id=tenant.id, api_key=api_key)
    for start in range(0, buyers, BATCH):
        async with db.transaction(tenant_id=tenant.id) as session:
            for index in range(start, min(start + BATCH, buyers)):
                language, country = buyer_language(index)
                customer = await orders.do_create_customer(
                    session,
                    tenant.id,
                    CustomerCreate(
                        name=f"Buyer {index:04d}",
                        email=f"buyer{index:04d}@bench-chat.test",
                        country=country,
                        preferred_language=language,
                        time_zone="Europe/Berlin" if language == "de" else "Europe/London",
                    ),
                )
                await intake.do_receive(
                    session,
                    tenant.id,
                    customer=customer,
                    channel=Channel.CHAT,
                    body=FIRST_MESSAGES[language],
                    language=language,
                )
                world.customer_ids.append(customer.id)
                world.languages.append(language)
    async with db.transaction(system=True) as session:
        await session.execute(text("ANALYZE"))
    return world
