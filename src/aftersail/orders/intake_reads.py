"""What an intake batch reads, a few queries for the whole batch: idempotency keys seen before, what can
refuse an order (line currencies, a given number, the live session, the SKUs, the customer), and the
serving warehouses with their free stock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog.models import Lane, Sku, Warehouse, WarehouseCapability
from aftersail.catalog.rules import WarehouseOption
from aftersail.kit.errors import Conflict, DomainError, InvalidInput
from aftersail.orders.intake_batch import (
    BUYER_COLUMNS,
    BatchOrder,
    Deferred,
    IdempotencyKeyReused,
    Outcome,
    Replayed,
    SkuRow,
    World,
)
from aftersail.orders.models import Customer, IdempotencyKey, LiveSession, Order
from aftersail.orders.schemas import CustomerOut
from aftersail.orders.service import check_line_currencies

KeyRow = tuple[str | None, int | None]  # a stored key's (request hash, order id once placed)


async def resolve_keys(
    session: AsyncSession, tenant_id: int, batch: list[BatchOrder], outcomes: list[Outcome | None]
) -> None:
    """Keys seen before answer as replays (or 409 for another body); a key twice in the batch waits."""
    keyed = [o for o in batch if o.request.key is not None]
    if not keyed:
        return
    rows = await session.execute(
        select(
            IdempotencyKey.scope, IdempotencyKey.key, IdempotencyKey.request_hash, IdempotencyKey.resource_id
        ).where(
            IdempotencyKey.tenant_id == tenant_id,
            IdempotencyKey.key.in_({o.request.key for o in keyed}),
        )
    )
    judge_keys(batch, {(scope, key): (digest, order_id) for scope, key, digest, order_id in rows}, outcomes)


def judge_keys(
    batch: list[BatchOrder], found: dict[tuple[str, str], KeyRow], outcomes: list[Outcome | None]
) -> None:
    """`found`: the batch's keys stored before, by (scope, key)."""
    seen: set[tuple[str, str]] = set()
    for order in batch:
        request = order.request
        if request.key is None:
            continue
        ident = (request.scope, request.key)
        if ident in found:
            digest, resource_id = found[ident]
            if request.digest is not None and digest != request.digest:
                outcomes[order.index] = IdempotencyKeyReused(
                    f"Idempotency-Key {request.key!r} was already used for a different request body; "
                    "send a new key for a new order, or the same body to get the order it created",
                    field="Idempotency-Key",
                )
            elif resource_id is None:
                outcomes[order.index] = Conflict(
                    f"the request with Idempotency-Key {request.key!r} is still being processed; "
                    "retry shortly"
                )
            else:
                outcomes[order.index] = Replayed(resource_id)
        elif ident in seen:
            outcomes[order.index] = Deferred()
        seen.add(ident)


@dataclass(slots=True)
class Found:
    """What the batch's checks look up: numbers taken, live sessions' hosts, SKUs, known customers."""

    taken: set[str] = field(default_factory=set)
    hosts: dict[int, str] = field(default_factory=dict)
    skus: list[SkuRow] = field(default_factory=list)
    customers: list[CustomerOut] = field(default_factory=list)  # in id order


@dataclass(frozen=True, slots=True)
class Wanted:
    """The keys the batch's checks look up."""

    numbers: set[str]
    session_ids: set[int]
    sku_ids: set[int]
    sku_codes: set[str]
    customer_ids: set[int]
    emails: set[str]
    countries: set[str]

    @classmethod
    def of(cls, batch: list[BatchOrder]) -> Wanted:
        return cls(
            numbers={o.data.number for o in batch if o.data.number is not None},
            session_ids={o.data.live_session_id for o in batch if o.data.live_session_id is not None},
            sku_ids={ln.sku_id for o in batch for ln in o.data.lines if ln.sku_id is not None},
            sku_codes={
                ln.sku_code for o in batch for ln in o.data.lines if ln.sku_id is None and ln.sku_code
            },
            customer_ids={o.data.customer_id for o in batch if o.data.customer_id is not None},
            emails={o.data.customer.email.strip().lower() for o in batch if o.data.customer is not None},
            countries={o.data.shipping_address.country for o in batch},
        )


async def check_orders(
    session: AsyncSession, tenant_id: int, batch: list[BatchOrder], outcomes: list[Outcome | None]
) -> None:
    """Everything that can refuse an order before a row is written (see `judge_orders`)."""
    judge_orders(batch, await _find(session, tenant_id, Wanted.of(batch)), outcomes)


