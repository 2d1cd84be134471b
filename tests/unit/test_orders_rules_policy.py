"""The order state machine, the cooling-off check, the tenant's order policy and parcel address keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aftersail.kit.errors import Conflict, IllegalTransition
from aftersail.orders.models import OrderStatus
from aftersail.orders.rules import (
    CHANGEABLE,
    TRANSITIONS,
    ChangeWindowClosed,
    OrderPolicy,
    ShortagePolicy,
    address_key,
    check_changeable,
    check_transition,
)

S = OrderStatus


def test_every_status_has_a_row_and_terminal_states_go_nowhere() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    assert TRANSITIONS[S.DELIVERED] == TRANSITIONS[S.CANCELLED] == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.ALLOCATED),
        (S.PENDING, S.BACKORDERED),
        (S.PENDING, S.CANCELLED),
        (S.ALLOCATED, S.ALLOCATED),  # re-allocated after a change
        (S.ALLOCATED, S.BACKORDERED),
        (S.BACKORDERED, S.ALLOCATED),  # stock arrived
        (S.ALLOCATED, S.RELEASED),
        (S.BACKORDERED, S.CANCELLED),
        (S.RELEASED, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED),
    ],
)
def test_allowed_moves(current: OrderStatus, target: OrderStatus) -> None:
    assert check_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.RELEASED),
        (S.PENDING, S.SHIPPED),
        (S.RELEASED, S.CANCELLED),  # after release a cancellation is a return
        (S.RELEASED, S.ALLOCATED),
        (S.SHIPPED, S.CANCELLED),
        (S.DELIVERED, S.SHIPPED),
        (S.CANCELLED, S.ALLOCATED),
    ],
)
def test_illegal_moves_name_both_states(current: OrderStatus, target: OrderStatus) -> None:
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, target)
    assert refused.value.message == f"order: cannot move from {current.value!r} to {target.value!r}"
    assert refused.value.details == {"current": current.value, "target": target.value}


def test_changes_are_allowed_until_release() -> None:
    assert {S.PENDING, S.ALLOCATED, S.BACKORDERED} == CHANGEABLE
    for status in CHANGEABLE:
        check_changeable(status, "change its address")


@pytest.mark.parametrize("status", [S.RELEASED, S.SHIPPED, S.DELIVERED])
def test_after_release_a_change_becomes_a_return(status: OrderStatus) -> None:
    with pytest.raises(ChangeWindowClosed) as refused:
        check_changeable(status, "change its address")
    assert refused.value.message == (
        f"This order is already {status.value} and can no longer change its address; "
        "ask for a return or an exchange instead."
    )
    assert refused.value.details == {"status": status.value}
    assert isinstance(refused.value, Conflict) and refused.value.code == "change_window_closed"


def test_a_cancelled_order_cannot_change() -> None:
    with pytest.raises(ChangeWindowClosed) as refused:
        check_changeable(S.CANCELLED, "be cancelled")
    assert refused.value.message == "This order is cancelled; it cannot be cancelled."


def test_policy_defaults_without_settings() -> None:
    cases: list[dict[str, Any] | None] = [
        None,
        {},
        {"orders": None},
        {"orders": {}},
        {"returns": {"days": 30}},
    ]
    for settings in cases:
        policy = OrderPolicy.from_settings(settings)
        assert policy == OrderPolicy()
    default = OrderPolicy()
    assert default.on_shortage is ShortagePolicy.BACKORDER
    assert (default.release_after_minutes, default.merge_window_minutes, default.low_stock_default) == (
        None,
        120,
        5,
    )


def test_policy_reads_the_tenant_settings() -> None:
    policy = OrderPolicy.from_settings(
        {
            "orders": {
                "on_shortage": "reject",
                "release_after_minutes": "30",  # values typed in a settings form arrive as text
                "merge_window_minutes": 0,
                "low_stock_default": 12,
            }
        }
    )
    assert policy == OrderPolicy(ShortagePolicy.REJECT, 30, 0, 12)


def test_release_due_time_follows_the_window() -> None:
    placed = datetime(2025, 3, 7, 12, 0, tzinfo=UTC)
    assert OrderPolicy().release_due_at(placed) is None  # until picking starts
    assert OrderPolicy(release_after_minutes=45).release_due_at(placed) == placed + timedelta(minutes=45)
    assert OrderPolicy(release_after_minutes=0).release_due_at(placed) == placed


BERLIN = {
    "name": "Lena Vogel",
    "line1": "Hauptstraße 5",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def test_addresses_differing_in_case_spacing_or_commas_are_one_stop() -> None:
    same = [
        BERLIN,
        {**BERLIN, "name": "  LENA   vogel "},
        {**BERLIN, "line1": "Hauptstraße, 5", "city": "berlin"},
        {**BERLIN, "company": "", "line2": None},  # empty and missing fields are the same
        dict(reversed(list(BERLIN.items()))),  # field order does not matter
        {**BERLIN, "phone": "+49 30 1234"},  # only address fields count
    ]
    keys = {address_key(a) for a in same}
    assert len(keys) == 1
    (key,) = keys
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"postal_code": "10117"},
        {"line1": "Hauptstraße 6"},
        {"line2": "Hinterhaus"},
        {"name": "Jonas Vogel"},
        {"country": "AT"},
        {"company": "Vogel GmbH"},
        {"region": "BE"},
    ],
)
def test_a_different_address_is_a_different_stop(change: dict[str, str]) -> None:
    assert address_key({**BERLIN, **change}) != address_key(BERLIN)


def test_fields_do_not_run_into_each_other() -> None:
    assert address_key({"line1": "12", "line2": "3"}) != address_key({"line1": "1", "line2": "23"})
