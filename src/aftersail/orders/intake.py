"""Placing many orders in one transaction (group commit): the write path of order intake.

A live-stream sale sends hundreds of orders a second. Placing them one transaction each costs a commit and
some twenty round trips per order; `do_place_orders` places a whole batch with a fixed number of
statements: it reads what the batch needs, checks each order, plans each one with the pure rules against
free stock that earlier orders of the batch have already consumed, reserves every stock row the batch
touches in one conditional statement (rows in id order, as every writer takes them), then writes
customers, orders, lines, parcels, allocations, audit events and idempotency keys with one multi-row
INSERT each, and answers each order from the objects in hand.

Each order of a batch succeeds or fails on its own: an order that cannot be placed gets its error
(unknown SKU, number taken, stock exhausted under the reject policy, …) and leaves nothing behind; the
others go on. If free stock moved between the read and the reservation, the reservation is rolled back to
a savepoint and the batch is planned again on the rows locked in id order, where it cannot lose again.

On PostgreSQL the batch runs in three statements on the driver (`intake_pg`); on SQLite through the ORM
(this module, with `intake_reads` and `intake_writes`). `orders.intake_queue` collects concurrent API
requests into batches, placed on a connection of its own on PostgreSQL; `allocation.do_place_order`
places one order through `place_one`. The pieces: `intake_batch` (requests, outcomes, the batch's
working state, planning), `intake_reads`, `intake_rows` (the rows, for both dialects), `intake_writes`,
`intake_pg` and `intake_answers` (the outbox events and each caller's answer).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import reservations
from aftersail.catalog.reservations import StockAfter, StockContended
from aftersail.kit.clock import utcnow
from aftersail.kit.db import driver_connection, on_postgres
from aftersail.kit.errors import Conflict, DomainError
from aftersail.kit.outbox import wake_after_commit
from aftersail.orders import intake_pg
from aftersail.orders.intake_answers import announce, build_answers
from aftersail.orders.intake_batch import (
    SCOPE_ORDERS_CREATE,
    BatchOrder,
    Deferred,
    IdempotencyKeyReused,
    NumberRaced,
    Outcome,
    Placed,
    PlaceRequest,
    Replayed,
    World,
    plan_batch,
)
from aftersail.orders.intake_reads import check_orders, read_world, resolve_keys
from aftersail.orders.intake_writes import (
    claim_keys,
    finish_keys,
    write_allocations,
    write_customers,
    write_events,
    write_lines,
    write_orders,
)
from aftersail.orders.models import IdempotencyKey
from aftersail.orders.rules import OrderPolicy

__all__ = [
    "SCOPE_ORDERS_CREATE",
    "Deferred",
    "IdempotencyKeyReused",
    "NumberRaced",
    "Outcome",
    "PlaceRequest",
    "Placed",
    "Replayed",
    "do_place_orders",
    "place_one",
]


_SAVEPOINT = text("SAVEPOINT aftersail_intake")
_ROLLBACK_TO_SAVEPOINT = text("ROLLBACK TO SAVEPOINT aftersail_intake")


async def _reserve(
    session: AsyncSession,
    tenant_id: int,
    batch: list[BatchOrder],
    world: World,
    policy: OrderPolicy,
    outcomes: list[Outcome | None],
) -> list[StockAfter]:
    """Reserve what the plans pick; on a lost race, plan again on locked rows (cannot lose twice)."""
    moves = plan_batch(batch, world, policy, outcomes)
    if not moves:
        return []
    # The savepoint's rollback also lets go of the rows the lost attempt locked, so the locked re-plan
    # takes its locks in id order from nothing (holding some would risk a deadlock with another batch).
    await session.execute(_SAVEPOINT)
    try:
        return await reservations.do_reserve(session, tenant_id, list(moves.items()))
    except StockContended:
        await session.execute(_ROLLBACK_TO_SAVEPOINT)
    locked = await read_world(session, tenant_id, batch, lock=True)
    moves = plan_batch(batch, locked, policy, outcomes)
    return await reservations.do_reserve(session, tenant_id, list(moves.items())) if moves else []


async def do_place_orders(
    session: AsyncSession, tenant_id: int, requests: Sequence[PlaceRequest], *, policy: OrderPolicy
) -> list[Outcome]:
    """Place `requests` in the caller's transaction; one outcome per request, in order.

    Raises only for the whole batch (a database error, or `NumberRaced`); the caller rolls back and may
    place the requests again, one by one if need be."""
    if on_postgres(session):
        answered, wrote = await intake_pg.place_in_transaction(
            await driver_connection(session), tenant_id, requests, policy
        )
        if wrote:
            wake_after_commit(session)
        return answered
    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(requests)
    batch = [BatchOrder(index, request) for index, request in enumerate(requests)]
    await resolve_keys(session, tenant_id, batch, outcomes)

    def still(orders: list[BatchOrder]) -> list[BatchOrder]:
        return [o for o in orders if outcomes[o.index] is None]

    await check_orders(session, tenant_id, still(batch), outcomes)
    live = still(batch)
    if live:
        world = await read_world(session, tenant_id, live, lock=False)
        if any(o.request.key is not None for o in live):
            plan_batch(live, world, policy, outcomes)  # the rules' refusals claim no key
            await claim_keys(session, tenant_id, still(live), outcomes, now)
        claimed = still(live)
        after = await _reserve(session, tenant_id, claimed, world, policy, outcomes)
        refused = [
            o.key_row_id for o in claimed if outcomes[o.index] is not None and o.key_row_id is not None
        ]
        if refused:  # refused on the locked re-plan: the key goes with the order that was not placed
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(refused)))
        live = still(claimed)
        if live:
            await write_customers(session, tenant_id, live, now)
            await write_orders(session, tenant_id, live, now)
            real = await write_lines(session, tenant_id, live)
            written = await write_allocations(session, tenant_id, live, policy, real, now)
            await write_events(session, tenant_id, live, now)
            await announce(session, tenant_id, live, after, policy, now)
            await finish_keys(session, live)
            for index, placed in (await build_answers(session, tenant_id, live, written, world, now)).items():
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
