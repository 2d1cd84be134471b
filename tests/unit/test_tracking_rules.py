"""The tracking rules as tables: how a history folds, which exception each situation is, when the next check
falls, the lane's transit figures and the ETA, claims, and the tenant's settings checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aftersail.kit.errors import IllegalTransition, InvalidInput
from aftersail.shipping.normalized import TrackingUpdate, normalize_number
from aftersail.shipping.policy import rules_as_settings, rules_from_settings
from aftersail.shipping.rules import (
    ClaimOutcome,
    ClaimStatus,
    Direction,
    ExceptionKind,
    LaneLimits,
    LaneTransit,
    Progress,
    Scan,
    Status,
    SubStatus,
    TrackingRules,
    Watch,
    check_claim_move,
    check_pair,
    claim_decision,
    detect,
    estimate,
    fold,
    lane_transit,
    next_check,
    percentile,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
S, IT, CU, OFD, AF, DL, EX = (
    Status.INFO_RECEIVED,
    Status.IN_TRANSIT,
    Status.CUSTOMS,
    Status.OUT_FOR_DELIVERY,
    Status.ATTEMPT_FAILED,
    Status.DELIVERED,
    Status.EXCEPTION,
)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def scans(*steps: tuple[float, Status] | tuple[float, Status, SubStatus]) -> list[Scan]:
    return [Scan(at(step[0]), step[1], step[2] if len(step) == 3 else SubStatus.NONE) for step in steps]  # type: ignore[misc]


# --- fold -------------------------------------------------------------------------------------------------


def test_fold_orders_by_event_time_not_arrival() -> None:
    arrived = scans((3, DL), (0, S), (1, IT), (2, OFD))
    progress = fold(arrived)
    assert progress.status is DL
    assert progress.last_event_at == at(3)
    assert progress.delivered_at == at(3)
    assert progress.first_scan_at == at(1)  # the label being printed is not the carrier having it
    assert progress.events == 4


def test_fold_counts_failed_attempts_and_customs_stays_one_run() -> None:
    progress = fold(
        scans(
            (1, IT),
            (2, CU, SubStatus.CUSTOMS_HELD),
            (3, CU, SubStatus.DOCUMENTS_REQUIRED),
            (4, CU, SubStatus.DUTIES_DUE),
        )
    )
    assert (progress.status, progress.sub_status, progress.status_since) == (CU, SubStatus.DUTIES_DUE, at(2))
    released = fold(scans((2, CU, SubStatus.CUSTOMS_HELD), (5, CU, SubStatus.CUSTOMS_RELEASED)))
    assert released.status_since == at(5)  # a release starts a new run
    tries = fold(scans((1, IT), (5, AF), (6, AF), (7, OFD)))
    assert (tries.failed_attempts, tries.status, tries.status_since) == (2, OFD, at(7))


def test_empty_history_is_pending() -> None:
    assert fold([]) == Progress()


@pytest.mark.parametrize(
    ("status", "sub", "ok"),
    [
        (CU, SubStatus.CUSTOMS_HELD, True),
        (CU, SubStatus.DUTIES_DUE, True),
        (EX, SubStatus.LOST, True),
        (EX, SubStatus.RETURNED_TO_SENDER, True),
        (IT, SubStatus.NONE, True),
        (IT, SubStatus.LOST, False),
        (CU, SubStatus.DAMAGED, False),
        (EX, SubStatus.CUSTOMS_HELD, False),
    ],
)
def test_sub_status_belongs_to_its_status(status: Status, sub: SubStatus, ok: bool) -> None:
    if ok:
        assert check_pair(status, sub) is sub
    else:
        with pytest.raises(ValueError, match="does not belong"):
            check_pair(status, sub)


# --- exception rules ----------------------------------------------------------------------------------------

RULES = TrackingRules()  # stalled 5 d, customs hold 2 d, 2 failed attempts, ETA slip 2 d


def kinds(history: list[Scan], now_days: float, **watch: object) -> set[ExceptionKind]:
    seen = Watch(
        direction=watch.pop("direction", Direction.OUTBOUND),  # type: ignore[arg-type]
        progress=fold(history),
        shipped_at=T0,
        **watch,  # type: ignore[arg-type]
    )
    return {finding.kind for finding in detect(seen, RULES, at(now_days))}


@pytest.mark.parametrize(
    ("history", "now", "expected"),
    [
        # moving normally: nothing
        (scans((0, S), (1, IT)), 3, set()),
        # no scan for 5 days (in transit, or never picked up at all)
        (scans((0, S), (1, IT)), 6, {ExceptionKind.STALLED}),
        (scans((0, S)), 5.5, {ExceptionKind.STALLED}),
        ([], 5.5, {ExceptionKind.STALLED}),
        (scans((0, S), (1, IT)), 5.9, set()),
        # held by customs: not yet 2 days, then a hold; documents asked count as held
        (scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)), 3.5, set()),
        (scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)), 4.1, {ExceptionKind.CUSTOMS_HOLD}),
        (scans((1, IT), (2, CU, SubStatus.DOCUMENTS_REQUIRED)), 4.1, {ExceptionKind.CUSTOMS_HOLD}),
        # a long hold is a customs hold, not a stall as well
        (scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)), 9, {ExceptionKind.CUSTOMS_HOLD}),
        # duties due: at once
        (scans((1, IT), (2, CU, SubStatus.DUTIES_DUE)), 2.1, {ExceptionKind.DUTIES_DUE}),
        # released from customs and moving: nothing
        (scans((2, CU, SubStatus.CUSTOMS_HELD), (5, CU, SubStatus.CUSTOMS_RELEASED)), 6, set()),
        # failed attempts: one is fine, two is an exception, delivered after them is fine
        (scans((1, IT), (3, AF)), 3.5, set()),
        (scans((1, IT), (3, AF), (4, AF)), 4.5, {ExceptionKind.FAILED_ATTEMPTS}),
        (scans((1, IT), (3, AF), (4, AF), (5, DL)), 5.5, set()),
        # carrier exceptions
        (scans((1, IT), (3, EX, SubStatus.RETURNED_TO_SENDER)), 3.1, {ExceptionKind.RETURNED_TO_SENDER}),
        (scans((1, IT), (3, EX, SubStatus.LOST)), 3.1, {ExceptionKind.LOST}),
        (scans((1, IT), (3, EX, SubStatus.DAMAGED)), 3.1, {ExceptionKind.DAMAGED}),
        (scans((1, IT), (3, EX, SubStatus.ADDRESS_ISSUE)), 3.1, {ExceptionKind.ADDRESS_ISSUE}),
        # the carrier stopped reporting
        (scans((1, IT), (9, Status.EXPIRED)), 9.5, {ExceptionKind.STALLED}),
        # delivered: quiet for ever
        (scans((1, IT), (3, DL)), 30, set()),
    ],
)
def test_exception_table(history: list[Scan], now: float, expected: set[ExceptionKind]) -> None:
    assert kinds(history, now) == expected


def test_eta_slipped_only_beyond_the_allowance() -> None:
    history = scans((1, IT))
    assert kinds(history, 2, promised_eta=at(4), current_eta=at(6)) == set()
    assert kinds(history, 2, promised_eta=at(4), current_eta=at(6.5)) == {ExceptionKind.ETA_SLIPPED}


def test_a_late_date_is_not_news_beside_another_exception() -> None:
    stalled = scans((1, IT))
    assert kinds(stalled, 7, promised_eta=at(4), current_eta=at(9)) == {ExceptionKind.STALLED}


def test_delivered_but_not_received_needs_the_buyer_to_say_so() -> None:
    history = scans((1, IT), (3, DL))
    assert kinds(history, 4) == set()
    assert kinds(history, 4, buyer_says_missing=True) == {ExceptionKind.NOT_RECEIVED}


def test_return_parcel_only_raises_what_stops_it_arriving() -> None:
    # not handed over yet: the buyer's business, not a stall
    assert kinds([], 10, direction=Direction.RETURN) == set()
    assert kinds(scans((1, IT)), 10, direction=Direction.RETURN) == {ExceptionKind.STALLED}
    held = scans((1, IT), (2, CU, SubStatus.DUTIES_DUE))
    assert kinds(held, 3, direction=Direction.RETURN) == set()
    lost = scans((1, IT), (3, EX, SubStatus.LOST))
    assert kinds(lost, 4, direction=Direction.RETURN) == {ExceptionKind.LOST}


def test_lane_limits_override_the_tenant() -> None:
    rules = TrackingRules(lanes={"FRA>DE": LaneLimits(customs_hold_days=5), "JP": LaneLimits(stalled_days=9)})
    assert rules.for_lane("FRA", "DE").customs_hold_days == 5
    assert rules.for_lane("FXT", "DE").customs_hold_days == 2
    assert rules.for_lane("OSA", "JP").stalled_days == 9
    assert rules.for_lane("OSA", "JP").customs_hold_days == 2
    history = fold(scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)))
    watch = Watch(Direction.OUTBOUND, history, T0)
    assert detect(watch, rules.for_lane("FXT", "DE"), at(4.5))
    assert not detect(watch, rules.for_lane("FRA", "DE"), at(4.5))


@pytest.mark.parametrize(
    ("history", "now", "due"),
    [
        (scans((1, IT)), 2, at(6)),  # silence would reach 5 days
        (scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)), 3, at(4)),  # the hold reaches 2 days first
        (scans((1, IT), (3, DL)), 4, None),  # final: nothing left to check
        (scans((1, IT)), 7, at(8)),  # past every limit: look again tomorrow
    ],
)
def test_next_check(history: list[Scan], now: float, due: datetime | None) -> None:
    assert next_check(Watch(Direction.OUTBOUND, fold(history), T0), RULES, at(now)) == due


# --- transit and ETA ---------------------------------------------------------------------------------


def test_percentiles_nearest_rank() -> None:
    days = [3.0, 1.0, 2.0, 4.0, 10.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert percentile(days, 0.5) == 5.0
    assert percentile(days, 0.9) == 9.0
    assert percentile([4.0], 0.9) == 4.0


def test_lane_transit_uses_history_once_there_is_enough() -> None:
    assert lane_transit([2.0, 3.0], 4, 6) == LaneTransit(4.0, 6.0, 0)
    assert lane_transit([2.0, 3.0, 3.0, 4.0, 8.0], 4, 6) == LaneTransit(3.0, 8.0, 5)


def test_eta_follows_the_parcel() -> None:
    lane = LaneTransit(4.0, 6.0, 20)
    moving = fold(scans((0, S), (1, IT)))
    eta = estimate(moving, lane, T0, at(1.5))
    assert eta is not None and eta.expected == at(5) and eta.latest == at(7)  # from the first scan
    held = fold(scans((1, IT), (2, CU, SubStatus.CUSTOMS_HELD)))
    early, late = estimate(held, lane, T0, at(2.5)), estimate(held, lane, T0, at(6))
    assert early is not None and late is not None
    assert early.expected == at(5)  # still the plan
    assert late.expected == at(6) + timedelta(days=4 * 0.35 + 1)  # every day held moves it
    out = estimate(fold(scans((1, IT), (4, OFD))), lane, T0, at(4.2))
    assert out is not None and out.expected == at(4.2)
    again = estimate(fold(scans((1, IT), (4, AF))), lane, T0, at(4.2))
    assert again is not None and again.expected == at(5)
    assert estimate(fold(scans((1, IT), (4, DL))), lane, T0, at(5)) is None


# --- claims and settings -----------------------------------------------------------------------------


def test_claim_decision_and_moves() -> None:
    assert claim_decision(TrackingRules(), 5000) is ClaimStatus.RESHIPPED
    assert claim_decision(TrackingRules(claim_outcome=ClaimOutcome.REFUND), 5000) is ClaimStatus.REFUNDED
    assert claim_decision(TrackingRules(claim_auto_up_to_minor=4000), 5000) is ClaimStatus.NEEDS_PERSON
    assert check_claim_move(ClaimStatus.WAITING_CARRIER, ClaimStatus.FOUND) is ClaimStatus.FOUND
    assert check_claim_move(ClaimStatus.NEEDS_PERSON, ClaimStatus.REFUNDED) is ClaimStatus.REFUNDED
    with pytest.raises(IllegalTransition):
        check_claim_move(ClaimStatus.REFUNDED, ClaimStatus.RESHIPPED)


def test_settings_round_trip_and_errors_name_their_field() -> None:
    raw = {
        "stalled_days": 4,
        "customs_hold_days": 1.5,
        "claim_outcome": "refund",
        "priorities": {"eta_slipped": "p2"},
        "lanes": {"fra>de": {"customs_hold_days": 3}},
    }
    rules = rules_from_settings({"tracking": raw})
    assert rules.stalled_days == 4 and rules.claim_outcome is ClaimOutcome.REFUND
    assert rules.priority(ExceptionKind.ETA_SLIPPED) == "p2"
    assert rules.priority(ExceptionKind.CUSTOMS_HOLD) == "p1"
    assert rules.for_lane("FRA", "DE").customs_hold_days == 3
    assert rules_from_settings({"tracking": rules_as_settings(rules)}) == rules
    for bad, field in [
        ({"stalled_days": 0}, "stalled_days"),
        ({"stalled_days": "soon"}, "stalled_days"),
        ({"claim_outcome": "pray"}, "claim_outcome"),
        ({"priorities": {"lost": "p9"}}, "priorities"),
        ({"priorities": {"meteor": "p1"}}, "priorities"),
        ({"failed_attempts": 0}, "failed_attempts"),
        ({"notify_webhook_url": "ftp://x"}, "notify_webhook_url"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            rules_from_settings({"tracking": bad})
        assert caught.value.details.get("field") == field


def test_normalized_event_fingerprint_and_numbers() -> None:
    one = TrackingUpdate("1Z999AA1", T0, IT, description="Departed  hub", location="Leipzig")
    again = TrackingUpdate(
        "1z999aa1", T0.astimezone(), IT, description="departed hub", location="LEIPZIG", raw={"x": 1}
    )
    other = TrackingUpdate("1Z999AA1", T0 + timedelta(minutes=1), IT, description="Departed hub")
    assert one.fingerprint == again.fingerprint  # same carrier event, however it was written
    assert one.fingerprint != other.fingerprint
    assert normalize_number(" 1z 999-aa1 ") == "1Z999AA1"
    with pytest.raises(ValueError, match="time zone"):
        TrackingUpdate("X1", datetime(2026, 1, 1), IT)
    with pytest.raises(ValueError, match="does not belong"):
        TrackingUpdate("X1", T0, IT, SubStatus.LOST)


def test_the_assistant_answers_with_the_tracked_date() -> None:
    from aftersail.assistant.wording import order_status_answer

    def day(value: datetime) -> str:
        return value.date().isoformat()

    planned = order_status_answer(
        status="shipped",
        placed_at=T0,
        released_at=T0,
        updated_at=at(1),
        warehouse="FRA",
        transit_days=3,
        when=day,
    )
    tracked = order_status_answer(
        status="shipped",
        placed_at=T0,
        released_at=T0,
        updated_at=at(1),
        warehouse="FRA",
        transit_days=3,
        when=day,
        tracked_eta=at(9),
        tracked_shipped_at=at(0.5),
    )
    assert planned is not None and tracked is not None
    assert tracked[1]["eta"] == "2026-11-11" != planned[1]["eta"]
    assert tracked[1]["shipped_at"] == "2026-11-02" and tracked[2]["eta"] == "2026-11-11"
