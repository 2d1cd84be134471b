"""Pure support rules: the ticket state machine, the tenant's priority/SLA policy, routing choices, macros and
first-contact resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersail.kit.errors import IllegalTransition, InvalidInput
from aftersail.support import rules
from aftersail.support.models import ClockKind, Presence, Priority, TicketStatus
from aftersail.support.rules import AgentLoad, SupportPolicy, TeamCandidate

S = TicketStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.OPEN, S.PENDING_CUSTOMER),
        (S.PENDING_CUSTOMER, S.OPEN),
        (S.OPEN, S.SNOOZED),
        (S.SNOOZED, S.OPEN),
        (S.OPEN, S.RESOLVED),
        (S.RESOLVED, S.OPEN),
        (S.RESOLVED, S.CLOSED),
        (S.PENDING_INTERNAL, S.CLOSED),
    ],
)
def test_allowed_moves(current: TicketStatus, target: TicketStatus) -> None:
    assert rules.transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.CLOSED, S.OPEN), (S.CLOSED, S.RESOLVED), (S.RESOLVED, S.PENDING_CUSTOMER), (S.RESOLVED, S.SNOOZED)],
)
def test_illegal_moves_name_both_states(current: TicketStatus, target: TicketStatus) -> None:
    with pytest.raises(IllegalTransition) as raised:
        rules.transition(current, target)
    assert current.value in raised.value.message and target.value in raised.value.message


def test_a_buyer_message_wakes_every_live_or_resolved_ticket() -> None:
    assert rules.status_after_customer_message(S.OPEN) is S.OPEN
    for status in (S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.SNOOZED, S.RESOLVED):
        assert rules.status_after_customer_message(status) is S.OPEN
    with pytest.raises(IllegalTransition):
        rules.status_after_customer_message(S.CLOSED)


def test_default_priorities_follow_the_brief() -> None:
    policy = SupportPolicy()
    assert [policy.priority_for(c) for c in ("damaged", "wrong_item", "defective")] == [Priority.P1] * 3
    assert policy.priority_for("usage") is Priority.P2
    assert policy.priority_for("sizing") is Priority.P3
    assert policy.priority_for("thanks") is Priority.P4 and policy.priority_for("suggestion") is Priority.P4
    assert policy.target(Priority.P1, ClockKind.FIRST_RESPONSE) == timedelta(hours=1)
    assert policy.target(Priority.P1, ClockKind.RESOLUTION) == timedelta(hours=24)
    assert policy.target(Priority.P4, ClockKind.FIRST_RESPONSE) == timedelta(hours=24)
    assert policy.priority_for("not-a-category") is Priority.P3  # as "other"


def test_tenant_settings_override_and_round_trip() -> None:
    policy = SupportPolicy.from_settings(
        {
            "support": {
                "priority_map": {"sizing": "p1"},
                "targets": {"p1": {"first_response": 30, "next_response": 60, "resolution": None}},
                "breach_actions": {"p3": ["notify", "reassign"]},
                "warn_fraction": 0.75,
            }
        }
    )
    assert policy.priority_for("sizing") is Priority.P1
    assert policy.priority_for("damaged") is Priority.P1  # untouched defaults stay
    assert policy.target(Priority.P1, ClockKind.FIRST_RESPONSE) == timedelta(minutes=30)
    assert policy.target(Priority.P1, ClockKind.RESOLUTION) is None
    assert policy.breach_actions[Priority.P3] == ("notify", "reassign")
    assert SupportPolicy.from_settings({"support": policy.as_settings()}) == policy


def test_raised_priority_stops_at_p1() -> None:
    assert rules.raised(Priority.P3) is Priority.P2
    assert rules.raised(Priority.P1) is Priority.P1


def test_team_choice_prefers_the_category_then_the_language() -> None:
    teams = [
        TeamCandidate(1, frozenset(), frozenset({"zh"})),  # catch-all
        TeamCandidate(2, frozenset({"damaged", "return"}), frozenset({"zh", "en"})),
        TeamCandidate(3, frozenset({"damaged"}), frozenset({"zh", "de"})),
    ]
    assert rules.choose_team(teams, category="damaged", language="de") == 3
    assert rules.choose_team(teams, category="damaged", language="fr") == 2
    assert rules.choose_team(teams, category="usage", language="de") == 1
    assert rules.choose_team(teams[1:], category="usage", language="de") is None


def agent(user_id: int, open_tickets: int, *, capacity: int = 10, presence: Presence = Presence.ONLINE,
          languages: tuple[str, ...] = ("zh",)) -> AgentLoad:  # fmt: skip
    return AgentLoad(user_id, presence, capacity, open_tickets, frozenset(languages))


def test_least_loaded_takes_the_lowest_share_among_speakers_of_the_language() -> None:
    agents = [agent(1, 2), agent(2, 5, languages=("zh", "de")), agent(3, 1, capacity=2, languages=("de",))]
    # Agent 3 has 1 of 2 (50 %), agent 2 has 5 of 10 (50 %) but more tickets: agent 3.
    assert rules.choose_agent(agents, language="de", mode="least_loaded") == 3
    assert rules.choose_agent(agents, language="ar", mode="least_loaded") == 1  # nobody speaks it: anyone


def test_offline_away_and_full_agents_get_nothing() -> None:
    agents = [
        agent(1, 0, presence=Presence.OFFLINE),
        agent(2, 0, presence=Presence.AWAY),
        agent(3, 10, capacity=10),
    ]
    assert rules.choose_agent(agents, language="zh", mode="least_loaded") is None
    assert rules.choose_agent(agents, language="zh", mode="round_robin") is None


def test_round_robin_takes_the_next_agent_and_wraps() -> None:
    agents = [agent(5, 3), agent(2, 9), agent(9, 0)]
    assert rules.choose_agent(agents, language="zh", mode="round_robin", last_assigned_user_id=None) == 2
    assert rules.choose_agent(agents, language="zh", mode="round_robin", last_assigned_user_id=2) == 5
    assert rules.choose_agent(agents, language="zh", mode="round_robin", last_assigned_user_id=9) == 2


def test_macro_renders_four_parts_and_shows_missing_values() -> None:
    parts = {
        "greeting": "Hallo {buyer_name}, ich bin {agent_name}. Sie hören bis {reply_by} von mir.",
        "problem": "Ihre Bestellung {order_number} kam beschädigt an.",
        "solution": "Wir senden Ersatz; Ankunft {eta}. Sendungsverfolgung: {tracking_link}",
        "open_door": "Schreiben Sie mir jederzeit.",
    }
    text = rules.render_macro(
        parts, {"buyer_name": "Lena", "agent_name": "Wang", "reply_by": "18:00", "order_number": "A1001"}
    )
    assert text.split("\n\n") == [
        "Hallo Lena, ich bin Wang. Sie hören bis 18:00 von mir.",
        "Ihre Bestellung A1001 kam beschädigt an.",
        "Wir senden Ersatz; Ankunft —. Sendungsverfolgung: —",
        "Schreiben Sie mir jederzeit.",
    ]


def test_macro_text_with_an_unknown_variable_or_brace_is_refused() -> None:
    rules.check_macro_text("greeting", "Hi {buyer_name}")
    with pytest.raises(InvalidInput, match=r"\{customer\}"):
        rules.check_macro_text("greeting", "Hi {customer}")
    with pytest.raises(InvalidInput, match="brace"):
        rules.check_macro_text("solution", "Hi {buyer_name")


def test_first_contact_resolution() -> None:
    assert rules.first_contact_resolved(resolved=True, reopen_count=0, customer_followups=0)
    assert not rules.first_contact_resolved(resolved=True, reopen_count=1, customer_followups=0)
    assert not rules.first_contact_resolved(resolved=True, reopen_count=0, customer_followups=1)
    assert not rules.first_contact_resolved(resolved=False, reopen_count=0, customer_followups=0)
