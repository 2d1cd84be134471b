"""Inspection calls in the service, on SQLite and PostgreSQL, against a real Janus (its rooms really open,
close and kick): one live call per ticket, two seats and no third participant, the same page rejoining, the
state machine following the pages' reports, the watchdog ending an unanswered or dropped call, snapshots only
while recording, and a recording that cannot be post-processed keeping its raw files in the chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.errors import Conflict, InvalidInput, Unauthenticated
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.support import service as tickets
from aftersail.support.models import TicketStatus
from aftersail.tenants.models import User
from aftersail.video import service
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import verify_case
from aftersail.video.janus_server import JanusLayout, JanusProcess, find_janus, free_port
from aftersail.video.media import JanusBackend
from aftersail.video.models import EvidenceEntry, InspectionCall
from aftersail.video.recording import do_process_recording
from aftersail.video.rules import CallPurpose, CallStatus, EndReason, RecordingStatus, Seat
from aftersail.video.service import CallEnded, SeatTaken
from tests.support_desk import Desk, make_desk, open_ticket

SECRET, ADMIN_KEY = "janus-test-secret", "janus-test-admin"


@pytest.fixture(scope="module")
async def janus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JanusBackend]:
    found = find_janus()
    if found is None:
        pytest.skip("Janus is not installed (Debian package janus)")
    binary, lib_dir = found
    layout = JanusLayout(
        lib_dir=lib_dir, ws_port=free_port(), http_port=free_port(), token_secret=SECRET, admin_key=ADMIN_KEY
    )
    folder = tmp_path_factory.mktemp("janus")
    process = JanusProcess(binary, folder / "config", layout, folder / "janus.log")
    await process.start()
    yield JanusBackend(
        http_url=process.http_url, browser_url=process.ws_url, token_secret=SECRET, admin_key=ADMIN_KEY
    )
    await process.stop()


async def start(database: Database, desk: Desk, janus: JanusBackend, root: Path) -> tuple[int, int]:
    ticket_id = await open_ticket(database, desk, category="damaged", at=utcnow())
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        agent = await session.get(User, desk.wang_id)
        assert agent is not None
        call = await service.do_start_call(
            session,
            ticket,
            purpose=CallPurpose.RETURN_INSPECTION,
            started_by=agent,
            media=janus,
            recordings_root=root,
            bitrate=800_000,
            now=utcnow(),
        )
        return ticket_id, call.id


async def load(database: Database, desk: Desk, call_id: int) -> InspectionCall:
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        return await service.access_call(session, desk.tenant_id, call_id)


async def test_one_live_call_per_ticket_and_none_on_a_closed_one(
    database: Database, janus: JanusBackend, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    ticket_id, call_id = await start(database, desk, janus, tmp_path)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, ticket_id)
        agent = await session.get(User, desk.wang_id)
        assert agent is not None
        for ticket_status, refusal in ((ticket.status, Conflict), (TicketStatus.CLOSED, InvalidInput)):
            ticket.status = ticket_status  # a second live call; then any call on a closed ticket
            with pytest.raises(refusal):
                await service.do_start_call(
                    session,
                    ticket,
                    purpose=CallPurpose.USAGE_HELP,
                    started_by=agent,
                    media=janus,
                    recordings_root=tmp_path,
                    bitrate=800_000,
                    now=utcnow(),
                )
        await session.rollback()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        seats = await service.call_seats(session, await service.access_call(session, desk.tenant_id, call_id))
    assert set(seats) == {Seat.BUYER, Seat.STAFF}
    assert seats[Seat.BUYER].room_token != seats[Seat.STAFF].room_token


async def test_no_third_participant_but_the_same_page_comes_back(
    database: Database, janus: JanusBackend, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    _, call_id = await start(database, desk, janus, tmp_path)
    now = utcnow()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        grant = await service.do_take_seat(
            session, call, Seat.BUYER, client_id="phone-one", media=janus, now=now
        )
        assert grant.room == call.room and grant.pin == call.room_pin and grant.janus_token
        assert grant.bitrate == 800_000
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        with pytest.raises(SeatTaken):
            await service.do_take_seat(session, call, Seat.BUYER, client_id="phone-two", media=janus, now=now)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        again = await service.do_take_seat(
            session, call, Seat.BUYER, client_id="phone-one", media=janus, now=now, network="3g"
        )
        assert again.bitrate == 256_000  # the weak network's cap
        # once the first phone has been silent long enough, another device may take the seat
        later = now + timedelta(seconds=20)
        await service.do_take_seat(session, call, Seat.BUYER, client_id="phone-two", media=janus, now=later)


async def test_reports_move_the_call_and_the_watchdog_ends_a_dropped_one(
    database: Database, janus: JanusBackend, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    _, call_id = await start(database, desk, janus, tmp_path)
    now = utcnow()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        for seat, client in ((Seat.BUYER, "phone-one"), (Seat.STAFF, "desk-one")):
            await service.do_take_seat(session, call, seat, client_id=client, media=janus, now=now)
        agent = await session.get(User, desk.wang_id)
        assert agent is not None
        with pytest.raises(InvalidInput):  # nothing recorded yet
            await service.do_take_snapshot(session, call, seat=Seat.BUYER, taken_by=agent, now=now)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        await service.do_report(
            session, call, Seat.BUYER, client_id="phone-one", now=now, feed_id=11, media_up=True
        )
        assert call.status is CallStatus.RINGING  # the staff side has no media yet
        await service.do_report(
            session, call, Seat.STAFF, client_id="desk-one", now=now, feed_id=22, media_up=True
        )
        assert call.status is CallStatus.CONNECTED
        assert call.connected_at == now and call.recording_status is RecordingStatus.RECORDING
        with pytest.raises(SeatTaken):  # a page that lost its seat is told so
            await service.do_report(session, call, Seat.BUYER, client_id="phone-two", now=now)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        await service.do_report(session, call, Seat.STAFF, client_id="desk-one", now=now, peer_present=False)
        assert call.status is CallStatus.RECONNECTING
        await service.do_check_call(session, call, media=janus, now=now + timedelta(seconds=30))
        assert call.status is CallStatus.RECONNECTING  # still within the grace
        await service.do_check_call(session, call, media=janus, now=now + timedelta(minutes=2))
        assert call.status is CallStatus.ENDED and call.end_reason is EndReason.DROPPED
        assert call.recording_status is RecordingStatus.PROCESSING
        jobs = await session.scalars(select(OutboxEvent.topic).where(OutboxEvent.tenant_id == desk.tenant_id))
        assert service.RECORDING_TOPIC in set(jobs)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        ended = await service.do_end_call(session, call, EndReason.HUNG_UP, media=janus, now=utcnow())
        assert ended.end_reason is EndReason.DROPPED  # ending twice changes nothing
        with pytest.raises(CallEnded):
            await service.do_take_seat(session, call, Seat.BUYER, client_id="phone-one", media=janus, now=now)


async def test_an_unanswered_link_expires_and_ends_the_call(
    database: Database, janus: JanusBackend, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    _, call_id = await start(database, desk, janus, tmp_path)
    call = await load(database, desk, call_id)
    later = call.link_expires_at + timedelta(seconds=1)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        with pytest.raises(Unauthenticated):
            await service.access_call_for_buyer(session, desk.tenant_id, call_id, later)
        call = await service.access_call(session, desk.tenant_id, call_id)
        await service.do_check_call(session, call, media=janus, now=later)
        assert call.end_reason is EndReason.NOT_ANSWERED
        assert call.recording_status is RecordingStatus.NONE  # nobody connected: nothing to process


async def test_a_recording_that_cannot_be_processed_keeps_its_raw_files_in_the_chain(
    database: Database, janus: JanusBackend, tmp_path: Path
) -> None:
    desk = await make_desk(database)
    ticket_id, call_id = await start(database, desk, janus, tmp_path / "recordings")
    now = utcnow()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        for seat, client, feed in ((Seat.BUYER, "phone-one", 11), (Seat.STAFF, "desk-one", 22)):
            await service.do_take_seat(session, call, seat, client_id=client, media=janus, now=now)
            await service.do_report(
                session, call, seat, client_id=client, now=now, feed_id=feed, media_up=True
            )
        await service.do_end_call(session, call, EndReason.HUNG_UP, media=janus, now=now)
        folder = service.recordings_dir(tmp_path / "recordings", call)
    # What a media server that crashed mid-write could leave: files with its names and no valid header.
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"videoroom-{call.room}-user-11-1796329635282532-video-1.mjr").write_bytes(
        b"MJR00002" + b"\x00" * 64
    )
    (folder / f"videoroom-{call.room}-user-11-1796329635282466-audio-0.mjr").write_bytes(b"garbage")
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = await service.access_call(session, desk.tenant_id, call_id)
        await do_process_recording(
            session, call, media=janus, files_dir=tmp_path, recordings_root=tmp_path / "recordings"
        )
        assert call.recording_status is RecordingStatus.FAILED
        assert "feed 11" in call.recording_error
        entries = list(
            await session.scalars(select(EvidenceEntry).where(EvidenceEntry.ticket_id == ticket_id))
        )
        assert sorted(e.kind for e in entries) == [EvidenceKind.RECORDING_RAW, EvidenceKind.RECORDING_RAW]
        assert {e.meta["seat"] for e in entries} == {"buyer"} and {e.captured_by for e in entries} == {
            "buyer"
        }
        report = await verify_case(session, tmp_path, ticket_id, tenant_id=desk.tenant_id)
        assert report.ok
