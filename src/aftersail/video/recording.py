"""After a call: the media server's raw recordings (one .mjr per stream and feed) become evidence on the case.
Each is chained as it is; each feed's video and audio are post-processed without transcoding (`janus-pp-rec`
into WebM and Opus, then `ffmpeg -c copy` into one WebM) into a playable file; the frames staff marked are
decoded from that file on the server (PyAV) and chained as snapshots, with their marks beside them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.outbox import emit
from aftersail.support import service as tickets
from aftersail.support.attachments import do_store_attachment, do_store_file
from aftersail.support.models import Attachment, Ticket
from aftersail.tenants.models import User
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import do_append_evidence
from aftersail.video.media import MediaBackend
from aftersail.video.models import CallSnapshot, EvidenceEntry, InspectionCall
from aftersail.video.rules import RecordingStatus, Seat
from aftersail.video.service import call_seats, call_snapshots, recordings_dir

log = logging.getLogger(__name__)

# videoroom-<room>-user-<feed>-<microseconds>-<video|audio>-<mid>.mjr (Janus 1.x multistream)
RAW_NAME = re.compile(r"^videoroom-(\d+)-user-(\d+)-(\d+)-(video|audio)(?:-\d+)?\.mjr$")
TOOL_SECONDS = 600.0
CLEANUP_TOPIC = "video.recording_cleanup"


class PostProcessingFailed(Exception):
    pass


@dataclass
class Segment:
    """One feed's recording: what one side published between joining and leaving (a reconnect starts a new
    one)."""

    seat: Seat | None
    feed: int
    video: Path | None = None
    audio: Path | None = None
    started_at: datetime | None = None  # the first video packet's wall-clock time
    playable: Path | None = None
    duration_ms: int = 0
    error: str = ""


def find_segments(folder: Path, feeds: dict[int, Seat]) -> list[Segment]:
    """The raw files of a call's room grouped by feed, in the order they began."""
    found: dict[int, Segment] = {}
    began: dict[int, int] = {}
    for path in sorted(folder.glob("*.mjr")) if folder.is_dir() else []:
        match = RAW_NAME.match(path.name)
        if match is None:
            continue
        feed = int(match.group(2))
        segment = found.setdefault(feed, Segment(seat=feeds.get(feed), feed=feed))
        began[feed] = min(began.get(feed, int(match.group(3))), int(match.group(3)))
        if match.group(4) == "video":
            segment.video = path
        else:
            segment.audio = path
    return sorted(found.values(), key=lambda s: began[s.feed])


async def _run(*command: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TOOL_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, f"{command[0]} took longer than {TOOL_SECONDS:.0f} s"
    return process.returncode or 0, output.decode(errors="replace")


async def first_packet_at(raw: Path) -> datetime | None:
    """The wall-clock time of a raw recording's first packet, from its JSON header ("u", else "s")."""
    code, output = await _run("janus-pp-rec", "-j", str(raw))
    if code != 0:
        return None
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            header = json.loads(line)
            micros = header.get("u") or header.get("s")
            return datetime.fromtimestamp(micros / 1_000_000, UTC) if micros else None
    return None


async def post_process(segment: Segment, workdir: Path) -> None:
    """Make `segment.playable` (video and audio in one WebM, no transcoding), or set `segment.error`."""
    if shutil.which("janus-pp-rec") is None or shutil.which("ffmpeg") is None:
        segment.error = "janus-pp-rec or ffmpeg is not installed"
        return
    if segment.video is None:
        segment.error = "no video stream was recorded"
        return
    stem = workdir / f"feed-{segment.feed}"
    video = stem.with_suffix(".video.webm")
    code, output = await _run("janus-pp-rec", str(segment.video), str(video))
    if code != 0 or not video.exists():
        segment.error = f"janus-pp-rec could not read the video: {_last_line(output)}"
        return
    segment.started_at = await first_packet_at(segment.video)
    inputs = ["-i", str(video)]
    maps = ["-map", "0:v"]
    if segment.audio is not None:
        audio = stem.with_suffix(".audio.opus")
        code, _ = await _run("janus-pp-rec", str(segment.audio), str(audio))
        audio_at = await first_packet_at(segment.audio)
        if code == 0 and audio.exists():
            # audio that started later than the video starts later in the file (timestamps shifted, not
            # re-encoded)
            lag = (audio_at - segment.started_at).total_seconds() if audio_at and segment.started_at else 0.0
            inputs += ["-itsoffset", f"{max(lag, 0.0):.3f}", "-i", str(audio)]
            maps += ["-map", "1:a"]
    playable = stem.with_suffix(".webm")
    code, output = await _run(
        "ffmpeg", "-y", "-loglevel", "error", *inputs, *maps, "-c", "copy", str(playable)
    )
    if code != 0 or not playable.exists():
        segment.error = f"ffmpeg could not put the streams together: {_last_line(output)}"
        return
    segment.playable = playable
    segment.duration_ms = await asyncio.to_thread(duration_ms, playable)


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:200]


