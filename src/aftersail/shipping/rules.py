"""Pure rules of tracking: the normalized status taxonomy, what each exception rule sees in a parcel's
history, and the lane's transit figures an ETA is drawn from. No I/O; `service.py` feeds them rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from aftersail.kit.errors import IllegalTransition


class Direction(StrEnum):
    OUTBOUND = "outbound"  # warehouse → buyer
    RETURN = "return"  # buyer → warehouse


class Status(StrEnum):
    """Where a parcel is, whatever the carrier calls it (the raw event is kept beside it)."""

    PENDING = "pending"  # a tracking number exists, the carrier knows nothing yet
    INFO_RECEIVED = "info_received"  # the label is printed, the parcel not handed over
    IN_TRANSIT = "in_transit"
    CUSTOMS = "customs"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ATTEMPT_FAILED = "attempt_failed"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    EXPIRED = "expired"  # the carrier stopped reporting


class SubStatus(StrEnum):
    NONE = ""
    CUSTOMS_HELD = "held"
    DOCUMENTS_REQUIRED = "documents_required"
    DUTIES_DUE = "duties_due"
    CUSTOMS_RELEASED = "released"
    LOST = "lost"
    DAMAGED = "damaged"
    RETURNED_TO_SENDER = "returned_to_sender"
    ADDRESS_ISSUE = "address_issue"


# Which sub-statuses belong to which status; any other pair is not a normalized event.
SUB_STATUSES: Mapping[Status, frozenset[SubStatus]] = {
    Status.CUSTOMS: frozenset(
        {
            SubStatus.NONE,
            SubStatus.CUSTOMS_HELD,
            SubStatus.DOCUMENTS_REQUIRED,
            SubStatus.DUTIES_DUE,
            SubStatus.CUSTOMS_RELEASED,
        }
    ),
    Status.EXCEPTION: frozenset(
        {
            SubStatus.NONE,
            SubStatus.LOST,
            SubStatus.DAMAGED,
            SubStatus.RETURNED_TO_SENDER,
            SubStatus.ADDRESS_ISSUE,
        }
    ),
}
FINAL = frozenset({Status.DELIVERED, Status.EXPIRED})
# Statuses in which a parcel still moves on its own: silence there means it has stalled.
MOVING = frozenset(
    {Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.CUSTOMS, Status.PENDING}
)
HELD = frozenset({SubStatus.CUSTOMS_HELD, SubStatus.DOCUMENTS_REQUIRED, SubStatus.DUTIES_DUE})


def check_pair(status: Status, sub_status: SubStatus) -> SubStatus:
    if sub_status not in SUB_STATUSES.get(status, frozenset({SubStatus.NONE})):
        raise ValueError(f"sub-status {sub_status.value!r} does not belong to status {status.value!r}")
    return sub_status


class ExceptionKind(StrEnum):
    STALLED = "stalled"  # no scan for N days (or the carrier stopped reporting)
    CUSTOMS_HOLD = "customs_hold"  # held (or documents asked) longer than N days
    DUTIES_DUE = "duties_due"  # the buyer must pay import charges before delivery
    FAILED_ATTEMPTS = "failed_attempts"
    RETURNED_TO_SENDER = "returned_to_sender"
    LOST = "lost"
    DAMAGED = "damaged"
    ADDRESS_ISSUE = "address_issue"
    ETA_SLIPPED = "eta_slipped"  # the expected date moved later by more than N days
    NOT_RECEIVED = "not_received"  # delivered, but the buyer says it is not there


# What a person must handle first. A tenant may change any of them (`TrackingRules.priorities`).
DEFAULT_PRIORITIES: Mapping[ExceptionKind, str] = {
    ExceptionKind.STALLED: "p2",
    ExceptionKind.CUSTOMS_HOLD: "p1",
    ExceptionKind.DUTIES_DUE: "p1",
    ExceptionKind.FAILED_ATTEMPTS: "p2",
    ExceptionKind.RETURNED_TO_SENDER: "p1",
    ExceptionKind.LOST: "p1",
    ExceptionKind.DAMAGED: "p1",
    ExceptionKind.ADDRESS_ISSUE: "p2",
    ExceptionKind.ETA_SLIPPED: "p3",
    ExceptionKind.NOT_RECEIVED: "p1",
}


class ClaimOutcome(StrEnum):
    RESHIP = "reship"
    REFUND = "refund"


@dataclass(frozen=True, slots=True)
class LaneLimits:
    """The thresholds one lane may set apart from the tenant's (a slow customs country, a far lane)."""

    stalled_days: float | None = None
    customs_hold_days: float | None = None
    eta_slip_days: float | None = None


