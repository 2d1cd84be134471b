"""What happened to one demo parcel, as a list of carrier steps with times and places: the ordinary route
(label, pick-up, hubs, customs on a cross-border lane, out for delivery, delivered) and the troubles a few
per cent of parcels meet (customs holds, failed attempts and a pick-up point, delays, stalls, loss, back to
the sender, an address problem). Pure: a seeded `random.Random` and the parcel's times go in, steps come
out; `demo/tracking.py` turns them into tracking events."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Leg:
    """Where a parcel goes: the places its scans name, and whether customs clears it."""

    pickup_place: str  # the warehouse's town (outbound) or the buyer's (a return)
    origin_hub: str
    export_gateway: str
    import_gateway: str
    destination_hub: str
    delivery_place: str
    international: bool  # leaves its country
    customs: bool  # and is cleared by customs on arrival


@dataclass(frozen=True, slots=True)
class Step:
    step: str  # a key of `carriers.STEPS`
    at: datetime
    place: str


@dataclass(frozen=True, slots=True)
class Story:
    scenario: str
    steps: list[Step]
    buyer_says_missing_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Gap:
    """A step and the time since the previous one: nominal hours (scaled to the parcel's transit), or
    fixed hours (a customs hold lasts what it lasts, out-for-delivery to delivered is the same day)."""

    step: str
    hours: float
    place: str
    fixed: bool = False


def draw_transit(rng: random.Random, median_days: float, p90_days: float) -> timedelta:
    """A transit time from the lane's figures: log-normal with that median and 90th percentile."""
    sigma = math.log(max(p90_days, median_days * 1.05) / median_days) / 1.2816
    return timedelta(days=max(median_days * math.exp(rng.gauss(0, sigma)), 0.3))


def _route(leg: Leg, rng: random.Random, *, until: str = "delivered") -> list[_Gap]:
    """The ordinary route from pick-up to `until` (included), with jittered nominal gaps."""

    def jitter(hours: float) -> float:
        return hours * rng.uniform(0.6, 1.4)

    gaps = [
        _Gap("pickup", 0, leg.pickup_place),
        _Gap("origin_hub", jitter(3), leg.origin_hub),
        _Gap("linehaul", jitter(4), leg.origin_hub),
    ]
    if leg.international:
        gaps += [
            _Gap("export", jitter(10), leg.export_gateway),
            _Gap("arrive_dest", jitter(16), leg.import_gateway),
        ]
    if leg.customs:
        gaps += [
            _Gap("customs", jitter(3), leg.import_gateway),
            _Gap("released", jitter(9), leg.import_gateway),
        ]
    gaps += [
        _Gap("dest_hub", jitter(14), leg.destination_hub),
        _Gap("out", jitter(9), leg.delivery_place),
        _Gap("delivered", rng.uniform(1.5, 6), leg.delivery_place, fixed=True),
    ]
    end = next(index for index, gap in enumerate(gaps) if gap.step == until)
    return gaps[: end + 1]


def _lay_out(gaps: list[_Gap], start: datetime, end: datetime) -> list[Step] | None:
    """Times for `gaps` from `start` (the first step) to `end` (the last): nominal gaps stretched or
    squeezed to fill what the fixed ones leave. None when the fixed gaps alone do not fit."""
    if len(gaps) == 1:
        return [Step(gaps[0].step, start, gaps[0].place)]
    span = (end - start).total_seconds() / 3600
    fixed = sum(gap.hours for gap in gaps[1:] if gap.fixed)
    nominal = sum(gap.hours for gap in gaps[1:] if not gap.fixed)
    if fixed > span * 0.9 or span <= 0:
        return None
    scale = (span - fixed) / nominal if nominal else 0.0
    steps = [Step(gaps[0].step, start, gaps[0].place)]
    at = start
    for gap in gaps[1:]:
        at = max(at + timedelta(hours=gap.hours if gap.fixed else gap.hours * scale), steps[-1].at + MINUTE)
        steps.append(Step(gap.step, at, gap.place))
    if steps[-2].at < end:  # exactly at `end` (the sums above round to the microsecond)
        steps[-1] = Step(steps[-1].step, end, steps[-1].place)
    return steps


def _label(rng: random.Random, pickup: datetime, not_before: datetime, place: str) -> Step:
    at = max(pickup - timedelta(hours=rng.uniform(1, 18)), not_before + 10 * MINUTE)
    return Step("label", min(at, pickup - MINUTE), place)


def _pick(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in table], weights=[weight for _, weight in table])[0]


# --- delivered parcels ------------------------------------------------------------------------------------


