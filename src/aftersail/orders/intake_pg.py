"""Order intake on PostgreSQL: a batch placed in two statements on the driver, whatever its size.

1. `read_batch`: one SELECT of JSON aggregates reads everything the checks and the rules need — numbers
   taken (given and drawn), idempotency keys seen before, live sessions, SKUs, customers, bundles,
   serving lanes, free stock (locked in id order on a locked round), the buyers' open parcels — and
   takes ids for the new rows from their sequences;
2. `write_batch`: the stock reservation, all or nothing (`catalog.reservations.all_or_nothing`), and one
   chain of INSERTs (customers, orders, lines, parcels, allocations, allocation lines, audit events,
   idempotency keys, outbox events) whose rows already carry their ids, in one statement.

Every statement has one text for any number of orders (arrays, `= ANY`, `unnest`), so each is prepared
once per connection. A round that loses a race (stock moved since the read: `StockContended`; a number
or key written meanwhile: `BatchRaced`) is rolled back — to a savepoint inside a caller's transaction
(`place_in_transaction`), or whole on the intake writer's own connection (`place_on`) — and placed
again: after lost stock, on rows locked in id order, where it cannot lose again. See
docs/adr/0008-intake-writer-connection.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from aftersail.catalog.reservations import StockContended, all_or_nothing
from aftersail.catalog.rules import StockSlot
from aftersail.kit.clock import utcnow
from aftersail.kit.outbox_models import OutboxEvent, OutboxStatus
from aftersail.kit.owned_connection import OwnedConnection
from aftersail.orders.intake_answers import answer_orders, order_announcements, stock_heading
from aftersail.orders.intake_batch import (
    BatchOrder,
    BatchRaced,
    KeyRaced,
    NumberRaced,
    Outcome,
    PlaceRequest,
    SkuRow,
    World,
    plan_batch,
)
from aftersail.orders.intake_reads import Found, KeyRow, Wanted, add_lanes, judge_keys, judge_orders
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

MAX_ROUNDS = 4  # a round lost to stock is followed by a locked one, which cannot lose on stock

_READ = """
WITH matched AS (
    SELECT id, code, title, is_bundle FROM skus WHERE tenant_id = $1 AND id = ANY($4::bigint[])
    UNION
    SELECT id, code, title, is_bundle FROM skus WHERE tenant_id = $1 AND code = ANY($5::text[])
), parts AS (
    SELECT p.bundle_sku_id, p.component_sku_id, p.quantity, k.code
    FROM bundle_components AS p JOIN skus AS k ON k.id = p.component_sku_id AND k.tenant_id = $1
    WHERE p.tenant_id = $1 AND p.bundle_sku_id IN (SELECT id FROM matched WHERE is_bundle)
), needed AS (
    SELECT id FROM matched UNION SELECT component_sku_id FROM parts
), serving AS (
    SELECT w.id, w.code, w.name, w.capabilities, l.country, l.transit_days_median, l.cost_minor
    FROM warehouses AS w JOIN lanes AS l ON l.warehouse_id = w.id AND l.tenant_id = $1
    WHERE w.tenant_id = $1 AND w.is_active AND l.country = ANY($8::text[])
), free AS (
    SELECT s.id, s.warehouse_id, s.sku_id, s.on_hand - s.reserved AS available, s.batch_id
    FROM stock_levels AS s
    WHERE s.sku_id = ANY(ARRAY(SELECT id FROM needed)) AND s.tenant_id = $1 AND s.on_hand > s.reserved
        AND s.warehouse_id = ANY(ARRAY(SELECT id FROM serving))
    ORDER BY s.id{lock}
), buyers AS (
    SELECT id, name, email, phone, country, preferred_language, time_zone, created_at
    FROM customers WHERE tenant_id = $1 AND id = ANY($6::bigint[])
    UNION
    SELECT id, name, email, phone, country, preferred_language, time_zone, created_at
    FROM customers WHERE tenant_id = $1 AND lower(email) = ANY($7::text[])
)
SELECT
    (SELECT json_agg(number) FROM orders WHERE tenant_id = $1 AND number = ANY($2::text[])) AS taken,
    (SELECT json_agg(json_build_array(scope, key, request_hash, resource_id)) FROM idempotency_keys
        WHERE tenant_id = $1 AND key = ANY($9::text[])) AS keys,
    (SELECT json_agg(json_build_array(id, host)) FROM live_sessions
        WHERE tenant_id = $1 AND id = ANY($3::bigint[])) AS hosts,
    (SELECT json_agg(json_build_array(id, code, title, is_bundle)) FROM matched) AS skus,
    (SELECT json_agg(json_build_array(
            id, name, email, phone, country, preferred_language, time_zone, created_at) ORDER BY id)
        FROM buyers) AS customers,
    (SELECT json_agg(json_build_array(customer_id, warehouse_id, address_key, id) ORDER BY id)
        FROM shipment_groups
        WHERE $10 AND tenant_id = $1 AND customer_id IN (SELECT id FROM buyers) AND is_open
            AND closes_at > $11) AS open_groups,
    (SELECT json_agg(json_build_array(bundle_sku_id, component_sku_id, quantity, code)
            ORDER BY bundle_sku_id, component_sku_id) FROM parts) AS parts,
    (SELECT json_agg(json_build_array(id, code, name, capabilities, country, transit_days_median, cost_minor)
            ORDER BY id) FROM serving) AS lanes,
    (SELECT json_agg(json_build_array(
            f.id, f.warehouse_id, f.sku_id, f.available, f.batch_id, b.expires_on,
            coalesce((b.received_at AT TIME ZONE 'UTC')::date, b.manufactured_on), b.code))
        FROM free AS f LEFT JOIN batches AS b ON b.id = f.batch_id AND b.tenant_id = $1) AS slots,
    (SELECT array_agg(nextval('customers_id_seq')) FROM generate_series(1, $12::int)) AS customer_ids,
    (SELECT array_agg(nextval('orders_id_seq')) FROM generate_series(1, $13::int)) AS order_ids,
    (SELECT array_agg(nextval('order_lines_id_seq')) FROM generate_series(1, $14::int)) AS line_ids,
    (SELECT array_agg(nextval('shipment_groups_id_seq')) FROM generate_series(1, $15::int)) AS group_ids,
    (SELECT array_agg(nextval('allocations_id_seq')) FROM generate_series(1, $15::int)) AS allocation_ids
