"""Returns through the services on a migrated database (SQLite and PostgreSQL): a request decided by the
policy, routed to the nearest warehouse with a label, received and graded (restocked with its batch), and
refunded once however often the refund is asked for; a returnless refund, an exchange reserved through
allocation, a refusal after the window, a review for high value, and a parcel that does not match."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aftersail.kit.clock import as_utc
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders import service as orders
from aftersail.orders.models import Order, OrderStatus
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import Disposition, RefundStatus
from aftersail.returns.payments import ManualRefunds
from aftersail.returns.rules import Outcome, Reason, Resolution, ReturnStatus
from aftersail.support.models import AuthorKind, TicketMessage
from tests.returns_desk import Delivered, make_delivered, order_line_ids, request_return


async def _stock(db: Database, delivered: Delivered, sku: str) -> int:
    levels = await delivered.network.stock_levels(db)
    return sum(on_hand for (code, name, _), (on_hand, _r) in levels.items() if code == "FRA" and name == sku)


async def test_request_to_refund_once(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database)
    line_ids = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(
        reason=Reason.DOES_NOT_FIT,
        resolution=Resolution.REFUND,
        lines=[returns.LineAsk(line_ids["lamp"], 1)],
        language="es",
    )
    return_id = await request_return(database, delivered, ask, tmp_path)
    # a double submit: one return
    assert await request_return(database, delivered, ask, tmp_path) == return_id
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.status is ReturnStatus.APPROVED and ret.outcome is Outcome.AUTO_APPROVED
        assert ret.rule == "auto_approve" and ret.rma_number.startswith("RMA")
        assert ret.tracking_number.startswith("SM") and ret.carrier == "self_managed"
        assert ret.warehouse_id == delivered.network.warehouses["FRA"]  # the only lane to Spain
        assert ret.reverse_freight_minor == 700 and ret.refund_due_minor == 1999
        [(line, _sku)] = await returns.return_lines(session, ret)
        assert not line.keep and line.worth_back_minor > line.cost_back_minor
        told = (
            await session.scalars(
                select(TicketMessage.body).where(
                    TicketMessage.ticket_id == ret.ticket_id, TicketMessage.author_kind == AuthorKind.SYSTEM
                )
            )
        ).all()
        assert any(ret.tracking_number in body for body in told)
        rma = ret.rma_number
    before = await _stock(database, delivered, "lamp")
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.find_return_by_code(session, delivered.tenant_id, rma.lower())
        await receiving.do_receive(session, ret, actor="user:warehouse")
        await receiving.do_receive(session, ret, actor="user:warehouse")  # scanned twice: no change
        [(line, _sku)] = await returns.return_lines(session, ret)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, 1, Grade.A, Disposition.RESTOCK, "as new")],
            actor="user:warehouse",
            files_dir=tmp_path,
        )
    assert await _stock(database, delivered, "lamp") == before + 1
    for _ in range(2):  # the refund asked for again (a double click): still one refund
        async with database.transaction(tenant_id=delivered.tenant_id) as session:
            ret = await returns.access_return(session, delivered.tenant_id, return_id)
            await refunds.do_request_refund(session, ret, actor="user:agent")
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        [refund] = await refunds.return_refunds(session, ret)
        await refunds.do_send_refund(session, refund, ManualRefunds())
        await refunds.do_send_refund(session, refund, ManualRefunds())  # the job ran twice
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        [refund] = await refunds.return_refunds(session, ret)
        assert refund.status is RefundStatus.PENDING and refund.amount_minor == 1999
        assert ret.refunded_minor == 1999 and ret.resolved_at is not None
        assert ret.status is ReturnStatus.REFUNDED  # money on its way (a manual payout) counts
        kinds = [event.kind for event in await returns.return_events(session, ret)]
        assert kinds[:2] == ["requested", "decided"] and "graded" in kinds and kinds.count("refunded") == 1
        jobs = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.topic == refunds.SEND_TOPIC, OutboxEvent.tenant_id == delivered.tenant_id
                )
            )
        ).all()
        assert len(jobs) == 1


async def test_returnless_when_the_way_back_costs_more(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database, handling_minor=2_500)
    line_ids = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(
        Reason.DAMAGED, Resolution.REFUND, [returns.LineAsk(line_ids["cable"], 1)], language="es"
    )
    ask = returns.ReturnAsk(
        Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(line_ids["cable"], 1)], language="es"
    )
    return_id = await request_return(database, delivered, ask, tmp_path)
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.status is ReturnStatus.KEEP_REFUNDED and ret.keep_item and not ret.tracking_number
        [refund] = await refunds.return_refunds(session, ret)
        assert refund.amount_minor == 1999 and refund.kind.value == "keep_refund"


async def test_exchange_reserves_the_other_variant(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database)
    line_ids = await order_line_ids(database, delivered)
    case_id = delivered.network.skus["case"]
    before = await delivered.network.stock_levels(database)
    ask = returns.ReturnAsk(
        Reason.DOES_NOT_FIT,
        Resolution.EXCHANGE,
        [returns.LineAsk(line_ids["lamp"], 1, case_id)],
        language="es",
    )
    return_id = await request_return(database, delivered, ask, tmp_path)
    after = await delivered.network.stock_levels(database)
    key = next(k for k in after if k[0] == "FRA" and k[1] == "case")
    assert after[key][1] == before[key][1] + 1  # one case reserved for the exchange
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.replacement_order_id is not None and not ret.instant_exchange
        replacement = await orders.access_order(session, delivered.tenant_id, ret.replacement_order_id)
        assert replacement.status is OrderStatus.ALLOCATED and replacement.total_minor == 0
        await receiving.do_receive(session, ret, actor="user:warehouse")
        assert replacement.status is OrderStatus.RELEASED  # shipped when the return was scanned in


async def test_refused_after_the_window_and_reviewed_when_worth_much(
    database: Database, tmp_path: Path
) -> None:
    late = await make_delivered(database, days_ago=40, country="DE")
    line_ids = await order_line_ids(database, late)
    ask = returns.ReturnAsk(Reason.CHANGED_MIND, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 1)])
    async with database.transaction(tenant_id=late.tenant_id) as session:
        order = await session.get(Order, late.order_id)
        assert order is not None
        plan = await returns.plan_return(session, order, ask)
        assert plan.decision.outcome is Outcome.REJECTED and "window ended" in plan.decision.reason
    return_id = await request_return(database, late, ask, tmp_path)
    async with database.transaction(tenant_id=late.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, late.tenant_id, return_id)
        assert ret.status is ReturnStatus.REJECTED and ret.rule == "no_eligible_line"

    dear = await make_delivered(database, lines={"lamp": 20}, country="DE")
    line_ids = await order_line_ids(database, dear)
    ask = returns.ReturnAsk(Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 15)])
    return_id = await request_return(database, dear, ask, tmp_path)
    async with database.transaction(tenant_id=dear.tenant_id) as session:
        ret = await returns.access_return(session, dear.tenant_id, return_id)
        assert ret.status is ReturnStatus.REQUESTED and ret.rule == "high_value"
        await returns.do_review(session, ret, approve=True, actor="user:lead", files_dir=tmp_path)
        assert ret.status is ReturnStatus.APPROVED and ret.tracking_number
    too_many = returns.ReturnAsk(
        Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 6)]
    )
    with pytest.raises(InvalidInput, match="more units"):  # 15 of 20 already on their way back
        await request_return(database, dear, too_many, tmp_path, key="k2")


async def test_a_parcel_that_does_not_match_waits_for_a_person(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database, country="DE")
    line_ids = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(Reason.CHANGED_MIND, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 2)])
    return_id = await request_return(database, delivered, ask, tmp_path)
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        await receiving.do_receive(session, ret, actor="user:warehouse")
        [(line, _)] = await returns.return_lines(session, ret)
        with pytest.raises(InvalidInput, match="Grade every item"):
            await receiving.do_grade(session, ret, [], actor="user:warehouse", files_dir=tmp_path)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, 1, Grade.B, Disposition.RESTOCK)],
            actor="user:warehouse",
            files_dir=tmp_path,
        )
        assert ret.status is ReturnStatus.GRADED
        assert await refunds.return_refunds(session, ret) == []  # no money before a person looks
        kinds = [event.kind for event in await returns.return_events(session, ret)]
        assert "discrepancy" in kinds


def _photo(seed: int) -> bytes:
    """A JPEG with structure (a fingerprint needs more than a flat colour)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (240, 240, 235))
    draw = ImageDraw.Draw(image)
    for step in range(12):
        x = (seed * 37 + step * 53) % 300
        y = (seed * 11 + step * 29) % 220
        draw.rectangle((x, y, x + 40, y + 25), fill=((step * 40) % 255, (seed * 60) % 255, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def test_a_reused_photo_sends_the_request_to_a_person(database: Database, tmp_path: Path) -> None:
    photo = returns.Upload("broken.jpg", _photo(3), "image/jpeg")
    first = await make_delivered(database)
    line_ids = await order_line_ids(database, first)
    ask = returns.ReturnAsk(
        Reason.DAMAGED, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 1)], uploads=[photo]
    )
    first_id = await request_return(database, first, ask, tmp_path)
    second = await make_delivered(database, tenant=first.tenant, network=first.network)
    line_ids = await order_line_ids(database, second)
    ask = returns.ReturnAsk(
        Reason.DAMAGED, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 1)], uploads=[photo]
    )
    second_id = await request_return(database, second, ask, tmp_path)
    async with database.transaction(tenant_id=first.tenant_id, readonly=True) as session:
        earlier = await returns.access_return(session, first.tenant_id, first_id)
        assert earlier.outcome is Outcome.AUTO_APPROVED and not earlier.signals.get("reused_photo")
        assert len(await returns.return_evidence(session, earlier)) == 1
        ret = await returns.access_return(session, first.tenant_id, second_id)
        assert ret.status is ReturnStatus.REQUESTED and ret.rule == "reused_photo"
        assert ret.signals["reused_photo"] is True
    missing = returns.ReturnAsk(Reason.DAMAGED, Resolution.REFUND, [returns.LineAsk(line_ids["cable"], 1)])
    async with database.transaction(tenant_id=second.tenant_id, readonly=True) as session:
        order = await session.get(Order, second.order_id)
        assert order is not None
        plan = await returns.plan_return(session, order, missing)
        assert plan.decision.rule == "evidence_missing"  # damage needs a photo