@dataclass(frozen=True, slots=True)
class TrackingRules:
    """A tenant's exception rules (`tenant.settings["tracking"]`); `lanes` are keyed `"FRA>DE"` (warehouse
    code > country) or by country alone (`"DE"`), the more precise key winning."""

    stalled_days: float = 5
    customs_hold_days: float = 2
    failed_attempts: int = 2
    eta_slip_days: float = 2
    # Delivered-not-received: how long the carrier investigates before the seller acts, and what it does.
    claim_wait_days: float = 3
    claim_outcome: ClaimOutcome = ClaimOutcome.RESHIP
    # A claim above this order value goes to a person instead of being reshipped or refunded on its own.
    claim_auto_up_to_minor: int = 20000
    priorities: Mapping[ExceptionKind, str] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    lanes: Mapping[str, LaneLimits] = field(default_factory=dict)
    # The seller's own endpoint told of every exception (signed JSON), beside the buyer and the ticket.
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""  # signs what is sent there (HMAC-SHA256), never shown back

    def for_lane(self, warehouse_code: str, country: str) -> TrackingRules:
        limits = self.lanes.get(f"{warehouse_code}>{country}") or self.lanes.get(country)
        if limits is None:
            return self
        return replace(
            self,
            stalled_days=_first(limits.stalled_days, self.stalled_days),
            customs_hold_days=_first(limits.customs_hold_days, self.customs_hold_days),
            eta_slip_days=_first(limits.eta_slip_days, self.eta_slip_days),
        )

    def priority(self, kind: ExceptionKind) -> str:
        return self.priorities.get(kind, DEFAULT_PRIORITIES[kind])


def _first(value: float | None, default: float) -> float:
    return default if value is None else value


# --- a parcel's history, folded --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scan:
    """One normalized event as the rules see it."""

    occurred_at: datetime
    status: Status
    sub_status: SubStatus = SubStatus.NONE


@dataclass(frozen=True, slots=True)
class Progress:
    """A parcel's state folded from its events in event-time order (arrival order does not matter)."""

    status: Status = Status.PENDING
    sub_status: SubStatus = SubStatus.NONE
    last_event_at: datetime | None = None
    status_since: datetime | None = None  # the first event of the current status run
    first_scan_at: datetime | None = None  # the carrier first had the parcel
    delivered_at: datetime | None = None
    failed_attempts: int = 0
    events: int = 0


def fold(scans: Iterable[Scan]) -> Progress:
    """The parcel's state after all `scans`, whatever order they arrived in. Ties keep arrival order."""
    ordered = sorted(scans, key=lambda scan: scan.occurred_at)
    progress = Progress()
    for scan in ordered:
        same_run = scan.status is progress.status and progress.status_since is not None
        if scan.status is Status.CUSTOMS and progress.status is Status.CUSTOMS:
            # Held → documents → duties is one stay in customs; a release starts the clock anew.
            same_run = (scan.sub_status in HELD) == (progress.sub_status in HELD)
        moved = scan.status not in (Status.PENDING, Status.INFO_RECEIVED)
        progress = replace(
            progress,
            status=scan.status,
            sub_status=scan.sub_status,
            last_event_at=scan.occurred_at,
            status_since=progress.status_since if same_run else scan.occurred_at,
            first_scan_at=progress.first_scan_at or (scan.occurred_at if moved else None),
            delivered_at=scan.occurred_at if scan.status is Status.DELIVERED else progress.delivered_at,
            failed_attempts=progress.failed_attempts + (scan.status is Status.ATTEMPT_FAILED),
            events=progress.events + 1,
        )
    return progress


# --- lane transit and ETA ---------------------------------------------------------------------------------

MIN_HISTORY = 5  # fewer past deliveries than this: the lane's configured figures are used


@dataclass(frozen=True, slots=True)
class LaneTransit:
    median_days: float
    p90_days: float
    deliveries: int  # how many past deliveries the figures come from (0: the configured figures)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of `values` (not empty); `share` in (0, 1]."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def lane_transit(
    history_days: Sequence[float], configured_median: float, configured_p90: float
) -> LaneTransit:
    """Median and p90 transit of a lane's past deliveries (warehouse → country), or its configured figures
    while it has fewer than `MIN_HISTORY`."""
    if len(history_days) < MIN_HISTORY:
        return LaneTransit(float(configured_median), float(max(configured_p90, configured_median)), 0)
    return LaneTransit(percentile(history_days, 0.5), percentile(history_days, 0.9), len(history_days))


