"""Order intake's reads and writes on PostgreSQL in three round trips whatever the batch's size.

The batch runs on the asyncpg connection under the session's transaction (row-level security is already
scoped to the tenant). Every statement has one text for any number of orders (arrays, `= ANY`, `unnest`),
so each is prepared once per connection and then only bound and run:

1. `read_batch`: what the checks look up (numbers taken, live sessions, SKUs, customers) and the world
   the rules plan in (serving warehouses, bundles, free stock), as JSON aggregates of one SELECT;
2. `write_batch`, first statement: ids for the new customers, orders, lines, parcels and allocations
   from their sequences, which generated order numbers are taken, and the buyers' open parcels;
3. `write_batch`, second statement: one chain of INSERTs (customers, orders, lines, parcels, allocations,
   allocation lines, audit events, outbox events) whose rows already carry their ids.

The rows are built by the same functions as on SQLite (`intake_writes`), which writes them with the ORM's
multi-row INSERTs instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.reservations import StockAfter
from aftersail.catalog.rules import StockSlot
from aftersail.kit.outbox import wake_after_commit
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.orders.intake_answers import announcements
from aftersail.orders.intake_batch import BatchOrder, NumberRaced, SkuRow, World
from aftersail.orders.intake_reads import Found, Wanted, add_lanes
from aftersail.orders.intake_rows import (
    Ident,
    WrittenAllocation,
    allocation_line_values,
    allocation_values,
    assign_groups,
    event_values,
    group_values,
    line_values,
    new_number,
    number_day,
    order_values,
    renumber_lines,
    wanted_plans,
)
from aftersail.orders.rules import OrderPolicy
from aftersail.orders.schemas import CustomerOut

_READ = """
WITH matched AS (
    SELECT id, code, title, is_bundle FROM skus WHERE tenant_id = $1 AND id = ANY($4::bigint[])
    UNION
    SELECT id, code, title, is_bundle FROM skus WHERE tenant_id = $1 AND code = ANY($5::text[])
), parts AS (
    SELECT bundle_sku_id, component_sku_id, quantity FROM bundle_components
    WHERE tenant_id = $1 AND bundle_sku_id IN (SELECT id FROM matched WHERE is_bundle)
), needed AS (
    SELECT id FROM matched UNION SELECT component_sku_id FROM parts
), serving AS (
    SELECT w.id, w.code, w.name, w.capabilities, l.country, l.transit_days_median, l.cost_minor
    FROM warehouses AS w JOIN lanes AS l ON l.warehouse_id = w.id AND l.tenant_id = $1
    WHERE w.tenant_id = $1 AND w.is_active AND l.country = ANY($8::text[])
)
SELECT
    (SELECT json_agg(number) FROM orders WHERE tenant_id = $1 AND number = ANY($2::text[])) AS taken,
    (SELECT json_agg(json_build_array(id, host)) FROM live_sessions
        WHERE tenant_id = $1 AND id = ANY($3::bigint[])) AS hosts,
    (SELECT json_agg(json_build_array(id, code, title, is_bundle)) FROM matched) AS skus,
    (SELECT json_agg(json_build_array(
            id, name, email, phone, country, preferred_language, time_zone, created_at) ORDER BY id)
        FROM (
            SELECT id, name, email, phone, country, preferred_language, time_zone, created_at
            FROM customers WHERE tenant_id = $1 AND id = ANY($6::bigint[])
            UNION
            SELECT id, name, email, phone, country, preferred_language, time_zone, created_at
            FROM customers WHERE tenant_id = $1 AND lower(email) = ANY($7::text[])
        ) AS found) AS customers,
    (SELECT json_agg(json_build_array(bundle_sku_id, component_sku_id, quantity)
            ORDER BY bundle_sku_id, component_sku_id) FROM parts) AS parts,
    (SELECT json_agg(json_build_array(id, code, name, capabilities, country, transit_days_median, cost_minor)
            ORDER BY id) FROM serving) AS lanes,
    (SELECT json_agg(json_build_array(
            s.id, s.warehouse_id, s.sku_id, s.on_hand - s.reserved, s.batch_id, b.expires_on,
            coalesce((b.received_at AT TIME ZONE 'UTC')::date, b.manufactured_on)))
        FROM stock_levels AS s LEFT JOIN batches AS b ON b.id = s.batch_id AND b.tenant_id = $1
        WHERE s.sku_id = ANY(ARRAY(SELECT id FROM needed)) AND s.tenant_id = $1 AND s.on_hand > s.reserved
            AND s.warehouse_id = ANY(ARRAY(SELECT id FROM serving))) AS slots
