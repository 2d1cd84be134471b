"""Pure rules of the support domain: the ticket state machine, the tenant's priority and SLA policy, routing
choices and macro rendering. No I/O; the business-hours maths is in `business_hours` and `sla_clock`."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aftersail.kit.errors import IllegalTransition, InvalidInput
from aftersail.support.models import ClockKind, Presence, Priority, TicketStatus

# --- ticket state machine ---------------------------------------------------------------------------------

S = TicketStatus
# Any live state may close directly: merging closes the merged-away ticket, spam is closed unanswered.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.OPEN: frozenset({S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.SNOOZED, S.RESOLVED, S.CLOSED}),
    S.PENDING_CUSTOMER: frozenset({S.OPEN, S.PENDING_INTERNAL, S.SNOOZED, S.RESOLVED, S.CLOSED}),
    S.PENDING_INTERNAL: frozenset({S.OPEN, S.PENDING_CUSTOMER, S.SNOOZED, S.RESOLVED, S.CLOSED}),
    S.SNOOZED: frozenset({S.OPEN, S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),  # reopened by a buyer message or an agent
    S.CLOSED: frozenset(),  # a buyer writing again starts a new ticket
}
LIVE = frozenset({S.OPEN, S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.SNOOZED})
# The SLA clocks stop counting while the ticket waits on the buyer.
WAITING_ON_CUSTOMER = frozenset({S.PENDING_CUSTOMER})


def transition(current: TicketStatus, target: TicketStatus) -> TicketStatus:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("ticket", current.value, target.value)
    return target


def status_after_customer_message(current: TicketStatus) -> TicketStatus:
    """A buyer writing wakes the ticket: pending, snoozed and resolved tickets open again."""
    return current if current is S.OPEN else transition(current, S.OPEN)


# --- priority and SLA policy ------------------------------------------------------------------------------

CATEGORIES = (
    "damaged",
    "wrong_item",
    "defective",
    "missing_item",
    "where_is_my_order",
    "return",
    "cancel",
    "change_order",
    "usage",
    "sizing",
    "billing",
    "thanks",
    "suggestion",
    "other",
)
DEFAULT_PRIORITY_MAP: dict[str, Priority] = {
    "damaged": Priority.P1,
    "wrong_item": Priority.P1,
    "defective": Priority.P1,
    "missing_item": Priority.P1,
    "where_is_my_order": Priority.P2,
    "return": Priority.P2,
    "cancel": Priority.P2,
    "change_order": Priority.P2,
    "billing": Priority.P2,
    "usage": Priority.P2,
    "sizing": Priority.P3,
    "other": Priority.P3,
    "thanks": Priority.P4,
    "suggestion": Priority.P4,
}
BREACH_ACTIONS = ("notify", "reassign", "raise_priority")


@dataclass(frozen=True, slots=True)
class Targets:
    """Minutes of business time; None means no such clock for this priority."""

    first_response: int | None
    next_response: int | None
    resolution: int | None

    def minutes(self, kind: ClockKind) -> int | None:
        return {
            ClockKind.FIRST_RESPONSE: self.first_response,
            ClockKind.NEXT_RESPONSE: self.next_response,
            ClockKind.RESOLUTION: self.resolution,
        }[kind]


DEFAULT_TARGETS: dict[Priority, Targets] = {
    Priority.P1: Targets(first_response=60, next_response=120, resolution=24 * 60),
    Priority.P2: Targets(first_response=4 * 60, next_response=8 * 60, resolution=48 * 60),
    Priority.P3: Targets(first_response=8 * 60, next_response=24 * 60, resolution=72 * 60),
    Priority.P4: Targets(first_response=24 * 60, next_response=48 * 60, resolution=None),
}
DEFAULT_BREACH_ACTIONS: dict[Priority, tuple[str, ...]] = {
    Priority.P1: ("notify", "raise_priority", "reassign"),
    Priority.P2: ("notify", "raise_priority"),
    Priority.P3: ("notify", "raise_priority"),
    Priority.P4: ("notify",),
}


@dataclass(frozen=True, slots=True)
class SupportPolicy:
    """The tenant's support settings (`tenant.settings["support"]`), every part editable."""

    priority_map: Mapping[str, Priority] = field(default_factory=lambda: dict(DEFAULT_PRIORITY_MAP))
    targets: Mapping[Priority, Targets] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    breach_actions: Mapping[Priority, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_BREACH_ACTIONS)
    )
    warn_fraction: float = 0.8
    calendar: Mapping[str, Any] = field(default_factory=dict)  # business hours of teams without their own
    csat_enabled: bool = True

    def priority_for(self, category: str) -> Priority:
        return self.priority_map.get(category, self.priority_map.get("other", Priority.P3))

    def target(self, priority: Priority, kind: ClockKind) -> timedelta | None:
        minutes = self.targets[priority].minutes(kind)
        return None if minutes is None else timedelta(minutes=minutes)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> SupportPolicy:
        support = dict((settings or {}).get("support") or {})
        default = cls()
        priority_map = {**default.priority_map}
        for category, priority in (support.get("priority_map") or {}).items():
            priority_map[category] = Priority(priority)
        targets = {**default.targets}
        for priority, minutes in (support.get("targets") or {}).items():
            targets[Priority(priority)] = Targets(
                first_response=minutes.get("first_response"),
                next_response=minutes.get("next_response"),
                resolution=minutes.get("resolution"),
            )
        actions = {**default.breach_actions}
        for priority, chosen in (support.get("breach_actions") or {}).items():
            actions[Priority(priority)] = tuple(chosen)
        return cls(
            priority_map=priority_map,
            targets=targets,
            breach_actions=actions,
            warn_fraction=float(support.get("warn_fraction", default.warn_fraction)),
            calendar=dict(support.get("calendar") or {}),
            csat_enabled=bool(support.get("csat_enabled", True)),
        )

    def as_settings(self) -> dict[str, Any]:
        return {
            "priority_map": {category: p.value for category, p in self.priority_map.items()},
            "targets": {
                p.value: {
                    "first_response": t.first_response,
                    "next_response": t.next_response,
                    "resolution": t.resolution,
                }
                for p, t in self.targets.items()
            },
            "breach_actions": {p.value: list(a) for p, a in self.breach_actions.items()},
            "warn_fraction": self.warn_fraction,
            "calendar": dict(self.calendar),
            "csat_enabled": self.csat_enabled,
        }


