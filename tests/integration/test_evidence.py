"""The evidence chain through the services on a migrated database (SQLite and PostgreSQL): buyer photos and
videos and warehouse grading photos join the case's chain when they are stored; verification passes, names a
file with one byte flipped as altered, a removed file as missing, an edited or removed entry as broken; the
retention sweep deletes recordings' bytes (entries stay, marked deleted, and verification still passes,
however often it runs); concurrent appends to one case never fork the chain."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.kit.errors import InvalidInput
from aftersail.kit.outbox_models import OutboxEvent
from aftersail.returns import receiving
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import Disposition
from aftersail.support import attachments as files
from aftersail.video import evidence, retention
from aftersail.video.chain import GENESIS, EvidenceKind
from aftersail.video.evidence_check import ChainReport, ItemState
from aftersail.video.models import EvidenceEntry, InspectionCall
from aftersail.video.rules import RecordingStatus
from tests.evidence_desk import Case, add_item, case_with_buyer_evidence, jpeg, make_call, webm

CONCURRENT = 10


async def chain(db: Database, case: Case) -> list[EvidenceEntry]:
    async with db.transaction(tenant_id=case.tenant_id, readonly=True) as session:
        return await evidence.access_case_chain(session, case.tenant_id, case.ticket_id)


async def verify(db: Database, case: Case, files_dir: Path) -> ChainReport:
    async with db.transaction(tenant_id=case.tenant_id, readonly=True) as session:
        return await evidence.verify_case(session, files_dir, case.ticket_id, tenant_id=case.tenant_id)


def assert_linked(entries: list[EvidenceEntry]) -> None:
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    previous = GENESIS
    for entry in entries:
        assert entry.prev_hash == previous
        previous = entry.entry_hash


async def test_buyer_photos_and_videos_join_the_chain_and_verify(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path)
    entries = await chain(database, case)
    assert [e.kind for e in entries] == [EvidenceKind.BUYER_PHOTO, EvidenceKind.BUYER_VIDEO]
    assert {e.return_id for e in entries} == {case.return_id}
    assert all(e.captured_by.startswith("buyer") for e in entries)
    assert_linked(entries)
    report = await verify(database, case, tmp_path)
    assert report.ok and [i.state for i in report.items] == [ItemState.OK, ItemState.OK]
    assert report.head_hash == entries[-1].entry_hash


async def test_grading_photos_join_the_chain(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=2)
    async with database.transaction(tenant_id=case.tenant_id) as session:
        ret = await returns.access_return(session, case.tenant_id, case.return_id)
        await receiving.do_receive(session, ret, actor="user:7")
        [(line, _sku)] = await returns.return_lines(session, ret)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, 1, Grade.C, Disposition.REFURBISH, "cracked base")],
            actor="user:7",
            photos=[
                returns.Upload("grade-1.jpg", jpeg(21), "image/jpeg"),
                returns.Upload("grade-2.jpg", jpeg(22), "image/jpeg"),
            ],
            files_dir=tmp_path,
        )
    entries = await chain(database, case)
    assert [e.kind for e in entries][2:] == [EvidenceKind.GRADING_PHOTO] * 2
    assert entries[2].captured_by == "user:7" and entries[2].filename == "grade-1.jpg"
    assert_linked(entries)
    assert (await verify(database, case, tmp_path)).ok


async def test_a_flipped_byte_and_a_removed_file_are_named(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=3)
    seq = await add_item(
        database,
        case,
        tmp_path,
        EvidenceKind.RECORDING,
        webm(3),
        filename="buyer.webm",
        content_type="video/webm",
    )
    entries = await chain(database, case)
    photo, video, recording = entries
    path = files.blob_path(tmp_path, recording.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    files.blob_path(tmp_path, video.sha256).unlink()
    report = await verify(database, case, tmp_path)
    assert not report.ok
    states = {item.seq: item for item in report.items}
    assert states[photo.seq].state is ItemState.OK
    assert states[video.seq].state is ItemState.MISSING
    assert states[seq].state is ItemState.ALTERED and "bytes differ" in states[seq].problems[0]
    assert {item.seq for item in report.failures} == {video.seq, seq}


async def test_an_edited_or_removed_entry_breaks_the_chain(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=4)
    for n in range(2):
        await add_item(
            database,
            case,
            tmp_path,
            EvidenceKind.SNAPSHOT,
            jpeg(40 + n),
            filename=f"s{n}.jpg",
            content_type="image/jpeg",
        )
    async with database.transaction(tenant_id=case.tenant_id) as session:  # someone rewrites who took it
        await session.execute(
            update(EvidenceEntry)
            .where(EvidenceEntry.ticket_id == case.ticket_id, EvidenceEntry.seq == 1)
            .values(captured_by="someone else")
        )
    report = await verify(database, case, tmp_path)
    assert report.items[0].state is ItemState.ALTERED
    assert "fields differ" in report.items[0].problems[0]
    async with database.transaction(tenant_id=case.tenant_id) as session:  # …and removes an entry
        await session.execute(
            delete(EvidenceEntry).where(EvidenceEntry.ticket_id == case.ticket_id, EvidenceEntry.seq == 3)
        )
    report = await verify(database, case, tmp_path)
    assert not report.ok
    assert any("entry 3 removed" in problem for problem in report.chain_problems)
    assert any("entry 4 does not follow" in problem for problem in report.chain_problems)


async def test_retention_deletes_recordings_and_the_chain_still_verifies(
    database: Database, tmp_path: Path
) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=5)
    async with database.transaction(tenant_id=case.tenant_id) as session:
        await retention.do_set_retention_days(session, case.tenant_id, 30)
    call_id = await make_call(database, case, room=random.randrange(10**12))
    old = utcnow() - timedelta(days=31)
    kept_seq = await add_item(
        database,
        case,
        tmp_path,
        EvidenceKind.SNAPSHOT,
        jpeg(55),
        filename="fresh.jpg",
        content_type="image/jpeg",
        call_id=call_id,
    )
    raw = await add_item(
        database,
        case,
        tmp_path,
        EvidenceKind.RECORDING_RAW,
        webm(50),
        filename="buyer-video.mjr",
        content_type="application/octet-stream",
        received_at=old,
        call_id=call_id,
    )
    played = await add_item(
        database,
        case,
        tmp_path,
        EvidenceKind.RECORDING,
        webm(51),
        filename="buyer.webm",
        content_type="video/webm",
        received_at=old,
        call_id=call_id,
    )
    async with database.transaction(tenant_id=case.tenant_id, readonly=True) as session:
        jobs = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == evidence.RETENTION_TOPIC))
        ).all()
        assert any(job.tenant_id == case.tenant_id for job in jobs)  # the sweep is scheduled
    for _ in range(2):  # re-runnable: the second run deletes nothing more
        async with database.transaction(tenant_id=case.tenant_id) as session:
            deleted = await retention.do_sweep_retention(session, case.tenant_id, tmp_path)
        assert len(deleted) in (2, 0)
    entries = await chain(database, case)
    assert_linked(entries)
    by_seq = {e.seq: e for e in entries}
    assert by_seq[raw].deleted_at is not None and by_seq[played].deleted_at is not None
    assert by_seq[kept_seq].deleted_at is None  # its 30 days have not passed
    deletions = [e for e in entries if e.kind is EvidenceKind.DELETION]
    assert sorted(e.meta["deletes_seq"] for e in deletions) == [raw, played]
    assert all(e.captured_by == retention.RETENTION_ACTOR for e in deletions)
    assert not files.blob_path(tmp_path, by_seq[played].sha256).exists()
    assert not files.blob_path(tmp_path, by_seq[raw].sha256).exists()
    report = await verify(database, case, tmp_path)
    assert report.ok
    states = {item.seq: item.state for item in report.items}
    assert states[raw] is ItemState.DELETED and states[played] is ItemState.DELETED
    async with database.transaction(tenant_id=case.tenant_id, readonly=True) as session:
        call = await session.get(InspectionCall, call_id)
        assert call is not None and call.recording_status is RecordingStatus.DELETED


async def test_shared_bytes_stay_while_another_item_needs_them(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=6)
    same = webm(60)
    first = await add_item(
        database, case, tmp_path, EvidenceKind.RECORDING, same, filename="a.webm", content_type="video/webm"
    )
    second = await add_item(
        database, case, tmp_path, EvidenceKind.RECORDING, same, filename="b.webm", content_type="video/webm"
    )
    entries = {e.seq: e for e in await chain(database, case)}
    async with database.transaction(tenant_id=case.tenant_id) as session:
        entry = await session.get(EvidenceEntry, entries[first].id)
        assert entry is not None
        deletion = await evidence.do_delete_item(session, tmp_path, entry, reason="test", deleted_by="user:1")
        again = await evidence.do_delete_item(session, tmp_path, entry, reason="test", deleted_by="user:1")
        assert again.id == deletion.id  # deleting twice: one deletion entry
    assert files.blob_path(tmp_path, entries[second].sha256).exists()  # the second item still needs them
    report = await verify(database, case, tmp_path)
    assert report.ok and {i.seq: i.state for i in report.items}[first] is ItemState.DELETED


async def test_retention_setting_is_bounded(database: Database, tmp_path: Path) -> None:
    case = await case_with_buyer_evidence(database, tmp_path, seed=7)
    async with database.transaction(tenant_id=case.tenant_id) as session:
        with pytest.raises(InvalidInput) as refused:
            await retention.do_set_retention_days(session, case.tenant_id, 3)
        assert refused.value.field == "retention_days"
        assert await retention.tenant_retention_days(session, case.tenant_id) == 180


@pytest.fixture
async def racing_db(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url, pool_size=CONCURRENT)
    yield db
    await db.dispose()


async def test_concurrent_appends_never_fork_the_chain(racing_db: Database, tmp_path: Path) -> None:
    """Ten snapshots appended to one case at once, each in its own transaction (PostgreSQL: truly at once,
    serialised by the ticket row lock; SQLite: by its write lock): seq 1…n, every link intact."""
    case = await case_with_buyer_evidence(racing_db, tmp_path, seed=8)
    start = asyncio.Event()

    async def one(n: int) -> int:
        await start.wait()
        return await add_item(
            racing_db,
            case,
            tmp_path,
            EvidenceKind.SNAPSHOT,
            jpeg(100 + n),
            filename=f"{n}.jpg",
            content_type="image/jpeg",
        )

    racers = [asyncio.create_task(one(n)) for n in range(CONCURRENT)]
    await asyncio.sleep(0)
    start.set()
    seqs = await asyncio.gather(*racers)
    assert sorted(seqs) == list(range(3, 3 + CONCURRENT))
    entries = await chain(racing_db, case)
    assert len(entries) == 2 + CONCURRENT
    assert_linked(entries)
    assert (await verify(racing_db, case, tmp_path)).ok