"""

_IDS = """
SELECT
    (SELECT array_agg(nextval('customers_id_seq')) FROM generate_series(1, $1::int)) AS customers,
    (SELECT array_agg(nextval('orders_id_seq')) FROM generate_series(1, $2::int)) AS orders,
    (SELECT array_agg(nextval('order_lines_id_seq')) FROM generate_series(1, $3::int)) AS lines,
    (SELECT array_agg(nextval('shipment_groups_id_seq')) FROM generate_series(1, $4::int)) AS groups,
    (SELECT array_agg(nextval('allocations_id_seq')) FROM generate_series(1, $4::int)) AS allocations,
    (SELECT json_agg(number) FROM orders WHERE tenant_id = $5 AND number = ANY($6::text[])) AS taken,
    (SELECT json_agg(json_build_array(customer_id, warehouse_id, address_key, id) ORDER BY id)
        FROM shipment_groups
        WHERE tenant_id = $5 AND customer_id = ANY($7::bigint[]) AND is_open AND closes_at > $8
    ) AS open_groups
"""

_TAKEN = "SELECT json_agg(number) FROM orders WHERE tenant_id = $1 AND number = ANY($2::text[])"

_WRITE = """
WITH new_customers AS (
    INSERT INTO customers (id, tenant_id, name, email, phone, country, preferred_language, time_zone,
        created_at, updated_at)
    SELECT u.id, $1, u.name, u.email, u.phone, u.country, u.preferred_language, u.time_zone, $2, $2
    FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
        AS u (id, name, email, phone, country, preferred_language, time_zone)
), new_orders AS (
    INSERT INTO orders (id, tenant_id, number, customer_id, channel, status, currency, total_minor,
        shipping_address, country, live_session_id, host, external_ref, placed_at, created_at, updated_at)
    SELECT u.id, $1, u.number, u.customer_id, u.channel, u.status, u.currency, u.total_minor,
        u.shipping_address::json, u.country, u.live_session_id, u.host, u.external_ref, u.placed_at, $2, $2
    FROM unnest($10::bigint[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[],
            $16::bigint[], $17::text[], $18::text[], $19::bigint[], $20::text[], $21::text[],
            $22::timestamptz[])
        AS u (id, number, customer_id, channel, status, currency, total_minor, shipping_address, country,
            live_session_id, host, external_ref, placed_at)
), new_lines AS (
    INSERT INTO order_lines (id, tenant_id, order_id, sku_id, quantity, unit_price_minor, currency,
        backordered_quantity)
    SELECT u.id, $1, u.order_id, u.sku_id, u.quantity, u.unit_price_minor, u.currency,
        u.backordered_quantity
    FROM unnest($23::bigint[], $24::bigint[], $25::bigint[], $26::integer[], $27::bigint[], $28::text[],
            $29::integer[])
        AS u (id, order_id, sku_id, quantity, unit_price_minor, currency, backordered_quantity)
), new_groups AS (
    INSERT INTO shipment_groups (id, tenant_id, warehouse_id, customer_id, address_key, is_open, closes_at,
        created_at, updated_at)
    SELECT u.id, $1, u.warehouse_id, u.customer_id, u.address_key, u.is_open, u.closes_at, $2, $2
    FROM unnest($30::bigint[], $31::bigint[], $32::bigint[], $33::text[], $34::boolean[],
            $35::timestamptz[])
        AS u (id, warehouse_id, customer_id, address_key, is_open, closes_at)
), new_allocations AS (
    INSERT INTO allocations (id, tenant_id, order_id, warehouse_id, shipment_group_id, status, reason,
        transit_days, created_at, updated_at)
    SELECT u.id, $1, u.order_id, u.warehouse_id, u.shipment_group_id, u.status, u.reason, u.transit_days,
        $2, $2
    FROM unnest($36::bigint[], $37::bigint[], $38::bigint[], $39::bigint[], $40::text[], $41::text[],
            $42::integer[])
        AS u (id, order_id, warehouse_id, shipment_group_id, status, reason, transit_days)
), new_allocation_lines AS (
    INSERT INTO allocation_lines (tenant_id, allocation_id, order_line_id, stock_level_id, sku_id, batch_id,
        quantity)
    SELECT $1, u.allocation_id, u.order_line_id, u.stock_level_id, u.sku_id, u.batch_id, u.quantity
    FROM unnest($43::bigint[], $44::bigint[], $45::bigint[], $46::bigint[], $47::bigint[], $48::integer[])
        AS u (allocation_id, order_line_id, stock_level_id, sku_id, batch_id, quantity)
), new_events AS (
    INSERT INTO order_events (tenant_id, order_id, actor, action, details, created_at)
    SELECT $1, u.order_id, u.actor, u.action, u.details::json, $2
    FROM unnest($49::bigint[], $50::text[], $51::text[], $52::text[]) AS u (order_id, actor, action, details)
)
INSERT INTO outbox_events (tenant_id, topic, payload, status, due_at, dedupe_key, attempts, max_attempts,
    created_at)
SELECT $1, u.topic, u.payload::json, $53, u.due_at, u.dedupe_key, 0, $54, $2
FROM unnest($55::text[], $56::text[], $57::timestamptz[], $58::text[])
    AS u (topic, payload, due_at, dedupe_key)
"""

_ORDER_COLUMNS = (
    "number",
    "customer_id",
    "channel",
    "status",
    "currency",
    "total_minor",
    "shipping_address",
    "country",
    "live_session_id",
    "host",
    "external_ref",
    "placed_at",
)
_LINE_COLUMNS = (
    "order_id",
    "sku_id",
    "quantity",
    "unit_price_minor",
    "currency",
    "backordered_quantity",
)
_GROUP_COLUMNS = ("warehouse_id", "customer_id", "address_key", "is_open", "closes_at")
_ALLOCATION_COLUMNS = ("order_id", "warehouse_id", "shipment_group_id", "status", "reason", "transit_days")
_ALLOCATION_LINE_COLUMNS = (
    "allocation_id",
    "order_line_id",
    "stock_level_id",
    "sku_id",
    "batch_id",
    "quantity",
)
_CUSTOMER_COLUMNS = ("name", "email", "phone", "country", "preferred_language", "time_zone")
_MAX_ATTEMPTS = OutboxEvent.__table__.c.max_attempts.default.arg


async def driver_of(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session's transaction (which must have begun)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection) and driver.is_in_transaction()
    return driver


def _json(value: Any) -> list[Any]:
    """A JSON aggregate as Python (the driver may have decoded it already); none is an empty list."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def read_batch(session: AsyncSession, tenant_id: int, batch: list[BatchOrder]) -> tuple[Found, World]:
    """What `intake_reads.check_orders` and `read_world` read, in one statement (the world is read for
    every SKU the batch names, refused orders' included)."""
    wanted = Wanted.of(batch)
    row = await (await driver_of(session)).fetchrow(
        _READ,
        tenant_id,
        list(wanted.numbers),
        list(wanted.session_ids),
        list(wanted.sku_ids),
        list(wanted.sku_codes),
        list(wanted.customer_ids),
        list(wanted.emails),
        list(wanted.countries),
    )
    assert row is not None
    found = Found(
        taken=set(_json(row["taken"])),
        hosts={session_id: host for session_id, host in _json(row["hosts"])},
        skus=[SkuRow(*sku) for sku in _json(row["skus"])],
        customers=[
            CustomerOut(
                id=c[0],
                name=c[1],
                email=c[2],
                phone=c[3],
                country=c[4],
                preferred_language=c[5],
                time_zone=c[6],
                created_at=datetime.fromisoformat(c[7]),
            )
            for c in _json(row["customers"])
        ],
    )
    world = World({}, {}, [], {})
    add_lanes(world, _json(row["lanes"]))
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity in _json(row["parts"]):
        components[bundle_id].append((component_id, quantity))
    world.components = dict(components)
    world.slots = [
        StockSlot(level_id, warehouse_id, sku_id, available, batch_id, _day(expires), _day(received))
        for level_id, warehouse_id, sku_id, available, batch_id, expires, received in _json(row["slots"])
    ]
    return found, world


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in names]


