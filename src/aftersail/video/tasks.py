"""Jobs of the video domain: each call's watchdog (an unanswered link, a silent side, a reconnect that never
comes back), the recording's post-processing into evidence after the call, and the retention sweep."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Handler, Publisher
from aftersail.kit.realtime import RealtimeBus
from aftersail.video import retention
from aftersail.video.backend import media_from_settings
from aftersail.video.models import InspectionCall
from aftersail.video.recording import CLEANUP_TOPIC, do_process_recording, remove_raw_folder
from aftersail.video.service import CHECK_TOPIC, RECORDING_TOPIC, do_check_call


async def _call(session: AsyncSession, delivery: Delivery) -> InspectionCall | None:
    call_id = delivery.payload.get("call_id")
    call = await session.get(InspectionCall, call_id) if isinstance(call_id, int) else None
    return call if call is not None and call.tenant_id == delivery.tenant_id else None


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    media = media_from_settings(settings).backend
    files_dir = settings.data_dir
    recordings_root = settings.data_dir / "recordings"

    async def check_call(session: AsyncSession, delivery: Delivery) -> None:
        call = await _call(session, delivery)
        if call is not None and media is not None:
            await do_check_call(session, call, media=media, now=utcnow())

    async def process_recording(session: AsyncSession, delivery: Delivery) -> None:
        call = await _call(session, delivery)
        if call is not None:
            await do_process_recording(
                session, call, media=media, files_dir=files_dir, recordings_root=recordings_root
            )

    async def remove_raw(session: AsyncSession, delivery: Delivery) -> None:
        call = await _call(session, delivery)
        if call is not None:
            remove_raw_folder(call, recordings_root)

    return [
        Handler(name="video.call_check", topics=(CHECK_TOPIC,), fn=check_call),
        Handler(name="video.recording", topics=(RECORDING_TOPIC,), fn=process_recording),
        Handler(name="video.recording_cleanup", topics=(CLEANUP_TOPIC,), fn=remove_raw),
        *retention.outbox_handlers(settings, bus),
    ]