async def test_a_trusted_buyer_gets_the_exchange_at_once(database: Database, tmp_path: Path) -> None:
    first = await make_delivered(database)
    for _ in range(3):  # three delivered orders before, no return
        await make_delivered(database, tenant=first.tenant, network=first.network, email=first.email)
    line_ids = await order_line_ids(database, first)
    ask = returns.ReturnAsk(
        Reason.DOES_NOT_FIT,
        Resolution.EXCHANGE,
        [returns.LineAsk(line_ids["lamp"], 1, first.network.skus["case"])],
    )
    return_id = await request_return(database, first, ask, tmp_path)
    async with database.transaction(tenant_id=first.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, first.tenant_id, return_id)
        assert ret.instant_exchange and ret.replacement_order_id is not None
        replacement = await orders.access_order(session, first.tenant_id, ret.replacement_order_id)
        assert replacement.status is OrderStatus.RELEASED  # on its way before the lamp is back


async def test_store_credit_and_the_cycle_clock(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database, cycle_days=5)
    line_ids = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(
        Reason.CHANGED_MIND, Resolution.STORE_CREDIT, [returns.LineAsk(line_ids["cable"], 1)]
    )
    return_id = await request_return(database, delivered, ask, tmp_path)
    late = await make_delivered(database, tenant=delivered.tenant, network=delivered.network)
    late_lines = await order_line_ids(database, late)
    late_id = await request_return(
        database,
        late,
        returns.ReturnAsk(Reason.CHANGED_MIND, Resolution.REFUND, [returns.LineAsk(late_lines["cable"], 1)]),
        tmp_path,
        key="late",
    )
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        await receiving.do_receive(session, ret, actor="user:warehouse")
        [(line, _)] = await returns.return_lines(session, ret)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, 1, Grade.A, Disposition.RESTOCK)],
            actor="user:warehouse",
            files_dir=tmp_path,
        )
        [credit] = await refunds.return_refunds(session, ret)
        assert credit.kind.value == "store_credit" and credit.status is RefundStatus.SUCCEEDED
        assert credit.store_credit_code.startswith("CR-") and ret.status is ReturnStatus.REFUNDED
        jobs = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.topic == returns.CYCLE_DUE_TOPIC, OutboxEvent.tenant_id == delivered.tenant_id
                )
            )
        ).all()
        assert len(jobs) == 2  # one due-time job per return
        overdue = await returns.access_return(session, delivered.tenant_id, late_id)
        assert overdue.due_at is not None
        after_due = as_utc(overdue.due_at) + timedelta(minutes=1)
        assert not await returns.do_sweep_cycle(
            session, overdue, now=as_utc(overdue.due_at) - timedelta(hours=1)
        )
        assert await returns.do_sweep_cycle(session, overdue, now=after_due)
        assert not await returns.do_sweep_cycle(session, overdue, now=after_due)  # recorded once
        assert not await returns.do_sweep_cycle(session, ret, now=after_due)  # money back in time
        kinds = [event.kind for event in await returns.return_events(session, overdue)]
        assert kinds.count("cycle_breached") == 1


