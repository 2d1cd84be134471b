"""The smallest order-intake server that still does the work of one order, for `make bench-ceiling`.

Not AfterSail: an upper bound for it. The same HTTP stack (uvicorn, FastAPI) and the same body schema
(`OrderCreate`), then group commit: the orders that arrive while the previous batch is being written go
to PostgreSQL together as ONE statement (a chain of data-modifying CTEs, autocommitted: one round trip
per batch) that reserves stock in id order and inserts the customer, order, lines, allocation and its
lines, two audit events and one outbox row. Left out, on purpose, so that the figure is a ceiling:
authentication, row-level security, idempotency keys, allocation reasons, lanes, batches, bundles,
re-planning under contention, and delivering the outbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import Response

from aftersail.orders.schemas import OrderCreate

SCHEMA = """
CREATE TABLE IF NOT EXISTS ceiling_stock (
    id bigint PRIMARY KEY, warehouse_id bigint NOT NULL, sku_id bigint NOT NULL,
    on_hand integer NOT NULL, reserved integer NOT NULL DEFAULT 0, updated_at timestamptz,
    CHECK (reserved <= on_hand));
CREATE TABLE IF NOT EXISTS ceiling_customers (
    id bigserial PRIMARY KEY, email text NOT NULL, name text NOT NULL, country text NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS ceiling_customers_email ON ceiling_customers (lower(email));
CREATE TABLE IF NOT EXISTS ceiling_orders (
    id bigserial PRIMARY KEY, number text NOT NULL UNIQUE,
    customer_id bigint NOT NULL REFERENCES ceiling_customers, status text NOT NULL, currency text NOT NULL,
    total_minor bigint NOT NULL, shipping_address jsonb NOT NULL, country text NOT NULL,
    live_session_id bigint, placed_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS ceiling_orders_customer ON ceiling_orders (customer_id);
CREATE TABLE IF NOT EXISTS ceiling_order_lines (
    id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES ceiling_orders, sku_id bigint NOT NULL,
    quantity integer NOT NULL, unit_price_minor bigint NOT NULL);
CREATE INDEX IF NOT EXISTS ceiling_order_lines_order ON ceiling_order_lines (order_id);
CREATE TABLE IF NOT EXISTS ceiling_allocations (
    id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES ceiling_orders,
    warehouse_id bigint NOT NULL, status text NOT NULL);
CREATE INDEX IF NOT EXISTS ceiling_allocations_order ON ceiling_allocations (order_id);
CREATE TABLE IF NOT EXISTS ceiling_allocation_lines (
    id bigserial PRIMARY KEY, allocation_id bigint NOT NULL REFERENCES ceiling_allocations,
    order_line_id bigint NOT NULL, stock_id bigint NOT NULL, quantity integer NOT NULL);
CREATE INDEX IF NOT EXISTS ceiling_allocation_lines_allocation ON ceiling_allocation_lines (allocation_id);
CREATE TABLE IF NOT EXISTS ceiling_order_events (
    id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES ceiling_orders, action text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS ceiling_order_events_order ON ceiling_order_events (order_id);
CREATE TABLE IF NOT EXISTS ceiling_outbox (
    id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
"""

PLACE_BATCH = """
WITH wanted AS (
    SELECT * FROM unnest($12::bigint[], $13::integer[]) AS w (id, units)
), locked AS (
    SELECT s.id FROM ceiling_stock AS s JOIN wanted AS w ON w.id = s.id ORDER BY s.id FOR UPDATE OF s
), moved AS (
    UPDATE ceiling_stock AS s SET reserved = s.reserved + w.units, updated_at = now()
    FROM wanted AS w
    WHERE s.id = w.id AND s.id IN (SELECT id FROM locked) AND s.on_hand - s.reserved >= w.units
    RETURNING s.id
), buyers AS (
    INSERT INTO ceiling_customers (email, name, country)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
    ON CONFLICT (lower(email)) DO UPDATE SET country = EXCLUDED.country
    RETURNING id, email
), placed AS (
    INSERT INTO ceiling_orders (number, customer_id, status, currency, total_minor, shipping_address, country)
    SELECT x.number, b.id, 'allocated', 'EUR', x.total, x.address::jsonb, x.country
    FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])
        AS x (number, email, total, address, country)
    JOIN buyers AS b ON b.email = x.email
    RETURNING id, number
), lines AS (
    INSERT INTO ceiling_order_lines (order_id, sku_id, quantity, unit_price_minor)
    SELECT p.id, y.sku_id, y.quantity, y.price
    FROM unnest($9::text[], $10::bigint[], $11::integer[], $16::bigint[])
        AS y (number, sku_id, quantity, price)
    JOIN placed AS p ON p.number = y.number
    RETURNING id, order_id, sku_id
), allocated AS (
    INSERT INTO ceiling_allocations (order_id, warehouse_id, status)
    SELECT p.id, z.warehouse_id, 'reserved'
    FROM unnest($4::text[], $14::bigint[]) AS z (number, warehouse_id) JOIN placed AS p ON p.number = z.number
    RETURNING id, order_id
), picked AS (
    INSERT INTO ceiling_allocation_lines (allocation_id, order_line_id, stock_id, quantity)
    SELECT a.id, l.id, k.stock_id, k.quantity
    FROM lines AS l
    JOIN allocated AS a ON a.order_id = l.order_id
    JOIN placed AS p ON p.id = l.order_id
    JOIN unnest($9::text[], $10::bigint[], $15::bigint[], $11::integer[])
        AS k (number, sku_id, stock_id, quantity)
        ON k.number = p.number AND k.sku_id = l.sku_id
), audited AS (
    INSERT INTO ceiling_order_events (order_id, action)
    SELECT p.id, v.action FROM placed AS p CROSS JOIN (VALUES ('created'), ('allocated')) AS v (action)
), announced AS (
    INSERT INTO ceiling_outbox (topic, payload)
    SELECT 'live.orders', jsonb_build_object('orders', (SELECT jsonb_agg(id) FROM placed))
)
SELECT p.id, p.number, (SELECT count(*) FROM moved) FROM placed AS p
"""

MAX_BATCH = 64


class Intake:
    """Group commit: one writer task per process drains whatever orders queued up meanwhile."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.queue: asyncio.Queue[tuple[OrderCreate, asyncio.Future[dict[str, Any]]]] = asyncio.Queue()

    async def place(self, data: OrderCreate) -> dict[str, Any]:
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((data, done))
        return await done

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self.queue.get_nowait())
            try:
                answers = await self._write([data for data, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for (_, done), answer in zip(batch, answers, strict=True):
                    done.set_result(answer)

    async def _write(self, orders: list[OrderCreate]) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            free: dict[int, dict[int, list[int]]] = {}
            skus = sorted({line.sku_id for order in orders for line in order.lines if line.sku_id})
            for stock_id, warehouse_id, sku_id, available in await conn.fetch(
                "SELECT id, warehouse_id, sku_id, on_hand - reserved FROM ceiling_stock"
                " WHERE sku_id = ANY($1::bigint[]) AND on_hand > reserved",
                skus,
            ):
                free.setdefault(warehouse_id, {})[sku_id] = [stock_id, available]
            buyers = {order.customer.email.lower(): order.customer for order in orders if order.customer}
            emails = sorted(buyers)
            numbers, totals, warehouses, moves = [], [], [], {}
            line_numbers, line_skus, line_units, line_stock, line_prices = [], [], [], [], []
            for order in orders:
                number = "AS-" + secrets.token_hex(6).upper()
                warehouse = next(
                    w
                    for w in sorted(free)
                    if all(free[w].get(ln.sku_id or 0, [0, 0])[1] >= ln.quantity for ln in order.lines)
                )
                numbers.append(number)
                totals.append(sum(ln.quantity * ln.unit_price_minor for ln in order.lines))
                warehouses.append(warehouse)
                for ln in order.lines:
                    slot = free[warehouse][ln.sku_id or 0]
                    slot[1] -= ln.quantity
                    moves[slot[0]] = moves.get(slot[0], 0) + ln.quantity
                    line_numbers.append(number)
                    line_skus.append(ln.sku_id)
                    line_units.append(ln.quantity)
                    line_stock.append(slot[0])
                    line_prices.append(ln.unit_price_minor)
            moved = sorted(moves.items())
            rows = await conn.fetch(
                PLACE_BATCH,
                emails,
                [buyers[e].name for e in emails],
                [buyers[e].country for e in emails],
                numbers,
                [order.customer.email.lower() for order in orders if order.customer],
                totals,
                [json.dumps(order.shipping_address.model_dump()) for order in orders],
                [order.shipping_address.country for order in orders],
                line_numbers,
                line_skus,
                line_units,
                [stock_id for stock_id, _ in moved],
                [units for _, units in moved],
                warehouses,
                line_stock,
                line_prices,
            )
        ids = {number: order_id for order_id, number, _ in rows}
        return [{"id": ids[number], "number": number, "status": "allocated"} for number in numbers]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["CEILING_DSN"], min_size=1, max_size=1)
    intake = Intake(pool)
    writer = asyncio.create_task(intake.run())
    app.state.intake = intake
    yield
    writer.cancel()
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/api/v1/orders")
async def create_order(request: Request) -> Response:
    data = OrderCreate.model_validate_json(await request.body())
    answer = await request.app.state.intake.place(data)
    return Response(json.dumps(answer), status_code=201, media_type="application/json")