# How much of the lane's median transit is still ahead once a parcel reaches a status.
_REMAINING: Mapping[Status, float] = {
    Status.PENDING: 1.0,
    Status.INFO_RECEIVED: 1.0,
    Status.IN_TRANSIT: 0.4,
    Status.CUSTOMS: 0.35,
    Status.OUT_FOR_DELIVERY: 0.0,
    Status.ATTEMPT_FAILED: 0.0,
}
NEXT_ATTEMPT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Eta:
    expected: datetime
    latest: datetime  # the p90 figure: "by"


def estimate(progress: Progress, transit: LaneTransit, shipped_at: datetime, now: datetime) -> Eta | None:
    """When the parcel should arrive: the lane's median from the hand-over, pushed later when the parcel
    sits somewhere longer than the lane allows (a customs hold moves it day by day). None once delivered,
    waiting at a pick-up point, or in an exception that needs a person."""
    if progress.status in (Status.DELIVERED, Status.AVAILABLE_FOR_PICKUP, Status.EXCEPTION, Status.EXPIRED):
        return None
    start = progress.first_scan_at or shipped_at
    median = timedelta(days=transit.median_days)
    spread = timedelta(days=max(transit.p90_days - transit.median_days, 0))
    planned = start + median
    if progress.status is Status.OUT_FOR_DELIVERY:
        today = max(now, progress.last_event_at or now)
        return Eta(today, today)
    if progress.status is Status.ATTEMPT_FAILED:
        again = (progress.last_event_at or now) + NEXT_ATTEMPT
        return Eta(max(again, now), max(again, now) + NEXT_ATTEMPT)
    remaining = median * _REMAINING.get(progress.status, 0.4)
    if progress.status is Status.CUSTOMS and progress.sub_status in HELD:
        remaining += timedelta(days=1)  # a held parcel needs its release first
    expected = max(planned, now + remaining)
    return Eta(expected, expected + spread)


# --- exception rules --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    kind: ExceptionKind
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Watch:
    """What the exception rules look at for one parcel."""

    direction: Direction
    progress: Progress
    shipped_at: datetime
    promised_eta: datetime | None = None  # the first ETA the buyer was shown
    current_eta: datetime | None = None
    buyer_says_missing: bool = False


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86400, 1)