def delivered(
    leg: Leg,
    rng: random.Random,
    *,
    placed_at: datetime,
    pickup: datetime,
    delivered_at: datetime,
    now: datetime,
    doorstep: bool = True,
) -> Story:
    """A parcel handed over at `pickup` and delivered at `delivered_at`; some had trouble on the way (and
    recovered), and a few recent ones the buyer says never arrived (`doorstep` False, a return going to a
    warehouse: nothing happens at a door)."""
    recent = now - delivered_at < timedelta(days=12) and doorstep
    door = 1 if doorstep else 0
    scenario = _pick(
        rng,
        [
            ("normal", 85),
            ("customs_hold", 25 if leg.customs else 0),
            ("redelivered", door * 3),
            ("pickup_point", door * 4),
            ("delayed", 3),
            ("not_received", 5 if recent else 0),
        ],
    )
    gaps = _route(leg, rng)
    if scenario == "customs_hold":
        at = next(i for i, gap in enumerate(gaps) if gap.step == "released")
        kind = _pick(rng, [("held", 5), ("docs", 3), ("duties", 3)])
        hold = [_Gap("held", rng.uniform(2, 8), leg.import_gateway, fixed=True)]
        if kind != "held":
            hold.append(_Gap(kind, rng.uniform(6, 30), leg.import_gateway, fixed=True))
        gaps[at:at] = hold
        gaps[at + len(hold)] = _Gap("released", rng.uniform(20, 60), leg.import_gateway, fixed=True)
    elif scenario in ("redelivered", "pickup_point"):
        gaps[-1] = _Gap("attempt", rng.uniform(1.5, 6), leg.delivery_place, fixed=True)
        if scenario == "redelivered":
            gaps += [
                _Gap("out", rng.uniform(18, 22), leg.delivery_place, fixed=True),
                _Gap("delivered", rng.uniform(1, 6), leg.delivery_place, fixed=True),
            ]
        else:
            gaps += [
                _Gap("pickup_point", rng.uniform(3, 8), f"{leg.delivery_place}", fixed=True),
                _Gap("collected", rng.uniform(10, 50), leg.delivery_place, fixed=True),
            ]
    elif scenario == "delayed":
        at = next(i for i, gap in enumerate(gaps) if gap.step == "dest_hub")
        gaps.insert(at, _Gap("delay", rng.uniform(10, 30), leg.destination_hub))
    steps = _lay_out(gaps, pickup, delivered_at)
    if steps is None:  # the trouble does not fit between hand-over and delivery: it went smoothly
        scenario, steps = "normal", _lay_out(_route(leg, rng), pickup, delivered_at)
        if steps is None:
            steps = [
                Step("pickup", pickup, leg.pickup_place),
                Step("delivered", delivered_at, leg.delivery_place),
            ]
    missing = None
    if scenario == "not_received":
        missing = delivered_at + timedelta(hours=rng.uniform(3, 40))
        if missing >= now:
            scenario, missing = "normal", None
    return Story(scenario, [_label(rng, pickup, placed_at, leg.pickup_place), *steps], missing)


# --- parcels still on their way ----------------------------------------------------------------------------


def in_flight(
    leg: Leg,
    rng: random.Random,
    *,
    placed_at: datetime,
    pickup: datetime,
    transit: timedelta,
    now: datetime,
    doorstep: bool = True,
) -> Story:
    """A parcel handed over at `pickup` and not delivered by `now`. On time it is where its route says; once
    it is overdue something went wrong where its route says it was, and stayed wrong: the longer overdue,
    the worse (stalled, held in customs, failed attempts; lost or back to the sender weeks later). A
    parcel going to a warehouse (`doorstep` False: a return) meets no troubles at a door."""
    door = 1 if doorstep else 0
    label = _label(rng, pickup, placed_at, leg.pickup_place)
    elapsed = now - pickup
    days = elapsed / DAY
    route = _lay_out(_route(leg, rng), pickup, pickup + max(transit, 6 * HOUR)) or [
        Step("pickup", pickup, leg.pickup_place)
    ]
    table = (
        [
            ("stalled", 30),
            ("customs_hold", 30 if leg.customs and days < 25 else 0),
            ("failed_attempts", door * 16 if days < 25 else 0),
            ("returned", door * 14 if days > 10 else 0),
            ("lost", 14 if days > 14 else 0),
            ("address", door * 8),
            ("damaged", 5),
            ("late", 14 if days < 12 else 0),
        ]
        if elapsed > transit
        else [
            ("on_time", 80),
            ("customs_hold", 25 if leg.customs else 0),
            ("attempt", door * 5),
            ("pickup_point", door * 4),
        ]
    )
    scenario = _pick(rng, table)
    steps = _trouble(scenario, leg, rng, route, transit=transit, now=now)
    if steps is None and elapsed > transit:  # stuck at the last hub before the door
        scenario, steps = "stalled", [step for step in route if step.step not in ("out", "delivered")]
    elif steps is None:
        scenario, steps = "on_time", route
    kept = [step for step in steps if step.at < now] or route[:1]
    return Story(scenario, [label, *kept])


