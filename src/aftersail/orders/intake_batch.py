"""The working state of an intake batch (`orders.intake`): the requests, their outcomes, each order on its
way through (checked, planned, written) and what the batch read once; and the small helpers every step
of the batch shares."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import pydantic_core
from sqlalchemy import Table

from aftersail.catalog.rules import StockSlot, WarehouseOption
from aftersail.kit.errors import Conflict, DomainError
from aftersail.orders.models import Customer, OrderStatus
from aftersail.orders.rules import AllocationPlan, OrderPolicy, Requirement, plan_allocation
from aftersail.orders.schemas import CustomerOut, OrderCreate, OrderDetailOut

SCOPE_ORDERS_CREATE = "orders.create"  # the idempotency scope of POST /api/v1/orders


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """One order to place. With `key`, at most once per (tenant, `scope`, key); `digest` is the request
    body's hash that tells a retry (same body) from a reuse of the key (another body)."""

    data: OrderCreate
    actor: str
    key: str | None = None
    scope: str = SCOPE_ORDERS_CREATE
    digest: str | None = None
    extra_events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class Placed:
    """A new order, answered from the rows just written: `answer` is the order as GET /orders/{id}
    shows it, as plain data in the shape and field order of `OrderDetailOut`."""

    order_id: int
    answer: dict[str, Any]

    @property
    def detail(self) -> OrderDetailOut:
        return OrderDetailOut.model_validate(self.answer)

    def answer_json(self) -> bytes:
        """The answer as `OrderDetailOut` serialises it (the same serialiser, without building a model)."""
        return pydantic_core.to_json(self.answer)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The key was used before with the same body: the order that request placed."""

    order_id: int


@dataclass(frozen=True, slots=True)
class Deferred:
    """Another request with the same key is in flight (in this batch or another transaction): place this
    one again after that one commits, and it will be answered as a replay."""


Outcome = Placed | Replayed | Deferred | DomainError


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class BatchRaced(Conflict):
    """A row the batch writes under a unique key was written by a transaction that committed meanwhile;
    the batch is rolled back and placed again, where it then sees that row."""


class NumberRaced(BatchRaced):
    """An order number given by the client (or drawn) was taken meanwhile: seen as taken next time."""


class KeyRaced(BatchRaced):
    """An `Idempotency-Key` was used by another request that committed meanwhile: a replay next time."""


class SkuRow(NamedTuple):
    id: int
    code: str
    title: str
    is_bundle: bool


BUYER_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.email,
    Customer.phone,
    Customer.country,
    Customer.preferred_language,
    Customer.time_zone,
    Customer.created_at,
)


@dataclass(slots=True)
class BatchOrder:
    """One order of the batch on its way through: checked, planned, then written."""

    index: int
    request: PlaceRequest
    customer: CustomerOut | dict[str, Any] | None = None
    skus: list[SkuRow] = field(default_factory=list)
    host: str = ""
    line_ids: list[int] = field(default_factory=list)  # provisional until the lines are written
    plan: AllocationPlan | None = None
    key_row_id: int | None = None
    order_id: int = 0
    number: str = ""

    @property
    def data(self) -> OrderCreate:
        return self.request.data


@dataclass(slots=True)
class World:
    """What the batch read once: serving warehouses per country, free stock, bundles, names."""

    options: dict[str, list[WarehouseOption]]
    warehouses: dict[int, tuple[str, str]]  # id → (code, name)
    slots: list[StockSlot]
    components: dict[int, list[tuple[int, int]]]


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def order_status(plan: AllocationPlan) -> OrderStatus:
    return OrderStatus.ALLOCATED if plan.fully_allocated else OrderStatus.BACKORDERED


def order_total(data: OrderCreate) -> int:
    return sum(line.unit_price_minor * line.quantity for line in data.lines)


def plan_batch(
    batch: list[BatchOrder], world: World, policy: OrderPolicy, outcomes: list[Outcome | None]
) -> dict[int, int]:
    """Plan each order in turn on the stock the orders before it left; the units to reserve per row.

    An order the rules refuse (no warehouse serves it; stock exhausted under the reject policy) gets its
    error and takes nothing."""
    left = {slot.stock_level_id: slot.available for slot in world.slots}
    by_sku: dict[int, list[StockSlot]] = defaultdict(list)
    for slot in world.slots:
        by_sku[slot.sku_id].append(slot)
    moves: dict[int, int] = defaultdict(int)
    line_id = 0
    for order in batch:
        order.plan = None
        if outcomes[order.index] is not None:
            continue
        requirements = []
        order.line_ids = []
        for line, sku in zip(order.data.lines, order.skus, strict=True):
            line_id += 1
            order.line_ids.append(line_id)
            requirements.append(
                Requirement(
                    order_line_id=line_id,
                    sku_id=sku.id,
                    quantity=line.quantity,
                    label=sku.code,
                    components=tuple(world.components.get(sku.id, ())) if sku.is_bundle else (),
                )
            )
        country = order.data.shipping_address.country
        demand = {s for r in requirements for s in r.demand()}
        slots = [
            slot for sku_id in demand for slot in by_sku.get(sku_id, ()) if left[slot.stock_level_id] > 0
        ]
        try:
            plan = plan_allocation(
                requirements,
                world.options.get(country, []),
                slots,
                country,
                policy.on_shortage,
                available=left,
            )
        except DomainError as error:
            outcomes[order.index] = error
            continue
        for pick in plan.picks:
            left[pick.stock_level_id] -= pick.quantity
            moves[pick.stock_level_id] += pick.quantity
        order.plan = plan
    return moves
