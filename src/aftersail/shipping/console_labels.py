"""The console's words for parcels: normalized statuses and sub-statuses, exception kinds, priorities and
event sources (marked for translation; the pages translate them in the agent's language), and the parcel's
facts the templates show (a status's label, the events that arrived after a later one)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aftersail.kit.clock import as_utc
from aftersail.kit.i18n import N_
from aftersail.shipping.models import TrackingEvent
from aftersail.shipping.normalized import Source
from aftersail.shipping.rules import Direction, ExceptionKind, Status, SubStatus

STATUS_LABELS = {
    Status.PENDING: N_("Awaiting carrier scan"),
    Status.INFO_RECEIVED: N_("Label created"),
    Status.IN_TRANSIT: N_("In transit"),
    Status.CUSTOMS: N_("In customs"),
    Status.OUT_FOR_DELIVERY: N_("Out for delivery"),
    Status.ATTEMPT_FAILED: N_("Delivery attempt failed"),
    Status.AVAILABLE_FOR_PICKUP: N_("Ready for pick-up"),
    Status.DELIVERED: N_("Delivered"),
    Status.EXCEPTION: N_("Carrier exception"),
    Status.EXPIRED: N_("No longer tracked"),
}
SUB_STATUS_LABELS = {
    SubStatus.CUSTOMS_HELD: N_("Held by customs"),
    SubStatus.DOCUMENTS_REQUIRED: N_("Customs documents required"),
    SubStatus.DUTIES_DUE: N_("Import duties due"),
    SubStatus.CUSTOMS_RELEASED: N_("Released by customs"),
    SubStatus.LOST: N_("Lost by the carrier"),
    SubStatus.DAMAGED: N_("Damaged in transit"),
    SubStatus.RETURNED_TO_SENDER: N_("Returned to sender"),
    SubStatus.ADDRESS_ISSUE: N_("Address problem"),
}
EXCEPTION_LABELS = {
    ExceptionKind.STALLED: N_("Stalled (no scan)"),
    ExceptionKind.CUSTOMS_HOLD: N_("Customs hold"),
    ExceptionKind.DUTIES_DUE: N_("Duties to pay"),
    ExceptionKind.FAILED_ATTEMPTS: N_("Failed delivery"),
    ExceptionKind.RETURNED_TO_SENDER: N_("Going back to sender"),
    ExceptionKind.LOST: N_("Parcel lost"),
    ExceptionKind.DAMAGED: N_("Parcel damaged"),
    ExceptionKind.ADDRESS_ISSUE: N_("Address issue"),
    ExceptionKind.ETA_SLIPPED: N_("ETA slipped"),
    ExceptionKind.NOT_RECEIVED: N_("Delivered, not received"),
}
PRIORITY_LABELS = {"p1": N_("P1 urgent"), "p2": N_("P2 high"), "p3": N_("P3 normal"), "p4": N_("P4 low")}
SOURCE_LABELS = {
    Source.AFTERSHIP: "AfterShip",
    Source.SEVENTEEN_TRACK: "17TRACK",
    Source.GENERIC: N_("Webhook (generic JSON)"),
    Source.POLL: N_("Carrier polled"),
    Source.DEMO: N_("Demo data"),
    Source.BUYER: N_("Buyer"),
}
DIRECTION_LABELS = {Direction.OUTBOUND: N_("To the buyer"), Direction.RETURN: N_("Return parcel")}


def status_label(status: Status, sub_status: SubStatus | str = SubStatus.NONE) -> tuple[str, str]:
    """(status msgid, sub-status msgid or "") for the templates to translate."""
    sub = SUB_STATUS_LABELS.get(SubStatus(sub_status), "") if sub_status else ""
    return STATUS_LABELS[Status(status)], sub


@dataclass(frozen=True, slots=True)
class ShownEvent:
    """A parcel event as the console shows it: in event time, flagged when it reached AfterSail after an
    event that happened later than it (an out-of-order arrival, put back in its place)."""

    event: TrackingEvent
    occurred_at: datetime
    received_at: datetime
    late: bool  # arrived after a later event

    @property
    def raw_text(self) -> str:
        """The carrier's event as received, readable (its own characters, not escapes)."""
        return json.dumps(self.event.raw or {}, ensure_ascii=False, indent=2, sort_keys=True)

    @property
    def delay_hours(self) -> float:
        """How long after the event the carrier told AfterSail."""
        return round((self.received_at - self.occurred_at).total_seconds() / 3600, 1)


def shown_events(events: Sequence[TrackingEvent], *, newest_first: bool = True) -> list[ShownEvent]:
    """`events` in event time (ties in arrival order), each marked when it arrived after a later event."""
    ordered = sorted(events, key=lambda e: (as_utc(e.occurred_at), as_utc(e.received_at), e.id))
    shown: list[ShownEvent] = []
    earliest_later_arrival: datetime | None = None
    for event in reversed(ordered):  # newest first: what arrived for the events after this one
        received = as_utc(event.received_at)
        late = earliest_later_arrival is not None and earliest_later_arrival < received
        shown.append(ShownEvent(event, as_utc(event.occurred_at), received, late))
        earliest_later_arrival = (
            received if earliest_later_arrival is None else min(earliest_later_arrival, received)
        )
    return shown if newest_first else shown[::-1]