"""
_READ_FREE = _READ.replace("{lock}", "")
_READ_LOCKED = _READ.replace("{lock}", " FOR UPDATE OF s")

# More parcels and allocations than one per order (orders split across warehouses): rare.
_MORE_IDS = """
SELECT
    (SELECT array_agg(nextval('shipment_groups_id_seq')) FROM generate_series(1, $1::int)) AS group_ids,
    (SELECT array_agg(nextval('allocations_id_seq')) FROM generate_series(1, $1::int)) AS allocation_ids
"""

_TAKEN = "SELECT json_agg(number) FROM orders WHERE tenant_id = $1 AND number = ANY($2::text[])"

# The whole write of a batch, reservation included, as one statement: it locks the stock rows the plans
# pick in id order (the order every writer takes them) and, only if each still has the units, moves
# them and inserts every row; else it writes nothing and answers `ok = false` (a lost race). Run alone
# (autocommitted) its locks last only while it runs. Each table's rows come as one JSON array of objects:
# far cheaper to send than one array parameter per column, and cheaper for PostgreSQL to read too. The
# `live.stock` event and the stock alerts are built here from the rows as moved, with the payloads of
# `catalog.stock_events` (level_payload, stock_alerts); the outbox rows keep the batch's order:
# `live.orders`, `live.stock`, alerts, release jobs.
_WRITE = (
    all_or_nothing("$14::bigint[]", "$15::integer[]", "$1")
    + """
