"""Tracking on both backends, through the services: a parcel's events folded whatever order they arrive in,
exceptions found and acted on once (the buyer told first in their language, a case with the exception's
priority, a note for the agents), the order delivered by its carrier's scan, the next check scheduled, the
delivered-not-received claim from report to reship or refund, parked events claimed, and a return parcel
followed by the returns domain."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.db import Database
from aftersail.kit.outbox import Delivery
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.orders.models import Order, OrderStatus
from aftersail.returns import service as returns
from aftersail.returns.models import ReturnEvent, ReturnRequest
from aftersail.returns.payments import ManualRefunds
from aftersail.returns.rules import Reason, Resolution, ReturnStatus
from aftersail.returns.tasks import follow_parcel
from aftersail.shipping import claims
from aftersail.shipping import service as shipping
from aftersail.shipping.models import DeliveryClaim, Shipment, ShipmentException
from aftersail.shipping.policy import do_set_tracking_rules
from aftersail.shipping.rules import ClaimStatus, Direction, ExceptionKind, Status, SubStatus
from aftersail.shipping.watch import CHECK_TOPIC, RETURN_PARCEL_TOPIC, do_evaluate, up_to_date
from aftersail.support.models import AuthorKind, Priority, Ticket, TicketMessage
from tests.returns_desk import make_delivered, order_line_ids, request_return
from tests.tracking_desk import Shipped, feed, make_shipped, scan


async def _evaluate(db: Database, shipped: Shipped, *, days_later: float = 0) -> list[ExceptionKind]:
    async with db.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        findings = await do_evaluate(session, shipment, now=utcnow() + timedelta(days=days_later))
        return [finding.kind for finding in findings]


async def _messages(db: Database, tenant_id: int, ticket_id: int) -> list[TicketMessage]:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        return list(
            (
                await session.scalars(
                    select(TicketMessage)
                    .where(TicketMessage.ticket_id == ticket_id)
                    .order_by(TicketMessage.id)
                )
            ).all()
        )


async def test_customs_hold_tells_the_buyer_once_and_opens_a_p1_case(database: Database) -> None:
    shipped = await make_shipped(database, days_ago=4, language="de")
    now = utcnow()
    await feed(
        database,
        shipped.tenant_id,
        scan(
            shipped.tracking_number,
            now - timedelta(days=3, hours=12),
            Status.IN_TRANSIT,
            location="Frankfurt",
        ),
        scan(shipped.tracking_number, now - timedelta(days=3), Status.CUSTOMS, SubStatus.CUSTOMS_HELD),
    )
    assert await _evaluate(database, shipped) == [ExceptionKind.CUSTOMS_HOLD]
    assert await _evaluate(database, shipped) == [ExceptionKind.CUSTOMS_HOLD]  # again: nothing new is sent
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        row = await session.scalar(
            select(ShipmentException).where(ShipmentException.shipment_id == shipped.shipment_id)
        )
        assert row is not None and row.kind is ExceptionKind.CUSTOMS_HOLD and row.priority == "p1"
        assert row.notified_at is not None and row.ticket_id is not None
        ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None and ticket.priority is Priority.P1 and ticket.order_id == shipped.order_id
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None and shipment.open_exceptions == ["customs_hold"]
        assert shipment.eta is not None and as_utc(shipment.eta) > now  # pushed out by the hold
    messages = await _messages(database, shipped.tenant_id, ticket.id)
    notes = [m for m in messages if m.internal]
    notices = [m for m in messages if not m.internal]
    assert len(notes) == 1 and "Customs hold" in notes[0].body
    assert len(notices) == 1 and notices[0].author_kind is AuthorKind.SYSTEM and notices[0].language == "de"
    assert "Zoll" in notices[0].body and shipped.number in notices[0].body
    # released and delivered: the exception closes, the order is delivered at the carrier's time
    delivered_at = now - timedelta(hours=2)
    await feed(
        database,
        shipped.tenant_id,
        scan(shipped.tracking_number, now - timedelta(days=1), Status.CUSTOMS, SubStatus.CUSTOMS_RELEASED),
        scan(shipped.tracking_number, delivered_at, Status.DELIVERED, location="Berlin"),
    )
    assert await _evaluate(database, shipped) == []
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        row = await session.scalar(
            select(ShipmentException).where(ShipmentException.shipment_id == shipped.shipment_id)
        )
        assert row is not None and row.resolved_at is not None
        order = await session.get(Order, shipped.order_id)
        assert order is not None and order.status is OrderStatus.DELIVERED
        assert order.delivered_at is not None and abs(as_utc(order.delivered_at) - delivered_at) < timedelta(
            seconds=1
        )
    assert len(await _messages(database, shipped.tenant_id, ticket.id)) == len(messages)  # nothing more sent


async def test_late_events_keep_the_newest_status_and_checks_are_scheduled(database: Database) -> None:
    shipped = await make_shipped(database, days_ago=3)
    now = utcnow()
    number = shipped.tracking_number
    first = await feed(
        database, shipped.tenant_id, scan(number, now - timedelta(days=1), Status.OUT_FOR_DELIVERY)
    )
    late = await feed(
        database,
        shipped.tenant_id,
        scan(number, now - timedelta(days=2), Status.IN_TRANSIT),
        scan(number, now - timedelta(days=1), Status.OUT_FOR_DELIVERY),  # a replay inside a later delivery
    )
    assert (first.applied, late.applied, late.duplicates) == (1, 1, 1)
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None and shipment.status is Status.OUT_FOR_DELIVERY  # not moved back
    assert await _evaluate(database, shipped) == []
    assert await _evaluate(database, shipped, days_later=5) == [ExceptionKind.STALLED]
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        checks = (
            await session.scalars(
                select(OutboxEvent.due_at).where(
                    OutboxEvent.topic == CHECK_TOPIC,
                    OutboxEvent.payload["shipment_id"].as_integer() == shipped.shipment_id,
                )
            )
        ).all()
        assert checks and min(as_utc(due) for due in checks) > now  # the silence limit, not now


async def test_events_for_an_unknown_number_wait_for_their_parcel(database: Database) -> None:
    now = utcnow()
    number = f"PK{now.timestamp():.0f}77"
    first = await make_shipped(database)
    tenant = first.tenant
    parked = await feed(
        database,
        tenant.tenant_id,
        scan(number, now - timedelta(hours=5), Status.INFO_RECEIVED),
        scan(number, now - timedelta(hours=1), Status.IN_TRANSIT),
    )
    again = await feed(database, tenant.tenant_id, scan(number, now - timedelta(hours=1), Status.IN_TRANSIT))
    assert (parked.parked, parked.applied, again.parked, again.duplicates) == (2, 0, 0, 1)
    shipped = await make_shipped(
        database, tenant=tenant, network=first.network, tracking_number=number.lower()
    )
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, shipped.shipment_id)
        assert shipment is not None and shipment.status is Status.IN_TRANSIT and shipment.events_count == 2
        assert len(await shipping.shipment_events(session, shipment)) == 2


async def test_delivered_not_received_claim_waits_then_reships(database: Database) -> None:
    shipped = await make_shipped(database, days_ago=3, language="fr", country="DE")
    now = utcnow()
    await feed(
        database, shipped.tenant_id, scan(shipped.tracking_number, now - timedelta(hours=6), Status.DELIVERED)
    )
    await _evaluate(database, shipped)
    for _ in range(2):  # the buyer presses twice: one claim
        async with database.transaction(tenant_id=shipped.tenant_id) as session:
            shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
            claim = await claims.do_report_missing(
                session, shipment, note="Rien devant la porte", actor="buyer", now=now
            )
            claim_id = claim.id
    assert await _evaluate(database, shipped) == [ExceptionKind.NOT_RECEIVED]
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        assert (
            await session.scalar(
                select(func.count(DeliveryClaim.id)).where(DeliveryClaim.shipment_id == shipped.shipment_id)
            )
            == 1
        )
        claim = await claims.access_claim(session, shipped.tenant_id, claim_id)
        assert claim.ticket_id is not None
        ticket = await session.get(Ticket, claim.ticket_id)
        assert ticket is not None and ticket.priority is Priority.P1
        early = await claims.do_decide_claim(session, claim, now=now + timedelta(days=1))
        assert early.status is ClaimStatus.WAITING_CARRIER  # the carrier's window is still open
        decided = await claims.do_decide_claim(session, claim, now=now + timedelta(days=3, minutes=1))
        assert decided.status is ClaimStatus.RESHIPPED and decided.replacement_order_id is not None
        replacement = await session.get(Order, decided.replacement_order_id)
        assert replacement is not None and replacement.number == f"{shipped.number}-R{claim_id}"
        assert replacement.total_minor == 0 and replacement.status is OrderStatus.ALLOCATED
        again = await claims.do_decide_claim(session, claim, now=now + timedelta(days=4))
        assert again.replacement_order_id == replacement.id
    messages = await _messages(database, shipped.tenant_id, ticket.id)
    buyer_words = [m.body for m in messages if m.author_kind is AuthorKind.CUSTOMER]
    notices = [m for m in messages if m.author_kind is AuthorKind.SYSTEM and not m.internal]
    assert buyer_words == ["Rien devant la porte"]
    assert len(notices) == 2 and all(m.language == "fr" for m in notices)
    assert replacement.number in notices[1].body


async def test_claim_refund_is_paid_once_and_high_value_goes_to_a_person(database: Database) -> None:
    shipped = await make_shipped(database, days_ago=3)
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        await do_set_tracking_rules(
            session, shipped.tenant_id, {"claim_outcome": "refund", "claim_wait_days": 1}
        )
    now = utcnow()
    await feed(
        database, shipped.tenant_id, scan(shipped.tracking_number, now - timedelta(hours=6), Status.DELIVERED)
    )
    await _evaluate(database, shipped)
    gateway = ManualRefunds()
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        claim = await claims.do_report_missing(session, shipment, note="", actor="agent", now=now)
        decided = await claims.do_decide_claim(session, claim, now=now + timedelta(days=1, minutes=1))
        assert decided.status is ClaimStatus.REFUNDED and decided.refunded_minor == 1999
        assert await claims.do_send_claim_refund(session, decided, gateway) == "pending"
    # a person: an order above the automatic amount
    big = await make_shipped(
        database, days_ago=3, lines={"lamp": 2}, tenant=shipped.tenant, network=shipped.network
    )
    async with database.transaction(tenant_id=big.tenant_id) as session:
        await do_set_tracking_rules(session, big.tenant_id, {"claim_auto_up_to_minor": 3000})
    await feed(database, big.tenant_id, scan(big.tracking_number, now - timedelta(hours=6), Status.DELIVERED))
    await _evaluate(database, big)
    async with database.transaction(tenant_id=big.tenant_id) as session:
        shipment = await shipping.access_shipment(session, big.tenant_id, big.shipment_id)
        claim = await claims.do_report_missing(session, shipment, note="", actor="agent", now=now)
        decided = await claims.do_decide_claim(session, claim, now=now + timedelta(days=4))
        assert decided.status is ClaimStatus.NEEDS_PERSON and decided.refunded_minor == 0


async def test_a_parcel_not_delivered_cannot_be_claimed(database: Database) -> None:
    shipped = await make_shipped(database)
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        try:
            await claims.do_report_missing(session, shipment, note="", actor="buyer", now=utcnow())
        except Exception as exc:
            assert "delivered" in str(exc)
        else:
            raise AssertionError("a parcel in transit was claimed")


async def test_return_parcel_is_tracked_and_moves_the_return(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database)
    lines = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(Reason.DOES_NOT_FIT, Resolution.REFUND, [returns.LineAsk(lines["lamp"], 1)])
    return_id = await request_return(database, delivered, ask, tmp_path)
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await session.get(ReturnRequest, return_id)
        assert ret is not None and ret.status is ReturnStatus.APPROVED
        parcel = await shipping.return_shipment(session, delivered.tenant_id, return_id)
        assert parcel is not None and parcel.direction is Direction.RETURN
        assert parcel.tracking_number == shipping.check_number(ret.tracking_number)
    now = utcnow()
    for when, status in ((now - timedelta(days=1), Status.IN_TRANSIT), (now, Status.DELIVERED)):
        await feed(database, delivered.tenant_id, scan(parcel.tracking_number, when, status))
        async with database.transaction(tenant_id=delivered.tenant_id) as session:
            shipment = await session.get(Shipment, parcel.id)
            assert shipment is not None
            await do_evaluate(session, shipment, now=now)
        async with database.transaction(tenant_id=delivered.tenant_id) as session:
            event = await session.scalar(
                select(OutboxEvent)
                .where(OutboxEvent.topic == RETURN_PARCEL_TOPIC)
                .order_by(OutboxEvent.id.desc())
            )
            assert event is not None
            delivery = Delivery(event.id, event.topic, event.payload, event.tenant_id, 1)
            await follow_parcel(session, delivery)
            await follow_parcel(session, delivery)  # at least once: a second run changes nothing
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await session.get(ReturnRequest, return_id)
        assert ret is not None and ret.status is ReturnStatus.IN_TRANSIT
        kinds = (
            await session.scalars(select(ReturnEvent.kind).where(ReturnEvent.return_id == return_id))
        ).all()
        assert kinds.count("parcel_delivered") == 1 and kinds.count("status") == 2  # approved, in transit


async def test_a_burst_is_evaluated_once_its_events_are_folded(database: Database) -> None:
    shipped = await make_shipped(database, days_ago=2)
    now = utcnow()
    number = shipped.tracking_number
    await feed(database, shipped.tenant_id, scan(number, now - timedelta(days=1), Status.IN_TRANSIT))
    second = await feed(
        database, shipped.tenant_id, scan(number, now - timedelta(hours=20), Status.IN_TRANSIT)
    )
    assert second.shipment_ids == [shipped.shipment_id]  # two requests, two evaluate jobs
    async with database.transaction(tenant_id=shipped.tenant_id) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        assert not up_to_date(shipment)
        await do_evaluate(session, shipment, now=now)
        assert up_to_date(shipment) and shipment.evaluated_events == shipment.events_count == 2
    replay = await feed(
        database, shipped.tenant_id, scan(number, now - timedelta(hours=20), Status.IN_TRANSIT)
    )
    assert replay.shipment_ids == []  # a replay queues nothing
    await feed(database, shipped.tenant_id, scan(number, now - timedelta(hours=2), Status.OUT_FOR_DELIVERY))
    async with database.transaction(tenant_id=shipped.tenant_id, readonly=True) as session:
        shipment = await shipping.access_shipment(session, shipped.tenant_id, shipped.shipment_id)
        assert not up_to_date(shipment) and shipment.events_count == 3