def raised(priority: Priority) -> Priority:
    """One tier more urgent (P1 stays P1)."""
    order = list(Priority)
    return order[max(0, order.index(priority) - 1)]


# --- routing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamCandidate:
    team_id: int
    categories: frozenset[str]
    languages: frozenset[str]


def choose_team(teams: Sequence[TeamCandidate], *, category: str, language: str) -> int | None:
    """The team that takes this category (a team listing no categories takes any), preferring one whose
    agents speak the buyer's language; ties go to the oldest team."""

    def takes(team: TeamCandidate) -> bool:
        return not team.categories or category in team.categories

    ranked = sorted(
        (t for t in teams if takes(t)),
        key=lambda t: (category not in t.categories, language not in t.languages, t.team_id),
    )
    return ranked[0].team_id if ranked else None


@dataclass(frozen=True, slots=True)
class AgentLoad:
    user_id: int
    presence: Presence
    capacity: int
    open_tickets: int
    languages: frozenset[str]


def choose_agent(
    agents: Sequence[AgentLoad], *, language: str, mode: str, last_assigned_user_id: int | None = None
) -> int | None:
    """An online agent with room under their capacity, speaking the buyer's language when any such agent
    is free (translation covers the rest). Least-loaded takes the lowest share of capacity in use;
    round-robin takes the next agent after the last one assigned. None: nobody can take it now."""
    free = [a for a in agents if a.presence is Presence.ONLINE and a.open_tickets < a.capacity]
    speakers = [a for a in free if language in a.languages]
    pool = speakers or free
    if not pool:
        return None
    if mode == "round_robin":
        ordered = sorted(pool, key=lambda a: a.user_id)
        after = [a for a in ordered if last_assigned_user_id is None or a.user_id > last_assigned_user_id]
        return (after or ordered)[0].user_id
    return min(pool, key=lambda a: (a.open_tickets / a.capacity, a.open_tickets, a.user_id)).user_id


# --- macros -----------------------------------------------------------------------------------------------

MACRO_VARIABLES = ("buyer_name", "order_number", "tracking_link", "eta", "agent_name", "reply_by")
MACRO_PARTS = ("greeting", "problem", "solution", "open_door")


def check_macro_text(part: str, text: str) -> None:
    """Placeholders are `{name}` from MACRO_VARIABLES; anything else is a mistake the author must see."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        raise InvalidInput(f"The {part} has an unmatched brace: {error}.", field=part) from error
    for name in names:
        if name not in MACRO_VARIABLES:
            known = ", ".join("{" + v + "}" for v in MACRO_VARIABLES)
            raise InvalidInput(
                f"The {part} uses {{{name}}}, which is not a variable. Use {known}.", field=part
            )


def render_macro(parts: Mapping[str, str], variables: Mapping[str, str]) -> str:
    """The four parts as paragraphs, placeholders filled; an unknown value shows as "—" so that the agent
    sees the gap before sending instead of the buyer seeing "{eta}"."""
    values = {name: (variables.get(name) or "—") for name in MACRO_VARIABLES}
    paragraphs = [parts[p].format_map(values).strip() for p in MACRO_PARTS if parts.get(p, "").strip()]
    return "\n\n".join(paragraphs)


# --- first-contact resolution -----------------------------------------------------------------------------


def first_contact_resolved(*, resolved: bool, reopen_count: int, customer_followups: int) -> bool:
    """一次解决: resolved with no reopen and no second customer follow-up."""
    return resolved and reopen_count == 0 and customer_followups == 0
