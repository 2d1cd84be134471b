"""Placing many orders in one transaction (group commit): the write path of order intake.

A live-stream sale sends hundreds of orders a second. Placing them one transaction each costs a commit and
some twenty round trips per order; `do_place_orders` places a whole batch with a fixed number of
statements: it reads what the batch needs in a few queries, checks each order, plans each one with the
pure rules against free stock that earlier orders of the batch have already consumed, reserves every
stock row the batch touches in one conditional statement (rows in id order, as every writer takes them),
then writes customers, orders, lines, parcels, allocations, audit events and idempotency keys with one
multi-row INSERT each, and answers each order from the objects in hand.

Each order of a batch succeeds or fails on its own: an order that cannot be placed gets its error
(unknown SKU, number taken, stock exhausted under the reject policy, …) and leaves nothing behind; the
others go on. If free stock moved between the read and the reservation, the reservation is rolled back to
a savepoint and the batch is planned again on the rows locked in id order, where it cannot lose again.

`orders.intake_queue` collects concurrent API requests into batches; `allocation.do_place_order` places
one order through the same path. Both dialects run the same statements.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog.models import Batch, Lane, Sku, Warehouse, WarehouseCapability
from aftersail.catalog.reservations import StockAfter, StockContended
from aftersail.catalog.rules import StockSlot, WarehouseOption
from aftersail.catalog.stock_events import level_payload, stock_alerts
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import Conflict, DomainError, InvalidInput
from aftersail.kit.outbox import emit_many
from aftersail.orders.models import (
    Allocation,
    AllocationLine,
    AllocationStatus,
    Customer,
    IdempotencyKey,
    LiveSession,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    ShipmentGroup,
)
from aftersail.orders.rules import (
    AllocationPlan,
    OrderPolicy,
    Requirement,
    address_key,
    plan_allocation,
)
from aftersail.orders.schemas import (
    AllocationLineOut,
    AllocationOut,
    CustomerOut,
    OrderCreate,
    OrderDetailOut,
    OrderLineOut,
)
from aftersail.orders.service import check_line_currencies

MAX_REASON = 500
_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # read aloud on the phone: no 0/O, 1/I/L
_NUMBER_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """One order to place. With `key`, at most once per (tenant, `scope`, key); `digest` is the request
    body's hash that tells a retry (same body) from a reuse of the key (another body)."""

    data: OrderCreate
    actor: str
    key: str | None = None
    scope: str = "orders.create"
    digest: str | None = None
    extra_events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class Placed:
    """A new order, answered from the rows just written."""

    order_id: int
    detail: OrderDetailOut


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


class NumberRaced(Conflict):
    """An order number given by the client was taken by a transaction that committed meanwhile; the whole
    batch is rolled back and placed again (where the number is then seen as taken)."""


# --- what the batch reads -----------------------------------------------------------------------------------


class _Sku(NamedTuple):
    id: int
    code: str
    title: str
    is_bundle: bool