def detect(watch: Watch, rules: TrackingRules, now: datetime) -> list[Finding]:
    """Every exception the parcel is in right now. Pure: the same history and clock give the same answer."""
    progress = watch.progress
    found: list[Finding] = []
    last = progress.last_event_at or watch.shipped_at
    silent = now - last
    # A return parcel the carrier has not scanned yet is one the buyer has not sent: not stalled.
    waiting_for_buyer = watch.direction is Direction.RETURN and progress.status in (
        Status.PENDING,
        Status.INFO_RECEIVED,
    )
    if progress.status in MOVING and silent >= timedelta(days=rules.stalled_days) and not waiting_for_buyer:
        in_customs_hold = progress.status is Status.CUSTOMS and progress.sub_status in HELD
        if not in_customs_hold:
            found.append(Finding(ExceptionKind.STALLED, {"days_without_scan": _days(silent)}))
    if progress.status is Status.EXPIRED:
        found.append(Finding(ExceptionKind.STALLED, {"days_without_scan": _days(silent), "expired": True}))
    if progress.status is Status.CUSTOMS and progress.sub_status in HELD:
        held = now - (progress.status_since or last)
        if progress.sub_status is SubStatus.DUTIES_DUE:
            found.append(Finding(ExceptionKind.DUTIES_DUE, {"days_held": _days(held)}))
        elif held >= timedelta(days=rules.customs_hold_days):
            found.append(
                Finding(
                    ExceptionKind.CUSTOMS_HOLD,
                    {
                        "days_held": _days(held),
                        "documents": progress.sub_status is SubStatus.DOCUMENTS_REQUIRED,
                    },
                )
            )
    if progress.failed_attempts >= rules.failed_attempts and progress.status not in FINAL:
        found.append(Finding(ExceptionKind.FAILED_ATTEMPTS, {"attempts": progress.failed_attempts}))
    if progress.status is Status.EXCEPTION:
        kind = {
            SubStatus.RETURNED_TO_SENDER: ExceptionKind.RETURNED_TO_SENDER,
            SubStatus.LOST: ExceptionKind.LOST,
            SubStatus.DAMAGED: ExceptionKind.DAMAGED,
            SubStatus.ADDRESS_ISSUE: ExceptionKind.ADDRESS_ISSUE,
        }.get(progress.sub_status, ExceptionKind.STALLED)
        found.append(Finding(kind, {"since": (progress.status_since or last).isoformat()}))
    if (
        watch.promised_eta is not None
        and watch.current_eta is not None
        and watch.current_eta - watch.promised_eta > timedelta(days=rules.eta_slip_days)
    ):
        found.append(
            Finding(
                ExceptionKind.ETA_SLIPPED,
                {
                    "promised": watch.promised_eta.isoformat(),
                    "now_expected": watch.current_eta.isoformat(),
                    "days_late": _days(watch.current_eta - watch.promised_eta),
                },
            )
        )
    if progress.status is Status.DELIVERED and watch.buyer_says_missing:
        found.append(Finding(ExceptionKind.NOT_RECEIVED, {"delivered_at": last.isoformat()}))
    if watch.direction is Direction.RETURN:
        # A return parcel is the seller's own problem: only what stops it reaching the warehouse counts.
        keep = {
            ExceptionKind.STALLED,
            ExceptionKind.LOST,
            ExceptionKind.DAMAGED,
            ExceptionKind.RETURNED_TO_SENDER,
        }
        found = [finding for finding in found if finding.kind in keep]
    if any(finding.kind is not ExceptionKind.ETA_SLIPPED for finding in found):
        # A late date is the mildest news: any other exception's notice already carries the new date.
        found = [finding for finding in found if finding.kind is not ExceptionKind.ETA_SLIPPED]
    unique: dict[ExceptionKind, Finding] = {}
    for finding in found:
        unique.setdefault(finding.kind, finding)
    return list(unique.values())


def next_check(watch: Watch, rules: TrackingRules, now: datetime) -> datetime | None:
    """When the rules could next change their answer with no new event (a silence reaching N days, a hold
    reaching its limit); None once the parcel is final. The sweep job is scheduled for then."""
    progress = watch.progress
    if progress.status in FINAL:
        return None
    last = progress.last_event_at or watch.shipped_at
    candidates = [last + timedelta(days=rules.stalled_days)]
    if progress.status is Status.CUSTOMS and progress.sub_status in HELD:
        candidates.append((progress.status_since or last) + timedelta(days=rules.customs_hold_days))
    later = [moment for moment in candidates if moment > now]
    return min(later) if later else now + timedelta(days=1)


# --- delivered-not-received claims -----------------------------------------------------------------------


class ClaimStatus(StrEnum):
    WAITING_CARRIER = "waiting_carrier"  # the carrier's investigation window
    FOUND = "found"  # the buyer found it (neighbour, locker) or the carrier delivered it after all
    RESHIPPED = "reshipped"
    REFUNDED = "refunded"
    NEEDS_PERSON = "needs_person"


CLAIM_TRANSITIONS: Mapping[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.WAITING_CARRIER: frozenset(
        {ClaimStatus.FOUND, ClaimStatus.RESHIPPED, ClaimStatus.REFUNDED, ClaimStatus.NEEDS_PERSON}
    ),
    ClaimStatus.NEEDS_PERSON: frozenset({ClaimStatus.FOUND, ClaimStatus.RESHIPPED, ClaimStatus.REFUNDED}),
    ClaimStatus.FOUND: frozenset(),
    ClaimStatus.RESHIPPED: frozenset(),
    ClaimStatus.REFUNDED: frozenset(),
}


def check_claim_move(current: ClaimStatus, target: ClaimStatus) -> ClaimStatus:
    if target not in CLAIM_TRANSITIONS[current]:
        raise IllegalTransition("claim", current.value, target.value)
    return target


def claim_decision(rules: TrackingRules, order_total_minor: int) -> ClaimStatus:
    """After the carrier's window: reship or refund as the tenant chose, a person above the amount."""
    if order_total_minor > rules.claim_auto_up_to_minor:
        return ClaimStatus.NEEDS_PERSON
    return ClaimStatus.RESHIPPED if rules.claim_outcome is ClaimOutcome.RESHIP else ClaimStatus.REFUNDED
