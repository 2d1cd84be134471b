"""Polling carriers without webhooks (both backends): `do_poll` asks a local server speaking 17TRACK's
`gettrackinfo` about the tenant's silent parcels of polled carriers only, ingests the answers idempotently,
keeps an unreadable answer as a replayable dead letter, and the `shipping.poll` job schedules its next run
once per tenant and time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.errors import ServiceUnavailable
from aftersail.kit.outbox import Delivery
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.shipping import dead_letters, poll_tasks, service
from aftersail.shipping.models import DeadLetter, Shipment
from aftersail.shipping.polling import (
    POLL_TOPIC,
    SeventeenTrackPoller,
    do_poll,
    next_poll_at,
    poll_job_key,
    schedule_poll,
)
from aftersail.shipping.rules import Status, SubStatus
from aftersail.shipping.sources import TrackingSources, do_set_tracking_sources, seventeen_track
from tests.tracking_desk import Shipped, make_shipped, scan
from tests.tracking_payloads import seventeen_event, seventeen_tracking
from tests.tracking_server import TrackingServer, serve_in_thread

KEY = "17-test-key-3b9f"


@pytest.fixture(scope="module")
def tracking_server() -> Iterator[TrackingServer]:
    with serve_in_thread(api_key=KEY) as server:
        yield server


@pytest.fixture
def server(tracking_server: TrackingServer) -> Iterator[TrackingServer]:
    yield tracking_server
    tracking_server.reset()


def _iso(hours_ago: float) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat()


async def _world(database: Database) -> tuple[Shipped, Shipped, Shipped, Shipped]:
    """Four parcels of one tenant that polls Yodel after 6 silent hours: a silent Yodel parcel, a Yodel
    parcel heard from an hour ago, a silent DHL parcel, and a delivered Yodel parcel."""
    silent = await make_shipped(database, carrier="yodel", days_ago=2)
    tenant, network = silent.tenant, silent.network
    fresh = await make_shipped(database, carrier="Yodel", days_ago=2, tenant=tenant, network=network)
    dhl = await make_shipped(database, carrier="dhl", days_ago=2, tenant=tenant, network=network)
    done = await make_shipped(database, carrier="yodel", days_ago=3, tenant=tenant, network=network)
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        await service.do_ingest(
            session,
            tenant.tenant_id,
            [
                scan(fresh.tracking_number, utcnow() - timedelta(hours=1), Status.IN_TRANSIT),
                scan(done.tracking_number, utcnow() - timedelta(hours=30), Status.DELIVERED),
            ],
        )
        await do_set_tracking_sources(
            session, tenant.tenant_id, polled_carriers=["YODEL "], poll_after_hours=6
        )
    return silent, fresh, dhl, done


def _poller(server: TrackingServer, key: str = KEY) -> SeventeenTrackPoller:
    return SeventeenTrackPoller(server.url, SecretStr(key), timeout_seconds=5)


async def test_only_silent_parcels_of_polled_carriers_are_asked_and_answers_ingest_once(
    database: Database, server: TrackingServer
) -> None:
    silent, fresh, dhl, done = await _world(database)
    tenant_id = silent.tenant_id
    for shipped in (silent, fresh, dhl, done):  # the server knows them all; only one may be asked
        server.track(
            shipped.tracking_number,
            [
                seventeen_event(
                    _iso(3).replace("+00:00", "Z"), None, "InTransit_CustomsProcessing", "Aduana"
                ),
                seventeen_event(None, _iso(20), "InTransit_Arrival", "Llegada al país de destino"),
            ],
        )
    poller = _poller(server)
    async with database.transaction(tenant_id=tenant_id) as session:
        polled = await do_poll(session, tenant_id, poller, utcnow())
    assert server.requests == [[silent.tracking_number]]
    assert (polled.asked, polled.ingested.applied, polled.ingested.duplicates, polled.dead_letters) == (
        1,
        2,
        0,
        [],
    )
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, silent.shipment_id)
        assert shipment is not None
        assert (shipment.status, shipment.events_count) == (Status.CUSTOMS, 2)
        others = {
            s.id: s.events_count
            for s in (await session.scalars(select(Shipment))).all()
            if s.tenant_id == tenant_id
        }
    assert others[dhl.shipment_id] == 0 and others[fresh.shipment_id] == 1
    # Three hours later nothing new has come: asking again stores nothing twice.
    async with database.transaction(tenant_id=tenant_id) as session:
        again = await do_poll(session, tenant_id, poller, utcnow() + timedelta(hours=4))
    assert (again.asked, again.ingested.applied, again.ingested.duplicates) == (1, 0, 2)
    await poller.aclose()


async def test_batches_an_unreadable_answer_and_a_wrong_key(
    database: Database, server: TrackingServer
) -> None:
    silent, *_ = await _world(database)
    tenant_id = silent.tenant_id
    second = await make_shipped(
        database, carrier="yodel", days_ago=2, tenant=silent.tenant, network=silent.network
    )
    server.track(silent.tracking_number, [seventeen_event(_iso(8), None, "InTransit_Departure", "Salida")])
    server.track(second.tracking_number, [seventeen_event(_iso(9), None, "InTransit_Departure", "Salida")])
    poller = _poller(server)
    poller.batch_size = 1  # one number per request: the first answer cannot be read, the second can
    unknown = {
        "code": 0,
        "data": {
            "accepted": [
                seventeen_tracking(
                    silent.tracking_number,
                    [seventeen_event(_iso(7), None, "Exception_Confiscated", "Decomiso")],
                )
            ],
            "rejected": [],
        },
    }
    server.raw_answer = unknown
    async with database.transaction(tenant_id=tenant_id) as session:
        polled = await do_poll(session, tenant_id, poller, utcnow())
    assert len(server.requests) == 2 and polled.asked == 2
    assert polled.ingested.applied == 1 and len(polled.dead_letters) == 1
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        letter = await session.get(DeadLetter, polled.dead_letters[0])
        assert letter is not None
        assert letter.source == seventeen_track.POLL_SOURCE and "Exception_Confiscated" in letter.error
        assert json.loads(letter.body) == unknown
    # Once the code is mapped, the stored answer replays into events.
    seventeen_track.SUB_STATUSES["Exception_Confiscated"] = (Status.CUSTOMS, SubStatus.CUSTOMS_HELD)
    try:
        async with database.transaction(tenant_id=tenant_id) as session:
            replayed = await dead_letters.do_replay(session, tenant_id, polled.dead_letters[0])
    finally:
        del seventeen_track.SUB_STATUSES["Exception_Confiscated"]
    assert replayed.ingested is not None and replayed.ingested.applied == 1
    async with database.transaction(tenant_id=tenant_id, readonly=True) as session:
        shipment = await session.get(Shipment, silent.shipment_id)
        assert shipment is not None and (shipment.status, shipment.sub_status) == (
            Status.CUSTOMS,
            SubStatus.CUSTOMS_HELD,
        )
    with pytest.raises(ServiceUnavailable, match="401"):
        await _poller(server, key="wrong").fetch([silent.tracking_number])
    server.fail_next(1)
    with pytest.raises(ServiceUnavailable, match="500"):
        await poller.fetch([silent.tracking_number])
    with pytest.raises(ValueError, match="at most 1"):
        await poller.fetch(["A", "B"])
    await poller.aclose()


async def test_the_poll_job_runs_and_schedules_its_next_run_once(
    database: Database, server: TrackingServer
) -> None:
    silent, *_ = await _world(database)
    tenant_id = silent.tenant_id
    server.track(silent.tracking_number, [seventeen_event(_iso(8), None, "Delivered_Other", "Entregado")])
    assert list(poll_tasks.outbox_handlers(Settings(), bus=None)) == []  # type: ignore[arg-type]
    configured = Settings(tracking_poll_base_url=server.url, tracking_poll_api_key=SecretStr(KEY))
    (handler,) = poll_tasks.outbox_handlers(configured, bus=None)  # type: ignore[arg-type]
    assert handler.name == "shipping.poll" and handler.topics == (POLL_TOPIC,)
    async with database.transaction(tenant_id=tenant_id) as session:
        await handler.fn(
            session, Delivery(event_id=0, topic=POLL_TOPIC, payload={}, tenant_id=tenant_id, attempt=1)
        )
    async with database.transaction(tenant_id=tenant_id) as session:
        shipment = await session.get(Shipment, silent.shipment_id)
        assert shipment is not None and shipment.status is Status.DELIVERED
        sources = TrackingSources(polled_carriers=("yodel",), poll_after_hours=6)
        again = await schedule_poll(session, tenant_id, sources)  # an admin saving the settings meanwhile
        jobs = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.topic == POLL_TOPIC)
            )
        ).all()
    assert [job.id for job in jobs] == [again.id]
    due = next_poll_at(sources, utcnow())
    assert jobs[0].dedupe_key == poll_job_key(tenant_id, due)
    assert timedelta(0) < due.replace(tzinfo=UTC) - utcnow() <= timedelta(hours=6)
    assert next_poll_at(sources, datetime(2025, 3, 1, 5, 59, tzinfo=UTC)) == datetime(
        2025, 3, 1, 6, tzinfo=UTC
    )
    assert await _no_poll_without_carriers(database, tenant_id)


async def _no_poll_without_carriers(database: Database, tenant_id: int) -> bool:
    async with database.transaction(tenant_id=tenant_id) as session:
        return await schedule_poll(session, tenant_id, TrackingSources()) is None
