"""Retention of call recordings and snapshots: the tenant's setting (`video.retention_days` in
tenants.settings) and the sweep that deletes the bytes of items whose retention ended. Their chain entries
stay, marked deleted, each with a DELETION entry after it; the call's recording status becomes DELETED.

The sweep is a re-runnable outbox job per tenant (`video.retention_sweep`), scheduled when a recording or
snapshot joins a chain (for when its retention ends) and when an admin changes the setting; each run
schedules the next for the earliest item still kept. Workers load it through `video.tasks`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.errors import InvalidInput
from aftersail.kit.outbox import Delivery, Handler, Publisher
from aftersail.kit.realtime import RealtimeBus
from aftersail.tenants import service as tenants
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import (
    RETAINED_KINDS,
    RETENTION_TOPIC,
    do_delete_item,
    schedule_retention_sweep,
)
from aftersail.video.models import EvidenceEntry, InspectionCall
from aftersail.video.rules import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    RecordingStatus,
    retention_days,
    retention_ends,
)

RETENTION_ACTOR = "system: retention"
RECORDING_KINDS = frozenset({EvidenceKind.RECORDING, EvidenceKind.RECORDING_RAW})
SWEEP_BATCH = 200  # items per run; a run that fills it schedules the next one at once


async def tenant_retention_days(session: AsyncSession, tenant_id: int) -> int:
    tenant = await tenants.access_tenant(session, tenant_id)
    return retention_days(tenant.settings)


async def do_set_retention_days(
    session: AsyncSession, tenant_id: int, days: int, *, now: datetime | None = None
) -> int:
    """Store the tenant's recording retention and sweep within the hour (a shorter retention may have ended
    for items already kept)."""
    if isinstance(days, bool) or not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"Keep recordings between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days.",
            field="retention_days",
        )
    tenant = await tenants.access_tenant(session, tenant_id)
    video = dict((tenant.settings or {}).get("video") or {})
    tenant.settings = {**(tenant.settings or {}), "video": {**video, "retention_days": days}}  # a new dict
    await session.flush()
    await schedule_retention_sweep(session, tenant_id, now or utcnow())
    return days


async def do_sweep_retention(
    session: AsyncSession, tenant_id: int, files_dir: Path, *, now: datetime | None = None
) -> list[EvidenceEntry]:
    """Delete the bytes of the tenant's recordings and snapshots whose retention ended (through
    `evidence.do_delete_item`, case by case in ticket-id order), mark their calls' recordings deleted, and
    schedule the next run. Returns the items deleted; running it again deletes nothing twice."""
    now = now or utcnow()
    days = await tenant_retention_days(session, tenant_id)
    due = list(
        (
            await session.scalars(
                select(EvidenceEntry)
                .where(
                    EvidenceEntry.tenant_id == tenant_id,
                    EvidenceEntry.kind.in_(RETAINED_KINDS),
                    EvidenceEntry.deleted_at.is_(None),
                    EvidenceEntry.received_at <= now - timedelta(days=days),
                )
                .order_by(EvidenceEntry.ticket_id, EvidenceEntry.seq)
                .limit(SWEEP_BATCH)
            )
        ).all()
    )
    for entry in due:
        await do_delete_item(
            session,
            files_dir,
            entry,
            reason=f"retention ended ({days} days)",
            deleted_by=RETENTION_ACTOR,
            now=now,
        )
    await _mark_calls_deleted(session, tenant_id, {e.call_id for e in due if e.call_id is not None})
    if len(due) == SWEEP_BATCH:
        await schedule_retention_sweep(session, tenant_id, now)
    else:
        earliest = await session.scalar(
            select(func.min(EvidenceEntry.received_at)).where(
                EvidenceEntry.tenant_id == tenant_id,
                EvidenceEntry.kind.in_(RETAINED_KINDS),
                EvidenceEntry.deleted_at.is_(None),
            )
        )
        if earliest is not None:
            await schedule_retention_sweep(session, tenant_id, max(retention_ends(earliest, days), now))
    return due


async def _mark_calls_deleted(session: AsyncSession, tenant_id: int, call_ids: set[int]) -> None:
    """Calls none of whose recordings (played or raw) are still kept: recording status DELETED."""
    for call_id in sorted(call_ids):
        kept = await session.scalar(
            select(func.count()).where(
                EvidenceEntry.tenant_id == tenant_id,
                EvidenceEntry.call_id == call_id,
                EvidenceEntry.kind.in_(RECORDING_KINDS),
                EvidenceEntry.deleted_at.is_(None),
            )
        )
        call = await session.get(InspectionCall, call_id)
        if not kept and call is not None and call.tenant_id == tenant_id:
            call.recording_status = RecordingStatus.DELETED
    await session.flush()


@functools.cache  # one handler object per folder: loaded twice (video.tasks and this module), it is one
def retention_handler(files_dir: Path) -> Handler:
    async def sweep(session: AsyncSession, delivery: Delivery) -> None:
        if delivery.tenant_id is not None:
            await do_sweep_retention(session, delivery.tenant_id, files_dir)

    return Handler(name="video.retention_sweep", topics=(RETENTION_TOPIC,), fn=sweep)


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    return [retention_handler(settings.data_dir)]