async def write_batch(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    policy: OrderPolicy,
    after: Sequence[StockAfter],
    now: datetime,
) -> dict[int, list[WrittenAllocation]]:
    """Write the planned batch with its outbox events (`after`: the stock rows it reserved); order index →
    its allocations.

    Raises `NumberRaced` when a client's order number was taken by a transaction that committed since
    the batch was checked (the statement fails; the caller rolls back)."""
    driver = await driver_of(session)
    new_customers: dict[int, dict[str, Any]] = {}
    for order in batch:
        if isinstance(order.customer, dict):
            new_customers.setdefault(id(order.customer), order.customer)
    wanted = wanted_plans(batch)
    merge = policy.merge_window_minutes > 0
    known = [o.customer.id for o in batch if isinstance(o.customer, CustomerOut)] if merge else []
    day = number_day(now)
    for order in batch:
        order.number = order.data.number or new_number(day)
    ids = await driver.fetchrow(
        _IDS,
        len(new_customers),
        len(batch),
        sum(len(o.data.lines) for o in batch),
        len(wanted),
        tenant_id,
        [o.number for o in batch if o.data.number is None],
        known,
        now,
    )
    assert ids is not None
    await _draw_free_numbers(driver, tenant_id, batch, set(_json(ids["taken"])), day)

    made = {
        key: CustomerOut(id=customer_id, created_at=now, **fields)
        for (key, fields), customer_id in zip(new_customers.items(), ids["customers"] or [], strict=True)
    }
    for order, order_id in zip(batch, ids["orders"] or [], strict=True):
        order.order_id = order_id
        if isinstance(order.customer, dict):
            order.customer = made[id(order.customer)]
    provisional, lines = line_values(tenant_id, batch)
    real = dict(zip(provisional, ids["lines"] or [], strict=True))
    renumber_lines(batch, real)
    open_groups: dict[Ident, int] = {}
    for customer_id, warehouse_id, key, group_id in _json(ids["open_groups"]):
        open_groups.setdefault((customer_id, warehouse_id, key), group_id)
    new_groups, refs = assign_groups(wanted, open_groups, merge)
    fresh = list(ids["groups"] or [])
    group_ids = [fresh[ref] if new else ref for new, ref in refs]
    groups = group_values(tenant_id, new_groups, policy, now)
    allocations = allocation_values(tenant_id, wanted, group_ids, now)
    allocation_ids = list(ids["allocations"] or [])
    allocation_lines, written = allocation_line_values(tenant_id, wanted, allocation_ids, group_ids, real)
    audit = event_values(tenant_id, batch, now)
    events, jobs = announcements(tenant_id, batch, after, policy, now)
    outbox: list[tuple[str, dict[str, Any], datetime, str | None]] = [
        (topic, payload, now, None) for topic, payload in events
    ]
    outbox += jobs

    for order_row in (rows := [order_values(tenant_id, o, now) for o in batch]):
        order_row["channel"] = order_row["channel"].value
        order_row["status"] = order_row["status"].value
        order_row["shipping_address"] = json.dumps(order_row["shipping_address"])
    for allocation in allocations:
        allocation["status"] = allocation["status"].value
    try:
        await driver.execute(
            _WRITE,
            tenant_id,
            now,
            [made[key].id for key in new_customers],
            *_columns(list(new_customers.values()), _CUSTOMER_COLUMNS),
            [o.order_id for o in batch],
            *_columns(rows, _ORDER_COLUMNS),
            [real[line_id] for line_id in provisional],
            *_columns(lines, _LINE_COLUMNS),
            fresh[: len(new_groups)],
            *_columns(groups, _GROUP_COLUMNS),
            allocation_ids,
            *_columns(allocations, _ALLOCATION_COLUMNS),
            *_columns(allocation_lines, _ALLOCATION_LINE_COLUMNS),
            [row["order_id"] for row in audit],
            [row["actor"] for row in audit],
            [row["action"] for row in audit],
            [json.dumps(row["details"]) for row in audit],
            OutboxStatus.PENDING.value,
            _MAX_ATTEMPTS,
            [topic for topic, *_ in outbox],
            [json.dumps(payload) for _, payload, *_ in outbox],
            [due_at for _, _, due_at, _ in outbox],
            [key for *_, key in outbox],
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "uq_orders_tenant_number":
            raise NumberRaced("an order number given was taken meanwhile", field="number") from error
        raise
    wake_after_commit(session)
    return written


async def _draw_free_numbers(
    driver: asyncpg.Connection, tenant_id: int, batch: list[BatchOrder], taken: set[str], day: str
) -> None:
    """Draw again each generated number that is taken (or drawn twice in the batch)."""
    for _ in range(10):
        seen = {o.number for o in batch if o.data.number is not None}
        redrawn = []
        for order in batch:
            if order.data.number is None:
                if order.number in taken or order.number in seen:
                    order.number = new_number(day)
                    redrawn.append(order.number)
                seen.add(order.number)
        if not redrawn:
            return
        taken = set(_json(await driver.fetchval(_TAKEN, tenant_id, redrawn)))
    raise NumberRaced("could not find a free order number; try again")
