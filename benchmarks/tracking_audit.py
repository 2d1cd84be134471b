"""After the tracking benchmark: are the stored events exactly the distinct events the server acknowledged
(nothing applied twice, nothing lost), and does every parcel's status follow its newest event by event
time, whatever order the events came in?"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text

from aftersail.kit.db import Database
from benchmarks.tracking_load import MAX_EVENTS
from benchmarks.tracking_seed import TrackingWorld

PER_PARCEL = """
    SELECT s.tracking_number, s.status, s.sub_status, s.events_count, count(e.id),
        (SELECT e2.status FROM tracking_events AS e2 WHERE e2.shipment_id = s.id
         ORDER BY e2.occurred_at DESC, e2.id DESC LIMIT 1)
    FROM shipments AS s LEFT JOIN tracking_events AS e ON e.shipment_id = s.id
    WHERE s.tenant_id = :tenant AND s.id >= :first
    GROUP BY s.id
"""


@dataclass
class TrackingAudit:
    rows: int  # tracking events stored for the run's parcels
    acknowledged: int  # distinct events in deliveries answered 202
    duplicates_applied: int  # rows beyond them (an event stored twice)
    missing: int  # acknowledged events not stored
    parcels_off: int  # parcels whose stored events differ from the acknowledged ones in number
    status_mismatches: int  # status differs from the newest event's
    count_mismatches: int  # events_count differs from the stored events
    parked: int  # events parked (no parcel has the number): none are expected


async def audit_tracking(db: Database, world: TrackingWorld, acknowledged: set[int]) -> TrackingAudit:
    expected = Counter(key // MAX_EVENTS for key in acknowledged)
    params = {"tenant": world.tenant_id, "first": world.first_shipment_id}
    async with db.transaction(system=True, readonly=True) as session:
        rows = (await session.execute(text(PER_PARCEL), params)).all()
        parked = await session.scalar(
            text("SELECT count(*) FROM parked_tracking_events WHERE tenant_id = :tenant"), params
        )
    stored = status_off = count_off = parcels_off = 0
    for number, status, _sub_status, events_count, count, newest in rows:
        stored += count
        parcel = int(number[2:]) - 1
        if count != expected.get(parcel, 0):
            parcels_off += 1
        if count and status != newest:
            status_off += 1
        if events_count != count:
            count_off += 1
    return TrackingAudit(
        rows=stored,
        acknowledged=len(acknowledged),
        duplicates_applied=max(stored - len(acknowledged), 0),
        missing=max(len(acknowledged) - stored, 0),
        parcels_off=parcels_off,
        status_mismatches=status_off,
        count_mismatches=count_off,
        parked=int(parked or 0),
    )