_BUYER_COLUMNS = (
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
class _Order:
    """One order of the batch on its way through: checked, planned, then written."""

    index: int
    request: PlaceRequest
    customer: CustomerOut | dict[str, Any] | None = None
    skus: list[_Sku] = field(default_factory=list)
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
class _World:
    """What the batch read once: serving warehouses per country, free stock, bundles, names."""

    options: dict[str, list[WarehouseOption]]
    warehouses: dict[int, tuple[str, str]]  # id → (code, name)
    slots: list[StockSlot]
    components: dict[int, list[tuple[int, int]]]


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _dialect_insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def _existing_keys(
    session: AsyncSession, tenant_id: int, batch: list[_Order], outcomes: list[Outcome | None]
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
    found = {(scope, key): (digest, resource_id) for scope, key, digest, resource_id in rows}
    seen: set[tuple[str, str]] = set()
    for order in keyed:
        request = order.request
        ident = (request.scope, request.key or "")
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


async def _check_orders(
    session: AsyncSession, tenant_id: int, batch: list[_Order], outcomes: list[Outcome | None]
) -> None:
    """Everything that can refuse an order before a row is written, in the order a single order checks
    it: line currencies, a given number, the live session, the SKUs, the customer."""
    numbers = [o.data.number for o in batch if o.data.number is not None]
    taken: set[str] = set()
    if numbers:
        taken = set(
            (
                await session.scalars(
                    select(Order.number).where(Order.tenant_id == tenant_id, Order.number.in_(set(numbers)))
                )
            ).all()
        )
    session_ids = {o.data.live_session_id for o in batch if o.data.live_session_id is not None}
    hosts: dict[int, str] = {}
    if session_ids:
        hosts = dict(
            (
                await session.execute(
                    select(LiveSession.id, LiveSession.host).where(
                        LiveSession.tenant_id == tenant_id, LiveSession.id.in_(session_ids)
                    )
                )
            ).all()
        )
    sku_ids = {ln.sku_id for o in batch for ln in o.data.lines if ln.sku_id is not None}
    sku_codes = {ln.sku_code for o in batch for ln in o.data.lines if ln.sku_id is None and ln.sku_code}
    by_id: dict[int, _Sku] = {}
    by_code: dict[str, _Sku] = {}
    if sku_ids or sku_codes:
        matches = [Sku.id.in_(sku_ids), Sku.code.in_(sku_codes)]
        rows = await session.execute(
            select(Sku.id, Sku.code, Sku.title, Sku.is_bundle).where(
                Sku.tenant_id == tenant_id, or_(*matches)
            )
        )
        for sku in (_Sku(*row) for row in rows):
            by_id[sku.id] = sku
            by_code.setdefault(sku.code, sku)
    customer_ids = {o.data.customer_id for o in batch if o.data.customer_id is not None}
    emails = {o.data.customer.email.strip().lower() for o in batch if o.data.customer is not None}
    customers_by_id: dict[int, CustomerOut] = {}
    customers_by_email: dict[str, CustomerOut] = {}
    if customer_ids or emails:
        query = select(*_BUYER_COLUMNS).where(Customer.tenant_id == tenant_id)
        lowered = func.lower(Customer.email)
        if customer_ids and emails:
            query = query.where(Customer.id.in_(customer_ids) | lowered.in_(emails))
        elif customer_ids:
            query = query.where(Customer.id.in_(customer_ids))
        else:
            query = query.where(lowered.in_(emails))
        rows = await session.execute(query.order_by(Customer.id))
        for customer in (CustomerOut(**row._mapping) for row in rows):
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
            if data.number is not None and (data.number in taken or data.number in numbered):
                raise Conflict(f"an order numbered {data.number} already exists", field="number")
            if data.live_session_id is not None:
                if data.live_session_id not in hosts:
                    raise InvalidInput("no such live session", field="live_session_id")
                order.host = hosts[data.live_session_id]
            for index, line in enumerate(data.lines):
                found = (
                    by_id.get(line.sku_id) if line.sku_id is not None else by_code.get(line.sku_code or "")
                )
                if found is None:
                    name = "sku_id" if line.sku_id is not None else "sku_code"
                    raise InvalidInput("no such SKU", field=f"lines.{index}.{name}")
                order.skus.append(found)
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


async def _read_world(session: AsyncSession, tenant_id: int, batch: list[_Order], *, lock: bool) -> _World:
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
    options: dict[str, list[WarehouseOption]] = defaultdict(list)
    warehouses: dict[int, tuple[str, str]] = {}
    fulfilment = WarehouseCapability.FULFILMENT.value
    for warehouse_id, code, name, capabilities, country, transit, cost in rows:
        if fulfilment not in (capabilities or [fulfilment]):
            continue
        options[country].append(WarehouseOption(warehouse_id, name.split(" (", 1)[0], transit, cost))
        warehouses[warehouse_id] = (code, name)
    bundle_ids = {sku.id for o in batch for sku in o.skus if sku.is_bundle}
    components: dict[int, list[tuple[int, int]]] = (
        await reservations.bundle_map(session, tenant_id, bundle_ids) if bundle_ids else {}
    )
    needed = {sku.id for o in batch for sku in o.skus}
    needed |= {component for parts in components.values() for component, _ in parts}
    slots = await reservations.free_slots(session, tenant_id, warehouses, needed, lock=lock)
    return _World(dict(options), warehouses, slots, components)


def _plan_batch(
    batch: list[_Order], world: _World, policy: OrderPolicy, outcomes: list[Outcome | None]
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
            replace(slot, available=left[slot.stock_level_id])
            for sku_id in demand
            for slot in by_sku.get(sku_id, ())
            if left[slot.stock_level_id] > 0
        ]
        try:
            plan = plan_allocation(
                requirements, world.options.get(country, []), slots, country, policy.on_shortage
            )
        except DomainError as error:
            outcomes[order.index] = error
            continue
        for pick in plan.picks:
            left[pick.stock_level_id] -= pick.quantity
            moves[pick.stock_level_id] += pick.quantity
        order.plan = plan
    return moves


# --- writing ------------------------------------------------------------------------------------------------


_SAVEPOINT = text("SAVEPOINT aftersail_intake")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT aftersail_intake")


async def _claim_keys(
    session: AsyncSession, tenant_id: int, batch: list[_Order], outcomes: list[Outcome | None], now: datetime
) -> bool:
    """Insert the batch's new keys (sorted: two batches claim in one order); a key another transaction
    claimed meanwhile defers its order. True when an order was deferred (the batch is planned again)."""
    keyed = sorted(
        (o for o in batch if o.request.key is not None and outcomes[o.index] is None),
        key=lambda o: (o.request.scope, o.request.key or ""),
    )
    if not keyed:
        return False
    statement = (
        _dialect_insert(session, _table(IdempotencyKey))
        .on_conflict_do_nothing(index_elements=["tenant_id", "scope", "key"])
        .returning(IdempotencyKey.id, IdempotencyKey.scope, IdempotencyKey.key)
    )
    rows = await session.execute(
        statement,
        [
            {
                "tenant_id": tenant_id,
                "scope": o.request.scope,
                "key": o.request.key,
                "request_hash": o.request.digest or "",
                "created_at": now,
            }
            for o in keyed
        ],
    )
    claimed = {(scope, key): row_id for row_id, scope, key in rows}
    deferred = False
    for order in keyed:
        order.key_row_id = claimed.get((order.request.scope, order.request.key or ""))
        if order.key_row_id is None:
            outcomes[order.index] = Deferred()
            deferred = True
    return deferred


async def _reserve(
    session: AsyncSession,
    tenant_id: int,
    batch: list[_Order],
    world: _World,
    policy: OrderPolicy,
    outcomes: list[Outcome | None],
) -> list[StockAfter]:
    """Reserve what the plans pick; on a lost race, plan again on locked rows (cannot lose twice)."""
    moves = _plan_batch(batch, world, policy, outcomes)
    if not moves:
        return []
    await session.execute(_SAVEPOINT)
    try:
        return await reservations.do_reserve(session, tenant_id, list(moves.items()))
    except StockContended:
        await session.execute(_ROLLBACK_TO_SAVEPOINT)
    locked = await _read_world(session, tenant_id, batch, lock=True)
    moves = _plan_batch(batch, locked, policy, outcomes)
    return await reservations.do_reserve(session, tenant_id, list(moves.items())) if moves else []


async def _write_customers(session: AsyncSession, tenant_id: int, batch: list[_Order], now: datetime) -> None:
    """New buyers (one per email in the batch) become customers; orders then hold the row."""
    new: dict[int, dict[str, Any]] = {}
    for order in batch:
        if isinstance(order.customer, dict):
            new.setdefault(id(order.customer), order.customer)
    if not new:
        return
    values = [
        {**fields, "tenant_id": tenant_id, "created_at": now, "updated_at": now} for fields in new.values()
    ]
    rows = await session.execute(
        insert(_table(Customer)).returning(*_BUYER_COLUMNS, sort_by_parameter_order=True), values
    )
    made = dict(zip(new, (CustomerOut(**row._mapping) for row in rows), strict=True))
    for order in batch:
        if isinstance(order.customer, dict):
            order.customer = made[id(order.customer)]


def _new_number(day: str) -> str:
    return f"AS-{day}-" + "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(5))


async def _write_orders(session: AsyncSession, tenant_id: int, batch: list[_Order], now: datetime) -> None:
    """One INSERT for the batch's orders; a generated number that is taken is drawn again."""
    statement = (
        _dialect_insert(session, _table(Order))
        .on_conflict_do_nothing(index_elements=["tenant_id", "number"])
        .returning(_table(Order).c.id, _table(Order).c.number)
    )
    day = now.strftime("%y%m%d")
    waiting = list(batch)
    for _ in range(_NUMBER_ATTEMPTS):
        values = []
        for order in waiting:
            data = order.data
            assert order.plan is not None and isinstance(order.customer, CustomerOut)
            order.number = data.number or _new_number(day)
            values.append(
                {
                    "tenant_id": tenant_id,
                    "number": order.number,
                    "customer_id": order.customer.id,
                    "channel": data.channel,
                    "status": OrderStatus.ALLOCATED
                    if order.plan.fully_allocated
                    else OrderStatus.BACKORDERED,
                    "currency": data.currency,
                    "total_minor": sum(line.unit_price_minor * line.quantity for line in data.lines),
                    "shipping_address": data.shipping_address.model_dump(),
                    "country": data.shipping_address.country,
                    "live_session_id": data.live_session_id,
                    "host": order.host,
                    "external_ref": data.external_ref,
                    "placed_at": data.placed_at or now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        written = {number: order_id for order_id, number in await session.execute(statement, values)}
        still = []
        for order in waiting:
            if order.number in written:
                order.order_id = written[order.number]
            elif order.data.number is not None:
                raise NumberRaced(f"an order numbered {order.number} already exists", field="number")
            else:
                still.append(order)
        if not still:
            return
        waiting = still
    raise Conflict("could not find a free order number; try again")


async def _write_lines(session: AsyncSession, tenant_id: int, batch: list[_Order]) -> dict[int, int]:
    """The orders' lines, with the units left backordered; provisional line id → real id."""
    values = []
    provisional = []
    for order in batch:
        assert order.plan is not None
        for line, sku, line_id in zip(order.data.lines, order.skus, order.line_ids, strict=True):
            provisional.append(line_id)
            values.append(
                {
                    "tenant_id": tenant_id,
                    "order_id": order.order_id,
                    "sku_id": sku.id,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                    "currency": order.data.currency,
                    "backordered_quantity": order.plan.backordered.get(line_id, 0),
                }
            )
    rows = await session.execute(
        insert(_table(OrderLine)).returning(_table(OrderLine).c.id, sort_by_parameter_order=True), values
    )
    real = dict(zip(provisional, rows.scalars().all(), strict=True))
    for order in batch:
        order.line_ids = [real[line_id] for line_id in order.line_ids]
        assert order.plan is not None
        order.plan.backordered = {real[k]: v for k, v in order.plan.backordered.items()}
    return real


@dataclass(slots=True)
class _Written:
    """An allocation as written, for the answer."""

    allocation_id: int
    warehouse_id: int
    group_id: int
    reason: str
    transit_days: int
    lines: list[dict[str, Any]]


async def _write_allocations(
    session: AsyncSession,
    tenant_id: int,
    batch: list[_Order],
    policy: OrderPolicy,
    real: dict[int, int],
    now: datetime,
) -> dict[int, list[_Written]]:
    """Parcels (joining the buyer's open one while the merge window lasts, 合并发货), allocations and their
    lines, one INSERT each; order index → its allocations in plan order."""
    merge = policy.merge_window_minutes > 0
    closes_at = now + timedelta(minutes=policy.merge_window_minutes)
    wanted = [
        (order, plan)
        for order in batch
        for plan in (order.plan.warehouses if order.plan is not None else [])
        if plan.picks
    ]
    if not wanted:
        return {}
    keys = {order.index: address_key(order.data.shipping_address.model_dump()) for order, _ in wanted}
    groups: dict[tuple[int, int, str], int] = {}
    if merge:
        customer_ids = {o.customer.id for o, _ in wanted if isinstance(o.customer, CustomerOut)}
        for group_id, customer_id, warehouse_id, key in await session.execute(
            select(
                ShipmentGroup.id,
                ShipmentGroup.customer_id,
                ShipmentGroup.warehouse_id,
                ShipmentGroup.address_key,
            )
            .where(
                ShipmentGroup.tenant_id == tenant_id,
                ShipmentGroup.customer_id.in_(customer_ids),
                ShipmentGroup.is_open.is_(True),
                ShipmentGroup.closes_at > now,
            )
            .order_by(ShipmentGroup.id)
        ):
            groups.setdefault((customer_id, warehouse_id, key), group_id)
    new_groups: list[tuple[int, int, str]] = []
    started: dict[tuple[int, int, str], int] = {}  # a parcel this batch starts → its index in new_groups
    refs: list[tuple[bool, int]] = []  # (new?, the existing parcel's id or the index of the new one)
    for order, plan in wanted:
        assert isinstance(order.customer, CustomerOut)
        ident = (order.customer.id, plan.warehouse_id, keys[order.index])
        if merge and ident in groups:
            refs.append((False, groups[ident]))
        elif merge and ident in started:
            refs.append((True, started[ident]))
        else:
            new_groups.append(ident)
            started[ident] = len(new_groups) - 1
            refs.append((True, len(new_groups) - 1))
    made: list[int] = []
    if new_groups:
        rows = await session.execute(
            insert(_table(ShipmentGroup)).returning(_table(ShipmentGroup).c.id, sort_by_parameter_order=True),
            [
                {
                    "tenant_id": tenant_id,
                    "warehouse_id": warehouse_id,
                    "customer_id": customer_id,
                    "address_key": key,
                    "is_open": merge,
                    "closes_at": closes_at,
                    "created_at": now,
                    "updated_at": now,
                }
                for customer_id, warehouse_id, key in new_groups
            ],
        )
        made = list(rows.scalars().all())
    group_ids = [made[ref] if new else ref for new, ref in refs]
    rows = await session.execute(
        insert(_table(Allocation)).returning(_table(Allocation).c.id, sort_by_parameter_order=True),
        [
            {
                "tenant_id": tenant_id,
                "order_id": order.order_id,
                "warehouse_id": plan.warehouse_id,
                "shipment_group_id": group_id,
                "status": AllocationStatus.RESERVED,
                "reason": plan.reason[:MAX_REASON],
                "transit_days": plan.transit_days,
                "created_at": now,
                "updated_at": now,
            }
            for (order, plan), group_id in zip(wanted, group_ids, strict=True)
        ],
    )
    allocation_ids = rows.scalars().all()
    written: dict[int, list[_Written]] = defaultdict(list)
    line_values = []
    for (order, plan), allocation_id, group_id in zip(wanted, allocation_ids, group_ids, strict=True):
        lines = [
            {
                "tenant_id": tenant_id,
                "allocation_id": allocation_id,
                "order_line_id": real[pick.order_line_id],
                "stock_level_id": pick.stock_level_id,
                "sku_id": pick.sku_id,
                "batch_id": pick.batch_id,
                "quantity": pick.quantity,
            }
            for pick in plan.picks
        ]
        line_values += lines
        written[order.index].append(
            _Written(
                allocation_id, plan.warehouse_id, group_id, plan.reason[:MAX_REASON], plan.transit_days, lines
            )
        )
    await session.execute(insert(_table(AllocationLine)), line_values)
    return written


async def _write_events(session: AsyncSession, tenant_id: int, batch: list[_Order], now: datetime) -> None:
    """Each order's audit trail starts with its creation and its allocation decision."""
    values = []
    for order in batch:
        plan = order.plan
        assert plan is not None
        decided = _status(plan)
        trail: list[tuple[str, dict[str, Any]]] = [
            ("created", {"channel": order.data.channel.value}),
            (
                decided.value,
                {
                    "summary": plan.summary,
                    "warehouses": [w.reason for w in plan.warehouses],
                    "backordered": {str(k): v for k, v in plan.backordered.items() if v},
                },
            ),
            *order.request.extra_events,
        ]
        values += [
            {
                "tenant_id": tenant_id,
                "order_id": order.order_id,
                "actor": order.request.actor,
                "action": action,
                "details": details,
                "created_at": now,
            }
            for action, details in trail
        ]
    await session.execute(insert(_table(OrderEvent)), values)


async def _finish_keys(session: AsyncSession, batch: list[_Order]) -> None:
    keyed = [{"row": o.key_row_id, "order": o.order_id} for o in batch if o.key_row_id is not None]
    if keyed:
        table = _table(IdempotencyKey)
        await session.execute(
            update(table).where(table.c.id == bindparam("row")).values(resource_id=bindparam("order")),
            keyed,
        )


async def _announce(
    session: AsyncSession, tenant_id: int, batch: list[_Order], after: Sequence[StockAfter], now: datetime
) -> None:
    """The Live board hears of the batch's orders (`live.orders`) and stock (`live.stock`) after commit;
    stock rows at or below their threshold raise `stock.low`, or `stock.sold_out` at zero."""
    placed = []
    for order in batch:
        assert order.plan is not None
        placed.append(
            {
                "order_id": order.order_id,
                "number": order.number,
                "live_session_id": order.data.live_session_id,
                "status": _status(order.plan).value,
                "country": order.data.shipping_address.country,
                "total_minor": _total(order.data),
                "currency": order.data.currency,
                "placed_at": (order.data.placed_at or now).isoformat(),
                "host": order.host,
                "lines": [
                    {"sku_id": sku.id, "quantity": line.quantity}
                    for line, sku in zip(order.data.lines, order.skus, strict=True)
                ],
                "warehouses": [w.warehouse_id for w in order.plan.warehouses],
            }
        )
    events: list[tuple[str, dict[str, Any]]] = [("live.orders", {"orders": placed})]
    if after:
        sessions = {o.data.live_session_id for o in batch}
        events.append(
            (
                "live.stock",
                {
                    "order_ids": [o.order_id for o in batch],
                    "live_session_id": next(iter(sessions)) if len(sessions) == 1 else None,
                    "at": now.isoformat(),
                    "levels": [level_payload(level) for level in after],
                },
            )
        )
    events += stock_alerts(after)
    await emit_many(session, events, tenant_id=tenant_id)


def _status(plan: AllocationPlan) -> OrderStatus:
    return OrderStatus.ALLOCATED if plan.fully_allocated else OrderStatus.BACKORDERED


def _total(data: OrderCreate) -> int:
    return sum(line.unit_price_minor * line.quantity for line in data.lines)


async def _answers(
    session: AsyncSession,
    tenant_id: int,
    batch: list[_Order],
    written: dict[int, list[_Written]],
    world: _World,
    now: datetime,
) -> dict[int, Placed]:
    """Each order as GET /orders/{id} would show it, built from what was just written."""
    codes = {sku.id: sku.code for order in batch for sku in order.skus}
    picked = [line for allocations in written.values() for a in allocations for line in a.lines]
    unknown = {line["sku_id"] for line in picked} - codes.keys()
    if unknown:
        codes.update(
            dict(
                (
                    await session.execute(
                        select(Sku.id, Sku.code).where(Sku.tenant_id == tenant_id, Sku.id.in_(unknown))
                    )
                ).all()
            )
        )
    batch_ids = {line["batch_id"] for line in picked if line["batch_id"] is not None}
    batch_codes: dict[int, str] = {}
    if batch_ids:
        batch_codes = dict(
            (
                await session.execute(
                    select(Batch.id, Batch.code).where(Batch.tenant_id == tenant_id, Batch.id.in_(batch_ids))
                )
            ).all()
        )
    answers = {}
    for order in batch:
        data, plan, customer = order.data, order.plan, order.customer
        assert plan is not None and isinstance(customer, CustomerOut)
        detail = OrderDetailOut(
            id=order.order_id,
            number=order.number,
            customer_id=customer.id,
            channel=data.channel,
            status=_status(plan),
            currency=data.currency,
            total_minor=_total(data),
            shipping_address=data.shipping_address.model_dump(),
            country=data.shipping_address.country,
            live_session_id=data.live_session_id,
            host=order.host,
            external_ref=data.external_ref,
            placed_at=data.placed_at or now,
            released_at=None,
            cancelled_at=None,
            created_at=now,
            customer=customer,
            lines=[
                OrderLineOut(
                    id=line_id,
                    sku_id=sku.id,
                    sku_code=sku.code,
                    sku_title=sku.title,
                    quantity=line.quantity,
                    backordered_quantity=plan.backordered.get(line_id, 0),
                    unit_price_minor=line.unit_price_minor,
                    currency=data.currency,
                    total_minor=line.unit_price_minor * line.quantity,
                )
                for line, sku, line_id in zip(data.lines, order.skus, order.line_ids, strict=True)
            ],
            allocations=[
                AllocationOut(
                    id=a.allocation_id,
                    warehouse_id=a.warehouse_id,
                    warehouse_code=world.warehouses[a.warehouse_id][0],
                    warehouse_name=world.warehouses[a.warehouse_id][1],
                    status=AllocationStatus.RESERVED,
                    reason=a.reason,
                    transit_days=a.transit_days,
                    shipment_group_id=a.group_id,
                    created_at=now,
                    lines=[
                        AllocationLineOut(
                            order_line_id=line["order_line_id"],
                            sku_id=line["sku_id"],
                            sku_code=codes[line["sku_id"]],
                            batch_id=line["batch_id"],
                            batch_code=batch_codes.get(line["batch_id"]) if line["batch_id"] else None,
                            quantity=line["quantity"],
                        )
                        for line in a.lines
                    ],
                )
                for a in written.get(order.index, [])
            ],
        )
        answers[order.index] = Placed(order.order_id, detail)
    return answers


async def do_place_orders(
    session: AsyncSession, tenant_id: int, requests: Sequence[PlaceRequest], *, policy: OrderPolicy
) -> list[Outcome]:
    """Place `requests` in the caller's transaction; one outcome per request, in order.

    Raises only for the whole batch (a database error, or `NumberRaced`); the caller rolls back and may
    place the requests again, one by one if need be."""
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(requests)
    batch = [_Order(index, request) for index, request in enumerate(requests)]
    await _existing_keys(session, tenant_id, batch, outcomes)

    def still(orders: list[_Order]) -> list[_Order]:
        return [o for o in orders if outcomes[o.index] is None]

    await _check_orders(session, tenant_id, still(batch), outcomes)
    live = still(batch)
    if live:
        world = await _read_world(session, tenant_id, live, lock=False)
        if any(o.request.key is not None for o in live):
            _plan_batch(live, world, policy, outcomes)  # the rules' refusals claim no key
            await _claim_keys(session, tenant_id, still(live), outcomes, now)
        claimed = still(live)
        after = await _reserve(session, tenant_id, claimed, world, policy, outcomes)
        refused = [
            o.key_row_id for o in claimed if outcomes[o.index] is not None and o.key_row_id is not None
        ]
        if refused:  # refused on the locked re-plan: the key goes with the order that was not placed
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(refused)))
        live = still(claimed)
        if live:
            await _write_customers(session, tenant_id, live, now)
            await _write_orders(session, tenant_id, live, now)
            real = await _write_lines(session, tenant_id, live)
            written = await _write_allocations(session, tenant_id, live, policy, real, now)
            await _write_events(session, tenant_id, live, now)
            await _finish_keys(session, live)
            await _announce(session, tenant_id, live, after, now)
            for index, placed in (await _answers(session, tenant_id, live, written, world, now)).items():
                outcomes[index] = placed
    done: list[Outcome] = []
    for outcome in outcomes:
        assert outcome is not None, "every request of the batch is answered"
        done.append(outcome)
    return done


async def place_one(
    session: AsyncSession, tenant_id: int, request: PlaceRequest, *, policy: OrderPolicy
) -> Placed | Replayed:
    """`do_place_orders` for one request in the caller's transaction; its refusal is raised."""
    for _ in range(3):
        [outcome] = await do_place_orders(session, tenant_id, [request], policy=policy)
        if isinstance(outcome, DomainError):
            raise outcome
        if not isinstance(outcome, Deferred):
            return outcome
        # the key was claimed by a transaction that has committed since: the next round replays it
    raise Conflict(
        f"the request with Idempotency-Key {request.key!r} is still being processed; retry shortly"
    )