def duration_ms(path: Path) -> int:
    with av.open(str(path)) as container:
        if container.duration:
            return int(container.duration / 1000)  # av.time_base is microseconds
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return int(stream.duration * stream.time_base * 1000)
    return 0


def frame_png(path: Path, offset_seconds: float) -> bytes:
    """The frame shown `offset_seconds` into a playable recording, as PNG (decoded on the server)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        target = max(offset_seconds, 0.0)
        if target > 1 and stream.time_base:
            container.seek(
                int((target - 1) / stream.time_base), stream=stream, any_frame=False, backward=True
            )
        chosen = None
        for frame in container.decode(stream):
            if chosen is None or frame.time is None or frame.time <= target:
                chosen = frame
            if frame.time is not None and frame.time >= target:
                break
        if chosen is None:
            raise PostProcessingFailed("the recording has no video frame")
        buffer = io.BytesIO()
        chosen.to_image().save(buffer, format="PNG")
        return buffer.getvalue()


async def do_process_recording(
    session: AsyncSession,
    call: InspectionCall,
    *,
    media: MediaBackend | None,
    files_dir: Path,
    recordings_root: Path,
) -> None:
    """Chain every raw recording of the call, its playable files and its snapshots (idempotent: a call whose
    recording is no longer processing is left alone). Files are post-processed before anything is written,
    so the database is not held while the tools run."""
    if call.recording_status is not RecordingStatus.PROCESSING:
        return
    if media is not None:
        await media.close_room(call.room)  # ended already; a room left open would keep its files growing
    seats = await call_seats(session, call)
    feeds = {feed: seat.seat for seat in seats.values() for feed in seat.feeds}
    folder = recordings_dir(recordings_root, call)
    segments = find_segments(folder, feeds)
    ticket = await tickets.access_ticket(session, call.tenant_id, call.ticket_id)
    staff = await session.get(User, seats[Seat.STAFF].user_id) if seats[Seat.STAFF].user_id else None
    with tempfile.TemporaryDirectory(prefix="call-", dir=files_dir) as scratch:
        workdir = Path(scratch)
        for segment in segments:
            await post_process(segment, workdir)
        snapshots = await call_snapshots(session, call)
        frames = {
            s.id: await asyncio.to_thread(_frame_for, s, segments)
            for s in snapshots
            if s.attachment_id is None
        }
        for segment in segments:
            await _chain_segment(session, call, ticket, segment, _captured_by(segment.seat, staff), files_dir)
        for snapshot in snapshots:
            if snapshot.id in frames:
                await _chain_snapshot(session, call, ticket, snapshot, frames[snapshot.id], files_dir)
    buyer = [s for s in segments if s.seat is Seat.BUYER]
    failed = [s for s in segments if s.error]
    call.recording_ms = sum(s.duration_ms for s in buyer)
    if not segments:
        call.recording_status = RecordingStatus.FAILED
        call.recording_error = "the media server left no recording"
    elif failed:
        call.recording_status = RecordingStatus.FAILED
        call.recording_error = "; ".join(f"feed {s.feed}: {s.error}" for s in failed)[:500]
    else:
        call.recording_status = RecordingStatus.READY
    await session.flush()
    # Every byte is in the attachment store now; the raw folder goes once this transaction has committed
    # (a rollback, then a retry, still finds it).
    await emit(session, CLEANUP_TOPIC, {"call_id": call.id}, tenant_id=call.tenant_id)


def remove_raw_folder(call: InspectionCall, recordings_root: Path) -> None:
    """After the recording is on the case (ready or failed with its raw files chained)."""
    if call.recording_status in {RecordingStatus.READY, RecordingStatus.FAILED}:
        shutil.rmtree(recordings_dir(recordings_root, call), ignore_errors=True)


def _captured_by(seat: Seat | None, staff: User | None) -> str:
    if seat is Seat.BUYER:
        return "buyer"
    if seat is Seat.STAFF and staff is not None:
        return f"user:{staff.id} {staff.name}"[:120]
    return "system"


def _frame_for(snapshot: CallSnapshot, segments: list[Segment]) -> tuple[bytes | None, int | None, str]:
    """(PNG, offset in ms, error) of the snapshot's moment in its side's recording."""
    candidates = [s for s in segments if s.seat is snapshot.seat and s.playable and s.started_at]
    covering = [s for s in candidates if s.started_at and s.started_at <= snapshot.taken_at]
    segment = covering[-1] if covering else (candidates[0] if candidates else None)
    if segment is None or segment.playable is None or segment.started_at is None:
        return None, None, "no playable recording of that side"
    offset = (snapshot.taken_at - segment.started_at).total_seconds()
    offset = min(max(offset, 0.0), segment.duration_ms / 1000)
    try:
        return frame_png(segment.playable, offset), int(offset * 1000), ""
    except (PostProcessingFailed, av.FFmpegError, OSError) as exc:
        return None, int(offset * 1000), str(exc)[:300]


async def _chain_segment(
    session: AsyncSession,
    call: InspectionCall,
    ticket: Ticket,
    segment: Segment,
    captured_by: str,
    files_dir: Path,
) -> None:
    side = segment.seat.value if segment.seat else "unknown"
    meta = {"call_id": call.id, "seat": side, "feed": segment.feed, "recorded_by": "media server"}
    raw_hashes: list[str] = []
    for path in (segment.video, segment.audio):
        if path is None:
            continue
        raw = await do_store_file(
            session,
            ticket,
            path=path,
            filename=path.name,
            content_type="application/octet-stream",
            files_dir=files_dir,
        )
        raw_hashes.append(raw.sha256)
        await _append(session, call, EvidenceKind.RECORDING_RAW, raw, captured_by, meta)
    if segment.playable is None:
        return
    started = segment.started_at.isoformat() if segment.started_at else None
    recording = await do_store_file(
        session,
        ticket,
        path=segment.playable,
        filename=f"call-{call.id}-{side}-{segment.feed}.webm",
        content_type="video/webm",
        files_dir=files_dir,
    )
    await _append(
        session,
        call,
        EvidenceKind.RECORDING,
        recording,
        captured_by,
        {**meta, "started_at": started, "duration_ms": segment.duration_ms, "from_raw": raw_hashes},
    )


async def _chain_snapshot(
    session: AsyncSession,
    call: InspectionCall,
    ticket: Ticket,
    snapshot: CallSnapshot,
    frame: tuple[bytes | None, int | None, str],
    files_dir: Path,
) -> None:
    png, offset_ms, error = frame
    snapshot.offset_ms = offset_ms
    if png is None:
        snapshot.error = error
        return
    taker = await session.get(User, snapshot.taken_by_id) if snapshot.taken_by_id else None
    captured_by = _captured_by(Seat.STAFF, taker)
    image = await do_store_attachment(
        session,
        ticket,
        filename=f"call-{call.id}-snapshot-{snapshot.id}.png",
        data=png,
        content_type="image/png",
        files_dir=files_dir,
    )
    snapshot.attachment_id = image.id
    meta = {
        "call_id": call.id,
        "seat": snapshot.seat.value,
        "snapshot_id": snapshot.id,
        "offset_ms": offset_ms,
    }
    entry = await _append(session, call, EvidenceKind.SNAPSHOT, image, captured_by, meta)
    if snapshot.marks or snapshot.note:
        marks = json.dumps(
            {"snapshot_sha256": image.sha256, "marks": snapshot.marks, "note": snapshot.note},
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        annotation = await do_store_attachment(
            session,
            ticket,
            filename=f"call-{call.id}-snapshot-{snapshot.id}-marks.json",
            data=marks,
            content_type="application/json",
            files_dir=files_dir,
        )
        await _append(
            session, call, EvidenceKind.ANNOTATION, annotation, captured_by, {**meta, "marks_seq": entry.seq}
        )


async def _append(
    session: AsyncSession,
    call: InspectionCall,
    kind: EvidenceKind,
    attachment: Attachment,
    captured_by: str,
    meta: dict[str, Any],
) -> EvidenceEntry:
    return await do_append_evidence(
        session,
        tenant_id=call.tenant_id,
        ticket_id=call.ticket_id,
        kind=kind,
        attachment=attachment,
        captured_by=captured_by,
        return_id=call.return_id,
        call_id=call.id,
        meta=meta,
    )
