"""The assistant benchmark's tenant: the chat benchmark's (`chat_seed.py`: a chat team, an agent API key,
German and English buyers with an open chat case each) plus what the assistant looks up — a warehouse with
lanes to the buyers' countries, a product in stock and one placed order per buyer — and the assistant
switched on (`tenant.settings["assistant"]`).

Each buyer's lines are questions the assistant answers itself (order status with the buyer's own order
number, a greeting, thanks): never a complaint or a request for a person, which hand the conversation
over and silence the assistant in it for the rest of the run."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from aftersail.catalog import service as catalog
from aftersail.catalog import stock
from aftersail.catalog.schemas import LaneCreate, ProductCreate, SkuCreate, StockSet, WarehouseCreate
from aftersail.kit.db import Database
from aftersail.kit.validation import Address
from aftersail.orders.allocation import do_place_order
from aftersail.orders.schemas import OrderCreate, OrderLineIn
from aftersail.tenants import service as tenants
from benchmarks.chat_seed import ChatWorld, buyer_language, seed_chat

# What a buyer writes, in turn, in their language; `{number}` is their order. Order status twice in four.
TURNS: dict[str, tuple[str, ...]] = {
    "en": (
        "Hi, where is my order {number}?",
        "Thanks, that helps!",
        "Any news on order {number}? When will it arrive?",
        "Hello there!",
    ),
    "de": (
        "Hallo, wo ist meine Bestellung {number}?",
        "Danke, das hilft mir!",
        "Wann kommt meine Bestellung {number} an?",
        "Hallo!",
    ),
}
LANES = {"DE": (2, 3, 450), "AT": (3, 4, 550), "GB": (4, 6, 900), "US": (6, 9, 1500)}
BATCH = 100  # orders per seeding transaction
ORDER_TOTAL_MINOR = 3_990  # well under the assistant's high-value threshold


@dataclass
class AssistantWorld:
    chat: ChatWorld
    order_numbers: list[str] = field(default_factory=list)  # each buyer's, in the order of customer_ids

    def turns(self, index: int) -> list[str]:
        """The `index`-th buyer's lines, their order number filled in."""
        language = self.chat.languages[index]
        return [line.format(number=self.order_numbers[index]) for line in TURNS[language]]


def order_number(index: int) -> str:
    return f"B{100_000 + index}"


async def seed_assistant(db: Database, *, buyers: int, agents: int) -> AssistantWorld:
    chat = await seed_chat(db, buyers=buyers, agents=agents)
    tenant_id = chat.tenant_id
    async with db.transaction(tenant_id=tenant_id) as session:
        warehouse = await catalog.do_create_warehouse(
            session,
            tenant_id,
            WarehouseCreate(
                code="FRA",
                name="Frankfurt (Raunheim)",
                country="DE",
                time_zone="Europe/Berlin",
                regions_served=list(LANES),
                capabilities=["fulfilment", "returns"],
            ),
        )
        for country, (median, p90, cost) in LANES.items():
            await catalog.do_create_lane(
                session,
                tenant_id,
                LaneCreate(
                    warehouse_id=warehouse.id,
                    country=country,
                    transit_days_median=median,
                    transit_days_p90=p90,
                    cost_minor=cost,
                    currency="EUR",
                ),
            )
        _, skus = await catalog.do_create_product(
            session,
            tenant_id,
            ProductCreate(
                handle="desk-lamp",
                title="Desk lamp",
                category="home/lighting",
                skus=[
                    SkuCreate(
                        code="LAMP-1",
                        title="Desk lamp, brass",
                        declared_value_minor=ORDER_TOTAL_MINOR,
                        currency="EUR",
                        weight_grams=900,
                    )
                ],
            ),
        )
        sku = skus[0]
        await stock.do_set_stock(
            session, tenant_id, StockSet(warehouse_id=warehouse.id, sku_id=sku.id, on_hand=buyers + 100)
        )
    world = AssistantWorld(chat=chat)
    for start in range(0, buyers, BATCH):
        async with db.transaction(tenant_id=tenant_id) as session:
            for index in range(start, min(start + BATCH, buyers)):
                _, country = buyer_language(index)
                number = order_number(index)
                await do_place_order(
                    session,
                    tenant_id,
                    OrderCreate(
                        number=number,
                        customer_id=chat.customer_ids[index],
                        currency="EUR",
                        lines=[OrderLineIn(sku_id=sku.id, quantity=1, unit_price_minor=ORDER_TOTAL_MINOR)],
                        shipping_address=Address(
                            name=f"Buyer {index:04d}", line1="Hauptstraße 1", city="Berlin", country=country
                        ),
                    ),
                    actor="bench",
                )
                world.order_numbers.append(number)
    async with db.transaction(system=True) as session:
        tenant = await tenants.access_tenant(session, tenant_id)
        tenant.settings = {**(tenant.settings or {}), "assistant": {"enabled": True}}  # a new dict: tracked
        await session.execute(text("ANALYZE"))
    return world