async def test_keeping_a_damaged_item_for_part_of_the_money(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database, keep_partial_percent=40)
    line_ids = await order_line_ids(database, delivered)
    photo = returns.Upload("scratch.jpg", _photo(9), "image/jpeg")
    ask = returns.ReturnAsk(
        Reason.DAMAGED,
        Resolution.REFUND,
        [returns.LineAsk(line_ids["lamp"], 1)],
        keep_offer_accepted=True,
        uploads=[photo],
    )
    return_id = await request_return(database, delivered, ask, tmp_path)
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.status is ReturnStatus.KEEP_REFUNDED and ret.keep_item and not ret.tracking_number
        [refund] = await refunds.return_refunds(session, ret)
        assert refund.amount_minor == 1999 * 40 // 100


async def test_a_submission_key_belongs_to_one_order(database: Database, tmp_path: Path) -> None:
    first = await make_delivered(database)
    second = await make_delivered(database, tenant=first.tenant, network=first.network)
    for delivered in (first, second):
        line_ids = await order_line_ids(database, delivered)
        ask = returns.ReturnAsk(
            Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(line_ids["lamp"], 1)]
        )
        if delivered is first:
            await request_return(database, delivered, ask, tmp_path, key="shared")
        else:
            with pytest.raises(Conflict, match="another order"):
                await request_return(database, delivered, ask, tmp_path, key="shared")