def _trouble(
    scenario: str, leg: Leg, rng: random.Random, route: list[Step], *, transit: timedelta, now: datetime
) -> list[Step] | None:
    """The route up to where the trouble began, and the trouble; None when the route does not reach that
    point before `now` (the parcel is simply on its way). Steps after `now` are cut by the caller."""
    at = {step.step: index for index, step in enumerate(route)}

    def upto(step: str) -> list[Step]:
        return route[: at[step] + 1]

    def when(step: str) -> datetime:
        return route[at[step]].at

    if scenario == "stalled":  # the last scan somewhere on the way, nothing since
        stop = rng.choice(["linehaul", "arrive_dest" if leg.international else "origin_hub", "dest_hub"])
        return upto(stop) if now - when(stop) > timedelta(days=5.3) else None
    if scenario == "customs_hold":
        if "customs" not in at or when("customs") >= now - HOUR:
            return None
        held_at = when("customs") + timedelta(hours=rng.uniform(1, 6))
        kind = _pick(rng, [("held", 4), ("docs", 3), ("duties", 3)])
        steps = [*upto("customs"), Step("held", held_at, leg.import_gateway)]
        if kind != "held":
            asked = min(held_at + timedelta(hours=rng.uniform(2, 20)), now - 10 * MINUTE)
            steps.append(Step(kind, max(asked, held_at + MINUTE), leg.import_gateway))
        return steps
    if scenario in ("attempt", "pickup_point"):  # on time, and the courier found nobody today
        tried = now - timedelta(hours=rng.uniform(2, 10))
        if when("dest_hub") > tried - 6 * HOUR:
            return None
        steps = [
            *upto("dest_hub"),
            Step("out", tried - timedelta(hours=rng.uniform(1.5, 5)), leg.delivery_place),
        ]
        steps.append(Step("attempt", tried, leg.delivery_place))
        if scenario == "pickup_point":
            steps.append(
                Step("pickup_point", tried + timedelta(hours=rng.uniform(0.5, 1.5)), leg.delivery_place)
            )
        return steps
    if scenario in ("failed_attempts", "returned", "address"):  # at the door when it was due
        first_try = when("delivered")
        steps = upto("out")
        if scenario == "address":
            return [*steps, Step("address", first_try, leg.delivery_place)]
        second_try = first_try + timedelta(hours=rng.uniform(20, 28))
        steps += [
            Step("attempt", first_try, leg.delivery_place),
            Step("out", second_try - timedelta(hours=rng.uniform(1.5, 5)), leg.delivery_place),
            Step("attempt", second_try, leg.delivery_place),
            Step("pickup_point", second_try + timedelta(hours=rng.uniform(2, 6)), leg.delivery_place),
        ]
        if scenario == "returned":  # not collected within the week the pick-up point keeps it
            steps.append(Step("rts", second_try + timedelta(days=rng.uniform(7, 7.9)), leg.destination_hub))
        return steps
    if scenario == "lost":  # silence, a trace, then the carrier gives up
        stop = rng.choice(["linehaul", "dest_hub"])
        last = when(stop)
        declared = min(last + timedelta(days=rng.uniform(10, 21)), now - timedelta(hours=rng.uniform(3, 72)))
        return [*upto(stop), Step("lost", declared, route[at[stop]].place)] if declared > last else None
    if scenario == "damaged":  # broken at a hub, set aside for inspection
        stop = rng.choice(["linehaul", "dest_hub"])
        return [
            *upto(stop),
            Step("damaged", when(stop) + timedelta(hours=rng.uniform(2, 20)), route[at[stop]].place),
        ]
    if scenario == "late":  # moving, but slowly: a delay at the hub and still not out for delivery
        gaps = _route(leg, rng, until="dest_hub")
        gaps.insert(len(gaps) - 1, _Gap("delay", rng.uniform(10, 30), leg.destination_hub))
        return _lay_out(gaps, route[0].at, now - timedelta(hours=rng.uniform(2, 30)))
    return None
