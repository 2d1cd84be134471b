"""`make bench-intake-cpu`: CPU time per order, in one process, without sockets or a load generator.

`make bench-allocation` measures throughput on a machine whose other tenants move its figures by a
quarter from one run to the next. To compare two versions of the intake path, this benchmark counts
the CPU time instead: on a fresh PostgreSQL database seeded like the allocation benchmark's (history
included), `--clients` concurrent tasks place `--orders` 3-line orders, either through the ASGI app
(`--through api`: middleware, routing, validation, group commit, the outbox dispatcher, answers) or
straight into the group-commit queue (`--through intake`). It prints the process's CPU time and
PostgreSQL's per order, and the orders per batch; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from aftersail.app import create_app
from aftersail.kit.config import Environment, Settings
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade
from aftersail.orders.intake import PlaceRequest
from aftersail.orders.intake_queue import OrderIntake
from aftersail.orders.schemas import OrderCreate
from benchmarks.allocation_seed import COUNTRIES, World, seed_history, seed_world
from benchmarks.harness import (
    DEFAULT_ADMIN_URL,
    cpu_seconds,
    postgres_backends,
    temporary_database,
    with_db,
)

BUYERS = 20_000


def order_body(world: World, rng: random.Random) -> dict[str, Any]:
    """A 3-line order of long-tail SKUs from one of the repeat buyers, as the wrk script sends."""
    buyer = rng.randrange(1, BUYERS + 1)
    country = COUNTRIES[buyer % len(COUNTRIES)]
    skus = rng.sample(world.cold_skus, 3)
    return {
        "customer": {
            "name": f"Buyer {buyer}",
            "email": f"buyer{buyer}-{country}@example.com",
            "country": country,
        },
        "currency": "EUR",
        "live_session_id": world.live_session_id,
        "shipping_address": {
            "name": f"Buyer {buyer}",
            "line1": f"{buyer} Market Street",
            "city": f"City {buyer % 97}",
            "postal_code": f"{buyer:05d}",
            "country": country,
        },
        "lines": [
            {"sku_id": sku, "quantity": rng.randint(1, 2) if n == 0 else 1, "unit_price_minor": 1999}
            for n, sku in enumerate(skus)
        ],
    }


async def place_through_api(
    url: str, world: World, orders: int, clients: int, workdir: Path
) -> dict[str, Any]:
    settings = Settings(
        env=Environment.PRODUCTION,
        secret_key=SecretStr(secrets.token_urlsafe(48)),
        database_url=url,
        data_dir=workdir / "data",
        log_level="WARNING",
        redis_url=None,
    )
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {world.api_key}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers, timeout=60
        ) as client,
    ):

        async def one(rng: random.Random) -> None:
            answer = await client.post("/api/v1/orders", json=order_body(world, rng))
            if answer.status_code != 201:
                raise SystemExit(f"order refused: {answer.status_code} {answer.text[:300]}")

        await _clients(one, orders // 10, clients)  # warm-up: connections, prepared statements
        intake: OrderIntake = app.state.services.extras["order_intake"]
        batches = intake.batches
        measured = await _measured(lambda: _clients(one, orders, clients))
        measured["batches"] = intake.batches - batches
    return measured


async def place_through_intake(url: str, world: World, orders: int, clients: int) -> dict[str, Any]:
    db = Database(url)
    intake = OrderIntake(db)
    try:

        async def one(rng: random.Random) -> None:
            request = PlaceRequest(
                data=OrderCreate.model_validate(order_body(world, rng)), key=None, actor="bench"
            )
            outcome = await intake.place(world.tenant_id, request)
            if isinstance(outcome, Exception):
                raise SystemExit(f"order refused: {outcome}")

        await _clients(one, orders // 10, clients)
        batches = intake.batches
        measured = await _measured(lambda: _clients(one, orders, clients))
        measured["batches"] = intake.batches - batches
    finally:
        await intake.close()
        await db.dispose()
    return measured


async def _clients(one: Any, orders: int, clients: int) -> None:
    """`clients` closed-loop tasks placing `orders` in all."""
    left = iter(range(orders))

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        for _ in left:
            await one(rng)

    await asyncio.gather(*(client(secrets.randbelow(1 << 30)) for _ in range(clients)))


async def _measured(run: Any) -> dict[str, Any]:
    backends = postgres_backends()
    started, process, database = time.monotonic(), time.process_time(), cpu_seconds(backends)
    await run()
    return {
        "seconds": time.monotonic() - started,
        "process_cpu_s": time.process_time() - process,
        "database_cpu_s": cpu_seconds(backends) - database,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("AFTERSAIL_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--through", choices=("api", "intake"), default="api")
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16, help="one server process's share of 32")
    parser.add_argument("--history", type=int, default=30_000)
    args = parser.parse_args()

    with (
        temporary_database(args.admin_url, "aftersail_cpu") as bench_db,
        tempfile.TemporaryDirectory(prefix="aftersail-cpu-") as tmp,
    ):
        upgrade(bench_db.url)
        world = with_db(bench_db.url, lambda db: seed_world(db, skus=200, hot=3))
        with_db(bench_db.url, lambda db: seed_history(db, world, orders=args.history))
        if args.through == "api":
            measured = asyncio.run(
                place_through_api(bench_db.url, world, args.orders, args.clients, Path(tmp))
            )
        else:
            measured = asyncio.run(place_through_intake(bench_db.url, world, args.orders, args.clients))

    orders = args.orders
    summary = {
        "through": args.through,
        "orders": orders,
        "clients": args.clients,
        "orders_per_batch": round(orders / max(measured["batches"], 1), 2),
        "process_cpu_ms_per_order": round(1000 * measured["process_cpu_s"] / orders, 3),
        "database_cpu_ms_per_order": round(1000 * measured["database_cpu_s"] / orders, 3),
        "orders_per_s": round(orders / measured["seconds"], 1),
    }
    print(
        f"{orders} orders through the {args.through} from {args.clients} concurrent tasks: "
        f"{summary['orders_per_batch']} per batch, CPU per order: this process "
        f"{summary['process_cpu_ms_per_order']} ms, PostgreSQL {summary['database_cpu_ms_per_order']} ms",
        file=sys.stderr,
    )
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