async def _find(session: AsyncSession, tenant_id: int, wanted: Wanted) -> Found:
    found = Found()
    if wanted.numbers:
        found.taken = set(
            (
                await session.scalars(
                    select(Order.number).where(Order.tenant_id == tenant_id, Order.number.in_(wanted.numbers))
                )
            ).all()
        )
    if wanted.session_ids:
        found.hosts = dict(
            (
                await session.execute(
                    select(LiveSession.id, LiveSession.host).where(
                        LiveSession.tenant_id == tenant_id, LiveSession.id.in_(wanted.session_ids)
                    )
                )
            ).all()
        )
    if wanted.sku_ids or wanted.sku_codes:
        matches = [Sku.id.in_(wanted.sku_ids), Sku.code.in_(wanted.sku_codes)]
        rows = await session.execute(
            select(Sku.id, Sku.code, Sku.title, Sku.is_bundle).where(
                Sku.tenant_id == tenant_id, or_(*matches)
            )
        )
        found.skus = [SkuRow(*row) for row in rows]
    if wanted.customer_ids or wanted.emails:
        query = select(*BUYER_COLUMNS).where(Customer.tenant_id == tenant_id)
        lowered = func.lower(Customer.email)
        if wanted.customer_ids and wanted.emails:
            query = query.where(Customer.id.in_(wanted.customer_ids) | lowered.in_(wanted.emails))
        elif wanted.customer_ids:
            query = query.where(Customer.id.in_(wanted.customer_ids))
        else:
            query = query.where(lowered.in_(wanted.emails))
        rows = await session.execute(query.order_by(Customer.id))
        found.customers = [CustomerOut(**row._mapping) for row in rows]
    return found


def judge_orders(batch: list[BatchOrder], found: Found, outcomes: list[Outcome | None]) -> None:
    """Refuse what cannot be placed, in the order a single order checks it: line currencies, a given
    number, the live session, the SKUs, the customer; the others get their SKUs, host and customer."""
    by_id: dict[int, SkuRow] = {}
    by_code: dict[str, SkuRow] = {}
    for sku in found.skus:
        by_id[sku.id] = sku
        by_code.setdefault(sku.code, sku)
    customers_by_id: dict[int, CustomerOut] = {}
    customers_by_email: dict[str, CustomerOut] = {}
    for customer in found.customers:
        customers_by_id[customer.id] = customer
        customers_by_email.setdefault(customer.email.strip().lower(), customer)
    new_customers: dict[str, dict[str, Any]] = {}
    numbered: set[str] = set()
    for order in batch:
        if outcomes[order.index] is not None:
            continue
        data = order.data
        try:
            check_line_currencies(data)
            if data.number is not None and (data.number in found.taken or data.number in numbered):
                raise Conflict(f"an order numbered {data.number} already exists", field="number")
            if data.live_session_id is not None:
                if data.live_session_id not in found.hosts:
                    raise InvalidInput("no such live session", field="live_session_id")
                order.host = found.hosts[data.live_session_id]
            for index, line in enumerate(data.lines):
                match = by_code.get(line.sku_code or "") if line.sku_id is None else by_id.get(line.sku_id)
                if match is None:
                    name = "sku_id" if line.sku_id is not None else "sku_code"
                    raise InvalidInput("no such SKU", field=f"lines.{index}.{name}")
                order.skus.append(match)
            if data.customer_id is not None:
                if data.customer_id not in customers_by_id:
                    raise InvalidInput("no such customer", field="customer_id")
                order.customer = customers_by_id[data.customer_id]
            else:
                assert data.customer is not None  # the schema requires exactly one of the two
                email = data.customer.email.strip().lower()
                order.customer = customers_by_email.get(email) or new_customers.setdefault(
                    email, data.customer.model_dump()
                )
        except DomainError as error:
            order.skus.clear()
            outcomes[order.index] = error
            continue
        if data.number is not None:
            numbered.add(data.number)


async def read_world(session: AsyncSession, tenant_id: int, batch: list[BatchOrder], *, lock: bool) -> World:
    """Serving warehouses for every destination of the batch, and the free stock of every SKU it needs."""
    countries = {o.data.shipping_address.country for o in batch}
    rows = await session.execute(
        select(
            Warehouse.id,
            Warehouse.code,
            Warehouse.name,
            Warehouse.capabilities,
            Lane.country,
            Lane.transit_days_median,
            Lane.cost_minor,
        )
        .join(Lane, (Lane.warehouse_id == Warehouse.id) & (Lane.tenant_id == tenant_id))
        .where(Warehouse.tenant_id == tenant_id, Warehouse.is_active.is_(True), Lane.country.in_(countries))
        .order_by(Warehouse.id)
    )
    world = World({}, {}, [], {})
    add_lanes(world, rows)
    bundle_ids = {sku.id for o in batch for sku in o.skus if sku.is_bundle}
    if bundle_ids:
        world.components = await reservations.bundle_map(session, tenant_id, bundle_ids)
    needed = {sku.id for o in batch for sku in o.skus}
    needed |= {component for parts in world.components.values() for component, _ in parts}
    world.slots = await reservations.free_slots(session, tenant_id, world.warehouses, needed, lock=lock)
    return world


def add_lanes(world: World, rows: Iterable[Sequence[Any]]) -> None:
    """(warehouse id, code, name, capabilities, country, transit days, lane cost) rows in warehouse id
    order: the fulfilment warehouses serving each country."""
    options: dict[str, list[WarehouseOption]] = defaultdict(list)
    fulfilment = WarehouseCapability.FULFILMENT.value
    for warehouse_id, code, name, capabilities, country, transit, cost in rows:
        if fulfilment not in (capabilities or [fulfilment]):
            continue
        options[country].append(WarehouseOption(warehouse_id, name.split(" (", 1)[0], transit, cost))
        world.warehouses[warehouse_id] = (code, name)
    world.options = dict(options)
