"""Demo returns: a few per cent of the delivered demo orders sent back through the real returns service, so
that the console has cases in every state and the returns cost report has something to say.

Clothes come back most ("doesn't fit"), one electronics batch is faulty (it stands out in the report by
batch), and the rest is the usual trickle of damage, wrong items and changes of mind. How far a return got
depends on its age at DEMO_NOW: recent ones wait for review or for the parcel; older ones are received,
graded and refunded (or exchanged). Everything is drawn from one seeded `random.Random`, in a fixed order.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Sku
from aftersail.demo.sellers import DEMO_NOW
from aftersail.demo.shipments import write_shipments
from aftersail.kit.clock import as_utc
from aftersail.orders.models import AllocationLine, Customer, Order, OrderLine, OrderStatus
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import Disposition, RefundStatus, ReturnRequest
from aftersail.returns.rules import Reason, Resolution, ReturnStatus
from aftersail.support.models import Ticket
from aftersail.tenants.models import Role, Tenant, User

APPAREL_RATE = 0.04  # orders with clothes sent back because they do not fit
FAULTY_BATCH_RATE = 0.6  # orders with a unit of the bad batch sent back as defective
OTHER_RATE = 0.008  # any other delivered order
EXCHANGE_SHARE = 0.3  # of the fit returns: another size rather than the money
REVIEW_APPROVES = 0.8  # a person approves most requests the policy sent for review
KEEP_OFFER_TAKEN = 0.6  # of the damaged items: the buyer keeps it for part of the money back
BENCH_BACKLOG = 0.5  # parcels in during the last week still waiting at the grading bench
RECENT = timedelta(days=21)  # a return asked for since then may still be on its way
RECENT_BOOST = 3
MAX_RETURNS = 40  # per seller: enough to show every state; each one goes through the whole service
SHORT_PARCEL = 0.05  # a parcel with fewer units than announced (graded, money waits for a person)
OTHER_REASONS = (
    (Reason.CHANGED_MIND, 45),
    (Reason.DAMAGED, 20),
    (Reason.NOT_AS_DESCRIBED, 15),
    (Reason.WRONG_ITEM, 10),
    (Reason.DEFECTIVE, 10),
)
GRADES = {  # reason → ((grade, disposition), weight)
    Reason.DOES_NOT_FIT: (((Grade.A, Disposition.RESTOCK), 70), ((Grade.B, Disposition.RESTOCK), 30)),
    Reason.CHANGED_MIND: (((Grade.A, Disposition.RESTOCK), 60), ((Grade.B, Disposition.RESTOCK), 40)),
    Reason.DEFECTIVE: (
        ((Grade.C, Disposition.REFURBISH), 40),
        ((Grade.D, Disposition.RETURN_TO_SUPPLIER), 60),
    ),
    Reason.DAMAGED: (((Grade.C, Disposition.LIQUIDATE), 50), ((Grade.D, Disposition.DESTROY), 50)),
}
T = TypeVar("T")
# The states a demo return ends in (the summary lists each, for every seller).
SHOWN_STATUSES = (
    ReturnStatus.REQUESTED,
    ReturnStatus.APPROVED,
    ReturnStatus.RECEIVED,
    ReturnStatus.GRADED,
    ReturnStatus.REFUNDED,
    ReturnStatus.KEEP_REFUNDED,
    ReturnStatus.EXCHANGED,
    ReturnStatus.REJECTED,
)
DEFAULT_GRADES = (((Grade.A, Disposition.RESTOCK), 50), ((Grade.B, Disposition.RESTOCK), 50))


@dataclass(frozen=True, slots=True)
class _Line:
    id: int
    sku_id: int
    product_id: int
    category: str
    quantity: int
    batch_id: int | None


def _pick(rng: random.Random, table: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([item for item, _ in table], weights=[weight for _, weight in table])[0]


async def _faulty_batch(session: AsyncSession, tenant_id: int) -> int | None:
    """The electronics batch shipped most, where a bad lot hurts most (None: the seller sells none)."""
    rows = (
        await session.execute(
            select(AllocationLine.batch_id, Sku.category, func.sum(AllocationLine.quantity))
            .join(Sku, Sku.id == AllocationLine.sku_id)
            .where(AllocationLine.tenant_id == tenant_id, AllocationLine.batch_id.is_not(None))
            .group_by(AllocationLine.batch_id, Sku.category)
        )
    ).all()
    ranked = sorted(
        (r for r in rows if r[1].startswith("electronics")), key=lambda r: (-int(r[2] or 0), r[0])
    )
    return ranked[0][0] if ranked else None


async def _staff(session: AsyncSession, tenant_id: int) -> tuple[str, str]:
    """Actors: who reviews (an agent, else the admin) and who receives parcels (a warehouse operator)."""
    users = (await session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id))).all()
    by_role = {user.role: user for user in reversed(users)}
    agent = by_role.get(Role.AGENT) or by_role.get(Role.ADMIN) or users[0]
    operator = by_role.get(Role.WAREHOUSE) or agent
    return f"user:{agent.id}", f"user:{operator.id}"


async def write_returns(
    session: AsyncSession, slug: str, *, seed: int, files_dir: Path | None = None
) -> dict[str, int]:
    """Shipments, then returns, for the demo seller `slug`; counts for the loader's summary. Return labels are
    kept in `files_dir` (the data directory), or thrown away when it is None (tests)."""
    tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tenant_id is not None, slug
    rng = random.Random(f"{seed}:{slug}:returns")
    shipments = await write_shipments(session, tenant_id, random.Random(f"{seed}:{slug}:shipments"))
    if files_dir is None:
        with tempfile.TemporaryDirectory(prefix="aftersail-demo-") as scratch:
            made = await _write_returns(session, tenant_id, rng, Path(scratch))
    else:
        made = await _write_returns(session, tenant_id, rng, files_dir)
    return {"shipments": shipments, "returns": sum(made.values())} | {
        f"returns {status.value}": made[status] for status in SHOWN_STATUSES
    }


async def _write_returns(
    session: AsyncSession, tenant_id: int, rng: random.Random, files_dir: Path
) -> Counter[ReturnStatus]:
    bad_batch = await _faulty_batch(session, tenant_id)
    reviewer, operator = await _staff(session, tenant_id)
    orders = (
        await session.scalars(
            select(Order)
            .where(Order.tenant_id == tenant_id, Order.status == OrderStatus.DELIVERED)
            .order_by(Order.placed_at, Order.id)
        )
    ).all()
    shipped_batch = dict(
        (
            await session.execute(
                select(AllocationLine.order_line_id, AllocationLine.batch_id).where(
                    AllocationLine.tenant_id == tenant_id
                )
            )
        ).all()
    )
    lines: dict[int, list[_Line]] = {}
    for line_id, order_id, sku_id, product_id, category, quantity in (
        await session.execute(
            select(OrderLine.id, OrderLine.order_id, Sku.id, Sku.product_id, Sku.category, OrderLine.quantity)
            .join(Sku, Sku.id == OrderLine.sku_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.tenant_id == tenant_id, Order.status == OrderStatus.DELIVERED)
            .order_by(OrderLine.id)
        )
    ).all():
        lines.setdefault(order_id, []).append(
            _Line(line_id, sku_id, product_id, category, quantity, shipped_batch.get(line_id))
        )
    sizes: dict[int, list[int]] = {}  # product → its SKUs (another size for an exchange)
    for sku_id, product_id in (
        await session.execute(
            select(Sku.id, Sku.product_id)
            .where(Sku.tenant_id == tenant_id, Sku.is_bundle.is_(False))
            .order_by(Sku.id)
        )
    ).all():
        sizes.setdefault(product_id, []).append(sku_id)
    languages = dict(
        (
            await session.execute(
                select(Customer.id, Customer.preferred_language).where(Customer.tenant_id == tenant_id)
            )
        ).all()
    )
    # Orders the support demo already has a case about stay out: a return would join (and reopen) that case.
    discussed = set(
        await session.scalars(
            select(Ticket.order_id).where(Ticket.tenant_id == tenant_id, Ticket.order_id.is_not(None))
        )
    )
    asked: list[tuple[Order, returns.ReturnAsk, datetime]] = []
    for order in orders:
        if order.id in discussed:
            continue
        order_lines = lines.get(order.id, [])
        apparel = [line for line in order_lines if line.category.startswith("apparel")]
        faulty = [line for line in order_lines if bad_batch is not None and line.batch_id == bad_batch]
        draws = (rng.random(), rng.random(), rng.random())
        # Recent deliveries come back more often in the snapshot: their returns are the ones still moving.
        boost = RECENT_BOOST if DEMO_NOW - as_utc(order.updated_at) < RECENT else 1
        if faulty and draws[0] < FAULTY_BATCH_RATE:
            reason, chosen = Reason.DEFECTIVE, faulty[:1]
        elif apparel and draws[1] < APPAREL_RATE * boost:
            reason, chosen = Reason.DOES_NOT_FIT, apparel
        elif order_lines and draws[2] < OTHER_RATE * boost:
            reason, chosen = _pick(rng, OTHER_REASONS), [rng.choice(order_lines)]
        else:
            continue
        delivered = as_utc(order.updated_at)
        asked_at = delivered + timedelta(days=rng.uniform(0.5, 12))
        if asked_at >= DEMO_NOW - timedelta(hours=2):
            continue
        exchange = reason is Reason.DOES_NOT_FIT and rng.random() < EXCHANGE_SHARE
        keeps = reason is Reason.DAMAGED and rng.random() < KEEP_OFFER_TAKEN
        ask = returns.ReturnAsk(
            reason=reason,
            resolution=Resolution.EXCHANGE if exchange else Resolution.REFUND,
            lines=[
                returns.LineAsk(
                    line.id,
                    1 if reason is Reason.DEFECTIVE else line.quantity,
                    _other_size(rng, line, sizes) if exchange else None,
                )
                for line in chosen
            ],
            language=languages.get(order.customer_id) or "en",
            keep_offer_accepted=keeps,
        )
        asked.append((order, ask, asked_at))
    if len(asked) > MAX_RETURNS:  # every recent return (still moving) and a sample of the settled ones
        recent = [i for i, (_, _, at) in enumerate(asked) if DEMO_NOW - at < RECENT]
        older = [i for i in range(len(asked)) if i not in set(recent)]
        kept = set(recent[:MAX_RETURNS]) | set(rng.sample(older, max(MAX_RETURNS - len(recent), 0)))
        asked = [item for index, item in enumerate(asked) if index in kept]
    made: Counter[ReturnStatus] = Counter()
    for order, ask, asked_at in asked:
        ret = await returns.do_request_return(
            session,
            order,
            ask,
            submission_key=f"demo-return:{order.number}",
            actor=f"customer:{order.customer_id}",
            files_dir=files_dir,
            now=asked_at,
        )
        await _carry_on(
            session, ret, rng, asked_at, reviewer=reviewer, operator=operator, files_dir=files_dir
        )
        made[ret.status] += 1
    return made


def _other_size(rng: random.Random, line: _Line, sizes: dict[int, list[int]]) -> int | None:
    others = [sku for sku in sizes.get(line.product_id, []) if sku != line.sku_id]
    return rng.choice(others) if others else None


async def _carry_on(
    session: AsyncSession,
    ret: ReturnRequest,
    rng: random.Random,
    asked_at: datetime,
    *,
    reviewer: str,
    operator: str,
    files_dir: Path,
) -> None:
    await _progress(session, ret, rng, asked_at, reviewer=reviewer, operator=operator, files_dir=files_dir)
    if ret.replacement_order_id is not None and ret.decided_at is not None:
        # The exchange's order is stamped by the wall clock; in the demo it was placed when the return was
        # decided, and last moved when the parcel came in (released for picking), so reloads match.
        replacement = await session.get(Order, ret.replacement_order_id)
        assert replacement is not None
        replacement.placed_at = replacement.created_at = as_utc(ret.decided_at)
        replacement.updated_at = as_utc(ret.received_at or ret.decided_at)


async def _progress(
    session: AsyncSession,
    ret: ReturnRequest,
    rng: random.Random,
    asked_at: datetime,
    *,
    reviewer: str,
    operator: str,
    files_dir: Path,
) -> None:
    """Take the return as far as its age allows by DEMO_NOW: review, parcel in, grading, money back."""
    reviewed_at = asked_at + timedelta(hours=rng.uniform(3, 30))
    if ret.status is ReturnStatus.REQUESTED:
        waiting = rng.random() < 0.1
        if reviewed_at >= DEMO_NOW or (waiting and not ret.keep_item):
            return  # still waiting for a person
        await returns.do_review(
            session,
            ret,
            approve=ret.keep_item or rng.random() < REVIEW_APPROVES,  # keeping it costs little: agreed
            actor=reviewer,
            note="" if rng.random() < 0.5 else "Checked the order and the buyer's history.",
            files_dir=files_dir,
            now=reviewed_at,
        )
    if ret.status is ReturnStatus.KEEP_REFUNDED:
        await _settle(session, ret, reviewed_at)
        return
    if ret.status is not ReturnStatus.APPROVED:
        return
    arrived_at = reviewed_at + timedelta(days=rng.uniform(3, 9))
    if arrived_at >= DEMO_NOW:
        return
    await receiving.do_receive(session, ret, actor=operator, now=arrived_at)
    graded_at = arrived_at + timedelta(hours=rng.uniform(4, 60))
    if graded_at >= DEMO_NOW or (DEMO_NOW - arrived_at < timedelta(days=7) and rng.random() < BENCH_BACKLOG):
        return
    grades = []
    for line, _sku in await returns.return_lines(session, ret):
        if not line.eligible or line.keep:
            continue
        grade, disposition = _pick(rng, GRADES.get(ret.reason, DEFAULT_GRADES))
        short = (line.quantity > 1 and rng.random() < SHORT_PARCEL * 4) or rng.random() < SHORT_PARCEL / 4
        count = max(line.quantity - 1, 0) if short else line.quantity
        grades.append(receiving.LineGrade(line.id, count, grade, disposition))
    await receiving.do_grade(session, ret, grades, actor=operator, files_dir=files_dir, now=graded_at)
    paid_at = graded_at + timedelta(days=rng.uniform(0.5, 4))
    if ret.status is ReturnStatus.GRADED and paid_at < DEMO_NOW:
        await _settle(session, ret, paid_at)


async def _settle(session: AsyncSession, ret: ReturnRequest, when: datetime) -> None:
    """The payment provider's answer, as it would have come (the demo has no provider to ask)."""
    for refund in await refunds.return_refunds(session, ret):
        if refund.status is RefundStatus.REQUESTED:
            refund.provider, refund.provider_refund_id = "manual", f"demo-{refund.idempotency_key}"
            await refunds.do_settle(session, ret, refund, RefundStatus.SUCCEEDED, now=when)
