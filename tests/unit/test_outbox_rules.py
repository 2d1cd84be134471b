"""The outbox's pure rules: retry backoff, what a failure or an expired lease leads to, which events are
claimable, and which handlers a topic reaches."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aftersail.kit.outbox import (
    Delivery,
    Handler,
    Registry,
    RetryPolicy,
    after_failure,
    expired_lease_is_dead,
    is_claimable,
    topic_matches,
)
from aftersail.kit.outbox_models import OutboxStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 2), (2, 4), (3, 8), (4, 16), (9, 512), (10, 600), (30, 600)]
)
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(attempt: int, ceiling: float) -> None:
    policy = RetryPolicy(base_seconds=2, max_seconds=600)
    rng = random.Random(attempt)
    delays = [policy.delay(attempt, rng).total_seconds() for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4, "jitter spreads the retries of many events"


def test_backoff_never_shrinks_from_one_attempt_to_the_next() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=1000)
    rng = random.Random(7)
    for attempt in range(1, 10):
        # The slowest retry of attempt n is no later than the quickest of attempt n + 1.
        assert (
            policy.delay(attempt, rng)
            <= timedelta(seconds=2 ** (attempt - 1))
            <= policy.delay(attempt + 1, rng)
        )


def test_a_failure_with_attempts_left_is_retried_later() -> None:
    outcome = after_failure(2, 5, NOW, RetryPolicy(base_seconds=10, max_seconds=100), random.Random(1))
    assert outcome.status is OutboxStatus.PENDING
    assert outcome.due_at is not None
    assert NOW + timedelta(seconds=10) <= outcome.due_at <= NOW + timedelta(seconds=20)


@pytest.mark.parametrize(("attempts", "max_attempts"), [(5, 5), (6, 5), (1, 1)])
def test_a_failure_on_the_last_attempt_is_dead(attempts: int, max_attempts: int) -> None:
    outcome = after_failure(attempts, max_attempts, NOW, RetryPolicy())
    assert outcome.status is OutboxStatus.DEAD
    assert outcome.due_at is None


def test_pending_events_are_claimable_once_due() -> None:
    assert is_claimable(OutboxStatus.PENDING, NOW, None, NOW)
    assert is_claimable(OutboxStatus.PENDING, NOW - timedelta(hours=1), None, NOW)
    assert not is_claimable(OutboxStatus.PENDING, NOW + timedelta(seconds=1), None, NOW)


def test_running_events_are_claimable_only_when_their_lease_ran_out() -> None:
    assert not is_claimable(OutboxStatus.RUNNING, NOW, NOW + timedelta(seconds=30), NOW)
    assert not is_claimable(OutboxStatus.RUNNING, NOW, NOW, NOW)
    assert is_claimable(OutboxStatus.RUNNING, NOW, NOW - timedelta(microseconds=1), NOW)


@pytest.mark.parametrize("status", [OutboxStatus.DONE, OutboxStatus.DEAD])
def test_finished_events_are_never_claimable(status: OutboxStatus) -> None:
    assert not is_claimable(status, NOW - timedelta(days=1), None, NOW)


def test_an_expired_lease_counts_as_an_attempt() -> None:
    assert not expired_lease_is_dead(attempts=2, max_attempts=3)
    assert expired_lease_is_dead(attempts=3, max_attempts=3)


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        ("order.created", "order.created", True),
        ("order.created", "order.created.v2", False),
        ("live.*", "live.typing", True),
        ("live.*", "live", False),
        ("live.*", "lively.thing", False),
        ("*", "anything.at.all", True),
    ],
)
def test_topic_patterns(pattern: str, topic: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches


async def _noop(session: object, delivery: Delivery) -> None:
    return None


def test_registry_finds_handlers_by_topic_in_registration_order() -> None:
    registry = Registry()
    registry.register("order.created", name="b.first")(_noop)
    registry.register("order.*", "return.*", name="a.second")(_noop)
    registry.register("return.approved", name="c.third")(_noop)
    assert [h.name for h in registry.handlers_for("order.created")] == ["b.first", "a.second"]
    assert [h.name for h in registry.handlers_for("return.approved")] == ["a.second", "c.third"]
    assert registry.handlers_for("ticket.created") == []


def test_handler_names_are_unique_because_handled_events_remembers_them() -> None:
    registry = Registry()
    registry.register("a", name="notify.email")(_noop)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("b", name="notify.email")(_noop)


def test_handler_name_defaults_to_the_function_path() -> None:
    registry = Registry()
    registry.register("a")(_noop)
    assert [h.name for h in registry.handlers_for("a")] == [f"{__name__}._noop"]


def test_with_handlers_returns_a_copy() -> None:
    registry = Registry()
    registry.register("a", name="one")(_noop)
    extended = registry.with_handlers([Handler(name="two", topics=("a",), fn=_noop)])
    assert [h.name for h in extended.handlers_for("a")] == ["one", "two"]
    assert [h.name for h in registry.handlers_for("a")] == ["one"]