, moved AS (
    UPDATE stock_levels AS s SET reserved = s.reserved + w.units, updated_at = $2
    FROM wanted AS w
    WHERE s.id = w.id AND s.tenant_id = $1 AND (SELECT ok FROM verdict)
    RETURNING s.id, s.warehouse_id, s.sku_id, s.on_hand, s.reserved, s.low_stock_threshold
), new_customers AS (
    INSERT INTO customers (id, tenant_id, name, email, phone, country, preferred_language, time_zone,
        created_at, updated_at)
    SELECT u.id, $1, u.name, u.email, u.phone, u.country, u.preferred_language, u.time_zone, $2, $2
    FROM json_to_recordset($3::json) AS u (id bigint, name text, email text, phone text, country text,
        preferred_language text, time_zone text)
    WHERE (SELECT ok FROM verdict)
), new_orders AS (
    INSERT INTO orders (id, tenant_id, number, customer_id, channel, status, currency, total_minor,
        shipping_address, country, live_session_id, host, external_ref, placed_at, created_at, updated_at)
    SELECT u.id, $1, u.number, u.customer_id, u.channel, u.status, u.currency, u.total_minor,
        u.shipping_address, u.country, u.live_session_id, u.host, u.external_ref, u.placed_at, $2, $2
    FROM json_to_recordset($4::json) AS u (id bigint, number text, customer_id bigint, channel text,
        status text, currency text, total_minor bigint, shipping_address json, country text,
        live_session_id bigint, host text, external_ref text, placed_at timestamptz)
    WHERE (SELECT ok FROM verdict)
), new_lines AS (
    INSERT INTO order_lines (id, tenant_id, order_id, sku_id, quantity, unit_price_minor, currency,
        backordered_quantity)
    SELECT u.id, $1, u.order_id, u.sku_id, u.quantity, u.unit_price_minor, u.currency,
        u.backordered_quantity
    FROM json_to_recordset($5::json) AS u (id bigint, order_id bigint, sku_id bigint, quantity integer,
        unit_price_minor bigint, currency text, backordered_quantity integer)
    WHERE (SELECT ok FROM verdict)
), new_groups AS (
    INSERT INTO shipment_groups (id, tenant_id, warehouse_id, customer_id, address_key, is_open, closes_at,
        created_at, updated_at)
    SELECT u.id, $1, u.warehouse_id, u.customer_id, u.address_key, u.is_open, u.closes_at, $2, $2
    FROM json_to_recordset($6::json) AS u (id bigint, warehouse_id bigint, customer_id bigint,
        address_key text, is_open boolean, closes_at timestamptz)
    WHERE (SELECT ok FROM verdict)
), new_allocations AS (
    INSERT INTO allocations (id, tenant_id, order_id, warehouse_id, shipment_group_id, status, reason,
        transit_days, created_at, updated_at)
    SELECT u.id, $1, u.order_id, u.warehouse_id, u.shipment_group_id, u.status, u.reason, u.transit_days,
        $2, $2
    FROM json_to_recordset($7::json) AS u (id bigint, order_id bigint, warehouse_id bigint,
        shipment_group_id bigint, status text, reason text, transit_days integer)
    WHERE (SELECT ok FROM verdict)
), new_allocation_lines AS (
    INSERT INTO allocation_lines (tenant_id, allocation_id, order_line_id, stock_level_id, sku_id, batch_id,
        quantity)
    SELECT $1, u.allocation_id, u.order_line_id, u.stock_level_id, u.sku_id, u.batch_id, u.quantity
    FROM json_to_recordset($8::json) AS u (allocation_id bigint, order_line_id bigint,
        stock_level_id bigint, sku_id bigint, batch_id bigint, quantity integer)
    WHERE (SELECT ok FROM verdict)
), new_events AS (
    INSERT INTO order_events (tenant_id, order_id, actor, action, details, created_at)
    SELECT $1, u.order_id, u.actor, u.action, u.details, $2
    FROM json_to_recordset($9::json) AS u (order_id bigint, actor text, action text, details json)
    WHERE (SELECT ok FROM verdict)
), new_keys AS (
    INSERT INTO idempotency_keys (tenant_id, scope, key, request_hash, resource_id, created_at)
    SELECT $1, u.scope, u.key, u.request_hash, u.resource_id, $2
    FROM json_to_recordset($10::json) AS u (scope text, key text, request_hash text, resource_id bigint)
    WHERE (SELECT ok FROM verdict)
), announced AS (
    INSERT INTO outbox_events (tenant_id, topic, payload, status, due_at, dedupe_key, attempts,
        max_attempts, created_at)
    SELECT $1, e.topic, e.payload, $11, e.due_at, e.dedupe_key, 0, $12, $2
    FROM (
        SELECT u.rank, u.seq, u.topic, u.payload, u.due_at, u.dedupe_key
        FROM json_to_recordset($13::json) AS u (rank integer, seq bigint, topic text, payload json,
            due_at timestamptz, dedupe_key text)
        UNION ALL
        SELECT 2, 0, 'live.stock',
            json_build_object('order_ids', $16::json, 'live_session_id', $17::bigint, 'at', $18::text,
                'levels', m.levels),
            $2, NULL
        FROM (
            SELECT json_agg(json_build_object('stock_level_id', id, 'warehouse_id', warehouse_id,
                'sku_id', sku_id, 'on_hand', on_hand, 'reserved', reserved, 'available', on_hand - reserved)
                ORDER BY id) AS levels
            FROM moved
        ) AS m
        WHERE m.levels IS NOT NULL
        UNION ALL
        SELECT 3, id, CASE WHEN on_hand - reserved = 0 THEN 'stock.sold_out' ELSE 'stock.low' END,
            json_build_object('stock_level_id', id, 'warehouse_id', warehouse_id, 'sku_id', sku_id,
                'available', on_hand - reserved, 'threshold', low_stock_threshold),
            $2, NULL
        FROM moved WHERE on_hand - reserved <= low_stock_threshold
    ) AS e
    WHERE (SELECT ok FROM verdict)
    ORDER BY e.rank, e.seq
)
SELECT ok FROM verdict
"""
)

_MAX_ATTEMPTS = OutboxEvent.__table__.c.max_attempts.default.arg
_UNIQUE_RACES: dict[str, type[BatchRaced]] = {
    "uq_orders_tenant_number": NumberRaced,
    "uq_idempotency_keys_scope_key": KeyRaced,
}


@dataclass(slots=True)
class BatchRead:
    """What one round of a batch read: the checks' findings, the rules' world, and ids for new rows."""

    found: Found
    world: World
    keys: dict[tuple[str, str], KeyRow]
    open_groups: dict[Ident, int]
    codes: dict[int, str]  # SKU id → code, bundle components included
    batch_codes: dict[int, str]
    customer_ids: list[int] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    line_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    allocation_ids: list[int] = field(default_factory=list)


def _json(value: Any) -> list[Any]:
    """A JSON aggregate as Python (decoded by the connection's codec, or text); none is an empty list."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def read_batch(
    driver: asyncpg.Connection,
    tenant_id: int,
    batch: list[BatchOrder],
    policy: OrderPolicy,
    now: datetime,
    *,
    lock: bool,
) -> BatchRead:
    """Everything one round of `batch` reads, in one statement (with `lock`, the free stock rows stay
    locked until the transaction or savepoint ends). Each order's number is set (drawn when not given)."""
    wanted = Wanted.of(batch)
    row = await driver.fetchrow(
        _READ_LOCKED if lock else _READ_FREE,
        tenant_id,
        [o.number for o in batch],
        list(wanted.session_ids),
        list(wanted.sku_ids),
        list(wanted.sku_codes),
        list(wanted.customer_ids),
        list(wanted.emails),
        list(wanted.countries),
        list({o.request.key for o in batch if o.request.key is not None}),
        policy.merge_window_minutes > 0,
        now,
        len(wanted.emails),
        len(batch),
        sum(len(o.data.lines) for o in batch),
        len(batch),
    )
    assert row is not None
    found = Found(
        taken=set(_json(row["taken"])),
        hosts={session_id: host for session_id, host in _json(row["hosts"])},
        skus=[SkuRow(*sku) for sku in _json(row["skus"])],
        customers=[
            CustomerOut.model_construct(
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
    codes = {sku.id: sku.code for sku in found.skus}
    components: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for bundle_id, component_id, quantity, code in _json(row["parts"]):
        components[bundle_id].append((component_id, quantity))
        codes[component_id] = code
    world.components = dict(components)
    batch_codes: dict[int, str] = {}
    for level_id, warehouse_id, sku_id, available, batch_id, expires, received, code in _json(row["slots"]):
        world.slots.append(
            StockSlot(level_id, warehouse_id, sku_id, available, batch_id, _day(expires), _day(received))
        )
        if batch_id is not None:
            batch_codes[batch_id] = code
    open_groups: dict[Ident, int] = {}
    for customer_id, warehouse_id, key, group_id in _json(row["open_groups"]):
        open_groups.setdefault((customer_id, warehouse_id, key), group_id)
    return BatchRead(
        found=found,
        world=world,
        keys={(scope, key): (digest, order_id) for scope, key, digest, order_id in _json(row["keys"])},
        open_groups=open_groups,
        codes=codes,
        batch_codes=batch_codes,
        customer_ids=list(row["customer_ids"] or []),
        order_ids=list(row["order_ids"] or []),
        line_ids=list(row["line_ids"] or []),
        group_ids=list(row["group_ids"] or []),
        allocation_ids=list(row["allocation_ids"] or []),
    )


async def place_round(
    driver: asyncpg.Connection,
    tenant_id: int,
    requests: Sequence[PlaceRequest],
    policy: OrderPolicy,
    *,
    lock: bool,
) -> tuple[list[Outcome], bool]:
    """One round of the batch, autocommitted or in the caller's transaction (savepoint): its outcomes,
    and whether it wrote anything. Raises `StockContended` (nothing written: the stock it planned on
    moved) or `BatchRaced` (the statement failed on a number or key written meanwhile); the caller rolls
    back if it is in a transaction, and plays another round."""
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(requests)
    batch = [BatchOrder(index, request) for index, request in enumerate(requests)]
    day = number_day(now)
    for order in batch:
        order.number = order.data.number or new_number(day)
    read = await read_batch(driver, tenant_id, batch, policy, now, lock=lock)

    def still(orders: list[BatchOrder]) -> list[BatchOrder]:
        return [o for o in orders if outcomes[o.index] is None]

    judge_keys(batch, read.keys, outcomes)
    judge_orders(still(batch), read.found, outcomes)
    live = still(batch)
    await _draw_free_numbers(driver, tenant_id, live, read.found.taken, day)
    moves = plan_batch(live, read.world, policy, outcomes)
    live = still(live)
    if live:
        written = await write_batch(driver, tenant_id, live, policy, moves, now, read)
        placed = answer_orders(live, written, read.world, read.codes, read.batch_codes, now)
        for index, answer in placed.items():
            outcomes[index] = answer
    done: list[Outcome] = []
    for outcome in outcomes:
        assert outcome is not None, "every request of the batch is answered"
        done.append(outcome)
    return done, bool(live)


async def _rounds(
    play: Callable[[bool], Awaitable[tuple[list[Outcome], bool]]],
) -> tuple[list[Outcome], bool]:
    """Play rounds until one is not lost: after a round lost on stock, the next locks the rows it reads."""
    lock = False
    for attempt in range(1, MAX_ROUNDS + 1):
        try:
            return await play(lock)
        except StockContended:
            if attempt == MAX_ROUNDS:
                raise
            lock = True
        except BatchRaced:
            if attempt == MAX_ROUNDS:
                raise
    raise AssertionError("unreachable")


async def place_in_transaction(
    driver: asyncpg.Connection, tenant_id: int, requests: Sequence[PlaceRequest], policy: OrderPolicy
) -> tuple[list[Outcome], bool]:
    """The batch inside the caller's transaction, each round under a savepoint (rolled back when lost,
    which also lets go of the rows it locked); its outcomes, and whether it wrote anything."""

    async def play(lock: bool) -> tuple[list[Outcome], bool]:
        await driver.execute("SAVEPOINT aftersail_intake")
        try:
            return await place_round(driver, tenant_id, requests, policy, lock=lock)
        except (StockContended, BatchRaced):
            await driver.execute("ROLLBACK TO SAVEPOINT aftersail_intake")
            raise

    return await _rounds(play)


async def place_on(
    owned: OwnedConnection, tenant_id: int, requests: Sequence[PlaceRequest], policy: OrderPolicy
) -> tuple[list[Outcome], bool]:
    """The batch on the intake writer's own connection, committed before this returns: a read and a write
    statement, each autocommitted (the write is all or nothing); after a round lost on stock, a
    transaction that reads the rows locked. Its outcomes, and whether it wrote anything."""

    async def play(lock: bool) -> tuple[list[Outcome], bool]:
        if lock:
            async with owned.transaction(tenant_id=tenant_id) as driver:
                return await place_round(driver, tenant_id, requests, policy, lock=True)
        async with owned.run(tenant_id=tenant_id) as driver:
            return await place_round(driver, tenant_id, requests, policy, lock=False)

    return await _rounds(play)


# The columns each table's JSON carries: what `_WRITE` reads of it (the rows hold more, for SQLite's ORM).
_ORDER_KEYS = (
    "id",
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
_LINE_KEYS = ("id", "order_id", "sku_id", "quantity", "unit_price_minor", "currency", "backordered_quantity")
_GROUP_KEYS = ("id", "warehouse_id", "customer_id", "address_key", "is_open", "closes_at")
_ALLOCATION_KEYS = (
    "id",
    "order_id",
    "warehouse_id",
    "shipment_group_id",
    "status",
    "reason",
    "transit_days",
)
_EVENT_KEYS = ("order_id", "actor", "action", "details")


def _rows(rows: Sequence[dict[str, Any]], keys: Sequence[str] | None = None) -> str:
    """A table's rows (with only `keys`, if given) as the JSON text `json_to_recordset` reads; times in
    ISO 8601, with their offset."""
    if keys is not None:
        rows = [{key: row[key] for key in keys} for row in rows]
    return json.dumps(rows, default=_iso, separators=(",", ":"), ensure_ascii=False)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


async def write_batch(
    driver: asyncpg.Connection,
    tenant_id: int,
    batch: list[BatchOrder],
    policy: OrderPolicy,
    moves: dict[int, int],
    now: datetime,
    read: BatchRead,
) -> dict[int, list[WrittenAllocation]]:
    """Reserve `moves` (stock row id → units) and write the planned batch with its keys and outbox
    events, all or nothing; order index → its allocations. Raises `StockContended` when a row no longer
    has the units (nothing was written), `BatchRaced` when a number or key was written meanwhile."""
    new_customers: dict[int, dict[str, Any]] = {}
    for order in batch:
        if isinstance(order.customer, dict):
            new_customers.setdefault(id(order.customer), order.customer)
    assert len(read.customer_ids) >= len(new_customers) and len(read.order_ids) >= len(batch)
    made = {
        key: CustomerOut.model_construct(id=customer_id, created_at=now, **fields)
        for (key, fields), customer_id in zip(new_customers.items(), read.customer_ids, strict=False)
    }
    for order, order_id in zip(batch, read.order_ids, strict=False):
        order.order_id = order_id
        if isinstance(order.customer, dict):
            order.customer = made[id(order.customer)]
    provisional, lines = line_values(tenant_id, batch)
    assert len(read.line_ids) >= len(provisional)
    real = dict(zip(provisional, read.line_ids, strict=False))
    renumber_lines(batch, real)
    for line, line_id in zip(lines, read.line_ids, strict=False):
        line["id"] = line_id
    wanted = wanted_plans(batch)
    new_groups, refs = assign_groups(wanted, read.open_groups, policy.merge_window_minutes > 0)
    fresh, allocation_ids = read.group_ids, read.allocation_ids
    if len(new_groups) > len(fresh) or len(wanted) > len(allocation_ids):
        more = await driver.fetchrow(_MORE_IDS, max(len(new_groups), len(wanted)))
        assert more is not None
        fresh, allocation_ids = fresh + list(more["group_ids"]), allocation_ids + list(more["allocation_ids"])
    group_ids = [fresh[ref] if new else ref for new, ref in refs]
    groups = group_values(tenant_id, new_groups, policy, now)
    for group, group_id in zip(groups, fresh, strict=False):
        group["id"] = group_id
    allocations = allocation_values(tenant_id, wanted, group_ids, now)
    allocation_ids = allocation_ids[: len(wanted)]
    for allocation, allocation_id in zip(allocations, allocation_ids, strict=True):
        allocation["id"] = allocation_id
    allocation_lines, written = allocation_line_values(tenant_id, wanted, allocation_ids, group_ids, real)
    (topic, placed), jobs = order_announcements(tenant_id, batch, policy, now)
    outbox = [{"rank": 1, "seq": 0, "topic": topic, "payload": placed, "due_at": now}]
    outbox += [
        {"rank": 4, "seq": seq, "topic": topic, "payload": payload, "due_at": due_at, "dedupe_key": key}
        for seq, (topic, payload, due_at, key) in enumerate(jobs)
    ]
    heading = stock_heading(batch, now)
    reserved = sorted(moves.items())  # id order
    orders = []
    for order in batch:
        row = order_values(tenant_id, order, now)
        row["id"] = order.order_id
        orders.append(row)
    keys = [
        {
            "scope": o.request.scope,
            "key": o.request.key,
            "request_hash": o.request.digest or "",
            "resource_id": o.order_id,
        }
        for o in batch
        if o.request.key is not None
    ]
    customers = [{**fields, "id": made[key].id} for key, fields in new_customers.items()]
    try:
        ok = await driver.fetchval(
            _WRITE,
            tenant_id,
            now,
            _rows(customers),
            _rows(orders, _ORDER_KEYS),
            _rows(lines, _LINE_KEYS),
            _rows(groups, _GROUP_KEYS),
            _rows(allocations, _ALLOCATION_KEYS),
            _rows(allocation_lines),
            _rows(event_values(tenant_id, batch, now), _EVENT_KEYS),
            _rows(keys),
            OutboxStatus.PENDING.value,
            _MAX_ATTEMPTS,
            _rows(outbox),
            [stock_level_id for stock_level_id, _ in reserved],
            [units for _, units in reserved],
            json.dumps(heading["order_ids"]),
            heading["live_session_id"],
            heading["at"],
        )
    except asyncpg.UniqueViolationError as error:
        raced = _UNIQUE_RACES.get(error.constraint_name or "")
        if raced is None:
            raise
        raise raced("written meanwhile by another request; placed again") from error
    if not ok:
        raise StockContended("stock changed while reserving; try again")
    return written


async def _draw_free_numbers(
    driver: asyncpg.Connection, tenant_id: int, batch: list[BatchOrder], taken: set[str], day: str
) -> None:
    """Draw again each drawn number that is taken (or drawn twice in the batch)."""
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
