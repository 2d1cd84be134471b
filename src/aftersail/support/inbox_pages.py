"""Console pages of the agents' inbox: `/inbox` (views, filters, the ticket list) and `/inbox/{ticket_id}`
(the same, with the ticket's thread, composer and side panel).

Everything is rendered here from the database, so a direct link works without a script. The inbox scripts
(`static/js/inbox*.js`) then keep the page current from `/ws`: they ask this same address for one part
(`?part=list` or `?part=thread`) and swap it in, and they write through the JSON API under /api/v1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from aftersail.assistant import insight as assistant_insight
from aftersail.assistant import photo_checks
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.config import SUPPORTED_LOCALES
from aftersail.kit.i18n import N_, format_money
from aftersail.kit.validation import PathId
from aftersail.orders import service as orders
from aftersail.orders.models import Customer, OrderStatus
from aftersail.orders.order_view import OrderView, load_order_view
from aftersail.orders.pages import ALLOCATION_LABELS
from aftersail.orders.pages import STATUS_LABELS as ORDER_STATUS_LABELS
from aftersail.returns import cases as return_cases
from aftersail.returns import ticket_panel
from aftersail.returns.models import RefundKind, RefundStatus
from aftersail.returns.rules import Outcome, Reason, Resolution, ReturnStatus
from aftersail.shipping import pages as parcel_pages
from aftersail.shipping import ticket_panel as parcel_panel
from aftersail.support import inbox, macros
from aftersail.support.inbox import AT_RISK_WITHIN, TicketFilters
from aftersail.support.messages import MENTION
from aftersail.support.models import (
    AgentStatus,
    AuthorKind,
    Channel,
    ClockKind,
    ClockState,
    Presence,
    Priority,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from aftersail.support.rules import TRANSITIONS
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role, User
from aftersail.tenants.rules import Permission, role_allows
from aftersail.video import call_panel, evidence_pages, evidence_panel
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import ServicesDep, SessionDep
from aftersail.web.live_status import connection_labels
from aftersail.web.rendering import ConsolePageRoute, gettext_for, render
from aftersail.web.services import Services

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

PAGE_SIZE = 100
COUNT_CAP = 99  # a view count above this shows as "99+"
RECENT_ORDERS = 3
VIEW_LABELS = {
    "mine": N_("Mine"),
    "unassigned": N_("Unassigned"),
    "at_risk": N_("SLA at risk"),
    "live": N_("All live"),
    "all": N_("All tickets"),
}
SORT_LABELS = {"activity": N_("Last activity"), "due": N_("SLA due first"), "newest": N_("Newest first")}
STATUS_LABELS = {
    TicketStatus.OPEN: N_("Open"),
    TicketStatus.PENDING_CUSTOMER: N_("Waiting on buyer"),
    TicketStatus.PENDING_INTERNAL: N_("Waiting on us"),
    TicketStatus.SNOOZED: N_("Snoozed"),
    TicketStatus.RESOLVED: N_("Resolved"),
    TicketStatus.CLOSED: N_("Closed"),
}
PRIORITY_LABELS = {
    Priority.P1: N_("Urgent"),
    Priority.P2: N_("High"),
    Priority.P3: N_("Normal"),
    Priority.P4: N_("Low priority"),
}
CHANNEL_LABELS = {
    Channel.CHAT: N_("Web chat"),
    Channel.EMAIL: N_("E-mail"),
    Channel.API: N_("Marketplace API"),
}
CLOCK_LABELS = {
    ClockKind.FIRST_RESPONSE: N_("First response"),
    ClockKind.NEXT_RESPONSE: N_("Next response"),
    ClockKind.RESOLUTION: N_("Resolution"),
}
CLOCK_STATES = {
    ClockState.RUNNING: N_("Running"),
    ClockState.PAUSED: N_("Paused while the buyer answers"),
    ClockState.MET: N_("Met"),
    ClockState.BREACHED: N_("Breached"),
    ClockState.CANCELLED: N_("Cancelled"),
}
EVENT_LABELS = {
    "opened": N_("Ticket opened"),
    "status": N_("Status changed"),
    "priority": N_("Priority changed"),
    "category": N_("Category changed"),
    "tags": N_("Tags changed"),
    "assigned": N_("Assignee changed"),
    "team": N_("Team changed"),
    "merged": N_("Another ticket merged in"),
    "split": N_("Messages split off"),
    "sla_warning": N_("SLA warning"),
    "sla_breached": N_("SLA breached"),
    "csat": N_("Buyer rated the help"),
    # Steps of a return opened on (or joined to) the ticket: returns.service.do_record.
    "return.requested": N_("Return requested"),
    "return.decided": N_("Return decided by the policy"),
    "return.status": N_("Return status changed"),
    "return.routed": N_("Return routed, label issued"),
    "return.reviewed": N_("Return reviewed by an agent"),
    "return.exchange_reserved": N_("Exchange reserved"),
    "return.exchange_released": N_("Exchange released for shipping"),
    "return.graded": N_("Return received and graded"),
    "return.discrepancy": N_("Return differs from the request"),
    "return.refund_requested": N_("Refund asked for"),
    "return.refunded": N_("Refunded"),
    "return.refund_failed": N_("Refund failed"),
    "return.cycle_breached": N_("Cycle time overdue"),
}
PRESENCE_LABELS = {Presence.ONLINE: N_("Online"), Presence.AWAY: N_("Away"), Presence.OFFLINE: N_("Offline")}
# Durations and relative times, shared by the page and its scripts (which get `{name}` slots).
MINUTES = N_("%(minutes)s min")
HOURS = N_("%(hours)s h %(minutes)s min")
DAYS = N_("%(days)s d %(hours)s h")
DUE_IN = N_("due in %(duration)s")
OVERDUE = N_("overdue %(duration)s")
SCRIPT_TEXTS = {
    "due_in": DUE_IN,
    "overdue": OVERDUE,
    "minutes": MINUTES,
    "hours": HOURS,
    "days": DAYS,
    "viewing": N_("%(name)s is viewing this ticket"),
    "typing": N_("%(name)s is typing a reply"),
    "buyer_typing": N_("The buyer is typing…"),
    "arriving": N_("Arriving — not stored yet"),
    "not_stored": N_("Not stored: %(reason)s The buyer was told to send it again."),
    "translating": N_("Translating…"),
    "translate_failed": N_("Translation is not available: %(reason)s You can send as written."),
    "check_preview": N_("Check the translation in the buyer's language, then send."),
    "stale_preview": N_("You changed your text after translating it. Translate again or send as it is."),
    "empty": N_("Write something first."),
    "sending": N_("Sending your reply…"),
    "sent": N_("Your reply was sent."),
    "note_saved": N_("Note added."),
    "failed": N_("That did not work: %(reason)s"),
    "saved": N_("Saved."),
    "uploading": N_("Uploading %(name)s…"),
    "remove": N_("Remove"),
    "merge_confirm": N_("Merge ticket #%(source)s into this one? Its messages move here and it closes."),
    "merge_id": N_("Enter the number of the ticket to merge into this one."),
    "split_none": N_("Tick the messages to move to a new ticket."),
    "split_done": N_("Moved to the new ticket #%(id)s."),
    "selected": N_("%(count)s selected"),
    "mentioned": N_("You were mentioned in ticket #%(id)s"),
    "writing_in": N_("Writing in %(language)s"),
}


class _Slots(dict[str, str]):
    """`%(name)s` → `{name}` for the scripts, which fill the values themselves."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def script_messages(locale: str) -> dict[str, Any]:
    gettext = gettext_for(locale)
    texts = {key: gettext(text) % _Slots() for key, text in SCRIPT_TEXTS.items()}
    return {**texts, "connection": connection_labels(locale)}


def duration_text(gettext: Callable[[str], str], seconds: float) -> str:
    minutes = max(1, round(abs(seconds) / 60))
    if minutes < 60:
        return gettext(MINUTES) % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return gettext(HOURS) % {"hours": hours, "minutes": minutes}
    days, hours = divmod(hours, 24)
    return gettext(DAYS) % {"days": days, "hours": hours}


@dataclass(frozen=True, slots=True)
class DueText:
    text: str
    state: str  # "ok", "at_risk" (within the hour), "overdue"


def due_text(gettext: Callable[[str], str], due_at: datetime | None, now: datetime) -> DueText | None:
    if due_at is None:
        return None
    left = (as_utc(due_at) - now).total_seconds()
    if left < 0:
        return DueText(gettext(OVERDUE) % {"duration": duration_text(gettext, left)}, "overdue")
    state = "at_risk" if left <= AT_RISK_WITHIN.total_seconds() else "ok"
    return DueText(gettext(DUE_IN) % {"duration": duration_text(gettext, left)}, state)


def highlight_mentions(text: str) -> Markup:
    """The text, escaped, with each @mention wrapped in <mark> (the words stay the author's, as text)."""
    parts: list[Markup] = []
    last = 0
    for found in MENTION.finditer(text):
        parts.append(escape(text[last : found.start()]))
        parts.append(Markup('<mark class="mention">{}</mark>').format(found.group(0)))
        last = found.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


# --- the list ---------------------------------------------------------------------------------------------

FILTER_NAMES = ("view", "status", "priority", "team", "language", "channel", "tag", "q", "sort")


@dataclass
class InboxQuery:
    """The views and filters as typed (echoed into the form) and what they mean, or their errors."""

    values: dict[str, str]
    filters: TicketFilters = field(default_factory=TicketFilters)
    cursor: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def view(self) -> str:
        return self.filters.view

    @property
    def narrowed(self) -> bool:
        return any(v for k, v in self.values.items() if k not in ("view", "sort"))

    def query(self, **extra: str) -> str:
        """The query string of this list, with `extra` changes ("" drops a value)."""
        pairs = {k: v for k, v in {**self.values, **extra}.items() if v}
        if pairs.get("view") == "live":
            pairs.pop("view")
        if pairs.get("sort") == "activity":
            pairs.pop("sort")
        return urlencode(pairs)


def parse_inbox_query(params: QueryParams, team_ids: set[int]) -> InboxQuery:
    values = {name: params.get(name, "").strip()[:120] for name in FILTER_NAMES}
    values["view"] = values["view"] or "live"
    values["sort"] = values["sort"] or "activity"
    query = InboxQuery(values=values, cursor=params.get("cursor") or None)
    found: dict[str, Any] = {}
    if values["view"] not in VIEW_LABELS:
        query.errors["view"] = N_("Choose a view from the list.")
        values["view"] = "live"
    if values["sort"] not in SORT_LABELS:
        values["sort"] = "activity"
    for name, kind in (("status", TicketStatus), ("priority", Priority), ("channel", Channel)):
        if values[name]:
            try:
                found[name] = kind(values[name])
            except ValueError:
                query.errors[name] = N_("Choose a value from the list.")
    if values["team"]:
        if values["team"].isdigit() and int(values["team"]) in team_ids:
            found["team_id"] = int(values["team"])
        else:
            query.errors["team"] = N_("Choose a value from the list.")
    if values["language"]:
        if values["language"] in SUPPORTED_LOCALES:
            found["language"] = values["language"]
        else:
            query.errors["language"] = N_("Choose a value from the list.")
    query.filters = TicketFilters(
        view=values["view"], tag=values["tag"].lower() or None, q=values["q"] or None, **found
    )
    return query


@dataclass
class Agent:
    user: User
    presence: Presence

    @property
    def assignable(self) -> bool:
        return self.user.is_active and self.user.role in (Role.AGENT, Role.ADMIN)

    @property
    def handle(self) -> str:
        return self.user.name.lower().replace(" ", "")


async def load_agents(session: AsyncSession, tenant_id: int) -> dict[int, Agent]:
    """Every user of the tenant with their presence (names in the thread, the assignee choice)."""
    rows = await session.execute(
        select(User, AgentStatus.presence)
        .outerjoin(AgentStatus, (AgentStatus.user_id == User.id) & (AgentStatus.tenant_id == tenant_id))
        .where(User.tenant_id == tenant_id)
        .order_by(User.name, User.id)
    )
    return {user.id: Agent(user, presence or Presence.OFFLINE) for user, presence in rows.all()}


async def unread_ticket_ids(session: AsyncSession, tenant_id: int, ticket_ids: Iterable[int]) -> set[int]:
    """Tickets with a buyer message no agent has opened yet."""
    ids = list(ticket_ids)
    if not ids:
        return set()
    rows = await session.scalars(
        select(TicketMessage.ticket_id)
        .where(
            TicketMessage.tenant_id == tenant_id,
            TicketMessage.ticket_id.in_(ids),
            TicketMessage.author_kind == AuthorKind.CUSTOMER,
            TicketMessage.read_at.is_(None),
        )
        .distinct()
    )
    return set(rows)


@dataclass
class Row:
    ticket: Ticket
    customer: Customer
    unread: bool


async def load_rows(
    session: AsyncSession, console: ConsoleContext, query: InboxQuery
) -> tuple[list[Row], str | None]:
    """One page of the view in the chosen order (at most PAGE_SIZE)."""
    if query.errors:
        return [], None
    tenant_id = console.tenant.id
    page = await inbox.list_tickets(
        session,
        tenant_id,
        query.filters,
        user_id=console.user.id,
        cursor=query.cursor,
        limit=PAGE_SIZE,
        order=query.values["sort"],
    )
    unread = await unread_ticket_ids(session, tenant_id, (t.id for t in page.items))
    customers: dict[int, Customer] = {}
    rows = []
    for ticket in page.items:
        if ticket.customer_id not in customers:
            customers[ticket.customer_id] = await orders.access_customer(
                session, tenant_id, ticket.customer_id
            )
        rows.append(Row(ticket, customers[ticket.customer_id], ticket.id in unread))
    return rows, page.next_cursor


async def view_counts(session: AsyncSession, console: ConsoleContext) -> dict[str, int]:
    """How many tickets each view holds (counted up to COUNT_CAP + 1)."""
    counts = {}
    for view in VIEW_LABELS:
        page = await inbox.list_tickets(
            session, console.tenant.id, TicketFilters(view=view), user_id=console.user.id, limit=COUNT_CAP + 1
        )
        counts[view] = len(page.items)
    return counts


# --- one ticket ---------------------------------------------------------------------------------------------


@dataclass
class ShownMessage:
    """One message as the agent sees it: translated into their language (buyer messages), or beside what
    the buyer received (the agents' public replies)."""

    message: TicketMessage
    kind: str  # buyer, agent, note, assistant, system
    translation: Any = None  # into the viewer's language
    sent: Any = None  # what the buyer received, when it differs from what the agent wrote
    needs_translation: bool = False
    attachments: list[Any] = field(default_factory=list)


def shown_messages(view: inbox.TicketView, locale: str) -> list[ShownMessage]:
    shown = []
    for message in view.messages:
        translations: dict[str, Any] = dict(view.translations.get(message.id, {}))
        item = ShownMessage(message, _kind(message), attachments=view.attachments.get(message.id, []))
        if item.kind == "buyer" and message.language != locale:
            item.translation = translations.get(locale)
            item.needs_translation = item.translation is None
        elif item.kind in ("agent", "assistant") and message.language != view.ticket.language:
            item.sent = translations.get(view.ticket.language)
        shown.append(item)
    return shown


def _kind(message: TicketMessage) -> str:
    if message.internal:
        return "note"
    return {AuthorKind.CUSTOMER: "buyer", AuthorKind.AGENT: "agent", AuthorKind.ASSISTANT: "assistant"}.get(
        message.author_kind, "system"
    )


def event_detail(
    event: Any,
    gettext: Callable[[str], str],
    agents: dict[int, Agent],
    *,
    currencies: Mapping[int, str] | None = None,
    locale: str = "en",
) -> str:
    """One line of what an audit event changed, in the viewer's language where we name the values.
    `currencies` (return id → currency) lets a return step show its amounts."""
    data = event.data or {}
    if event.kind.startswith("return."):
        return_id = data.get("return_id")
        currency = (currencies or {}).get(return_id) if isinstance(return_id, int) else None
        return return_event_detail(event, gettext, currency, locale)

    def name(value: Any) -> str:
        if value is None:
            return gettext(N_("Unassigned"))
        agent = agents.get(value) if isinstance(value, int) else None
        return agent.user.name if agent else f"#{value}"

    def status(value: Any) -> str:
        try:
            return gettext(STATUS_LABELS[TicketStatus(value)])
        except (ValueError, KeyError):
            return str(value)

    if event.kind == "status":
        return f"{status(data.get('before'))} → {status(data.get('after'))}"
    if event.kind == "assigned":
        return f"{name(data.get('before'))} → {name(data.get('after'))}"
    if event.kind in ("priority", "category"):
        return f"{str(data.get('before', '')).upper()} → {str(data.get('after', '')).upper()}"
    if event.kind == "tags":
        return ", ".join(str(t) for t in data.get("after") or []) or "—"
    if event.kind == "merged":
        return f"#{data.get('source_id')}"
    if event.kind == "split":
        return f"→ #{data.get('new_ticket_id')}"
    if event.kind.startswith("sla_"):
        try:
            return gettext(CLOCK_LABELS[ClockKind(str(data.get("clock")))])
        except (ValueError, KeyError):
            return ""
    return ""


def return_event_detail(event: Any, gettext: Callable[[str], str], currency: str | None, locale: str) -> str:
    """`RMA0000012 · the step's key fact`. The event data has no currency: amounts are shown only when the
    return's currency is known (from the returns loaded beside the ticket)."""
    data = event.data or {}
    step = event.kind.removeprefix("return.")

    def label(labels: Mapping[Any, str], kind: Callable[[Any], Any], value: Any) -> str:
        try:
            return gettext(labels[kind(value)])
        except (ValueError, KeyError):
            return str(value or "")

    def money(value: Any) -> str:
        if currency is None or not isinstance(value, int) or isinstance(value, bool):
            return ""
        return format_money(value, currency, locale)

    facts: list[str] = []
    if step == "requested":
        facts = [
            label(return_cases.REASON_LABELS, Reason, data.get("reason")),
            label(return_cases.RESOLUTION_LABELS, Resolution, data.get("resolution")),
        ]
    elif step == "decided":
        facts = [
            label(return_cases.OUTCOME_LABELS, Outcome, data.get("outcome")),
            str(data.get("rule") or ""),
            money(data.get("refund_minor")),
        ]
    elif step == "status":
        before = label(return_cases.STATUS_LABELS, ReturnStatus, data.get("before"))
        after = label(return_cases.STATUS_LABELS, ReturnStatus, data.get("after"))
        facts = [f"{before} → {after}"]
    elif step == "routed":
        facts = [str(data.get("warehouse") or ""), str(data.get("tracking_number") or "")]
    elif step == "reviewed":
        verdict = gettext(N_("Approved") if data.get("approve") else N_("Rejected"))
        facts = [verdict, _clipped(str(data.get("note") or ""))]
    elif step in ("exchange_reserved", "exchange_released"):
        facts = [
            gettext(N_("Order %(number)s")) % {"number": data.get("order", "")},
            label(ORDER_STATUS_LABELS, OrderStatus, data.get("status")) if data.get("status") else "",
        ]
    elif step == "graded":
        lines = [line for line in data.get("lines") or [] if isinstance(line, dict)]
        received = sum(int(line.get("received") or 0) for line in lines)
        facts = [
            gettext(N_("%(count)s received")) % {"count": received},
            money(data.get("restock_value_minor")),
        ]
    elif step == "discrepancy":
        facts = [_clipped("; ".join(str(d) for d in data.get("differences") or []))]
    elif step in ("refund_requested", "refunded"):
        facts = [
            label(return_cases.REFUND_KIND_LABELS, RefundKind, data.get("refund_kind")),
            money(data.get("amount_minor")),
        ]
        if step == "refunded" and data.get("status"):
            facts.append(label(return_cases.REFUND_STATUS_LABELS, RefundStatus, data.get("status")))
    return " · ".join(fact for fact in (str(data.get("rma") or ""), *facts) if fact)


def _clipped(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def actor_text(actor: str, gettext: Callable[[str], str], agents: dict[int, Agent]) -> str:
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident.isdigit() and int(ident) in agents:
        return agents[int(ident)].user.name
    labels = {
        "customer": N_("Buyer"),
        "buyer": N_("Buyer"),  # buyer:<order id>, a return asked for on the buyer's returns page
        "sla": N_("SLA clock"),
        "system": N_("AfterSail (automatic)"),
        "policy": N_("Return policy"),
        "payments": N_("Payment provider"),
    }
    if kind in labels:
        return gettext(labels[kind])
    if kind == "api_key":
        return gettext(N_("API key #%(id)s")) % {"id": ident}
    return actor


def macro_choices(all_macros: Iterable[Any], locale: str) -> list[tuple[int, str]]:
    """One choice per macro key, titled in the viewer's language when that version exists."""
    by_key: dict[str, dict[str, Any]] = {}
    for macro in all_macros:
        by_key.setdefault(macro.key, {})[macro.language] = macro
    choices = []
    for versions in by_key.values():
        shown = versions.get(locale) or versions.get("en") or next(iter(versions.values()))
        choices.append((shown.id, shown.title))
    return sorted(choices, key=lambda c: c[1].lower())


async def buyer_orders(session: AsyncSession, tenant_id: int, customer_id: int) -> list[OrderView]:
    page = await orders.list_orders(
        session, tenant_id, orders.OrderFilters(customer_id=customer_id), limit=RECENT_ORDERS
    )
    return [await load_order_view(session, order) for order in page.items]


async def thread_context(
    session: AsyncSession, console: ConsoleContext, services: Services, ticket_id: int
) -> dict[str, Any]:
    tenant_id = console.tenant.id
    view = await inbox.load_ticket_view(session, tenant_id, ticket_id)
    ticket = view.ticket
    shown_orders = await buyer_orders(session, tenant_id, ticket.customer_id)
    named = {
        event.data["return_id"]
        for event in view.events
        if event.kind.startswith("return.") and isinstance((event.data or {}).get("return_id"), int)
    }
    order_ids = {item.order.id for item in shown_orders} | ({ticket.order_id} if ticket.order_id else set())
    panel = await ticket_panel.ticket_returns(
        session, tenant_id, ticket.id, order_ids=order_ids, return_ids=named
    )
    parcels = await parcel_panel.ticket_parcels(session, tenant_id, ticket.id, order_ids=order_ids)
    return {
        "ticket": ticket,
        "customer": view.customer,
        "shown": shown_messages(view, console.locale),
        "clocks": view.clocks,
        "events": view.events,
        "orders": shown_orders,
        "returns": panel[: ticket_panel.MOST],
        "return_currencies": {item.ret.id: item.ret.currency for item in panel},
        "parcels": parcels,
        "parcel_labels": parcel_pages.page_labels(),
        "evidence": await evidence_panel.ticket_evidence(
            session, tenant_id, ticket.id, services.settings.data_dir
        ),
        "evidence_labels": evidence_pages.evidence_labels(),
        "calls": await call_panel.ticket_calls(session, tenant_id, ticket.id, services),
        "macros": macro_choices(await macros.list_macros(session, tenant_id), console.locale),
        "next_statuses": TRANSITIONS[ticket.status],
        "translation_configured": bool(services.settings.translation_provider),
        "insight": await assistant_insight.ticket_insight(session, tenant_id, ticket.id),
        "photo_checks": await photo_checks.ticket_photo_checks(session, tenant_id, ticket.id),
        "date_findings": assistant_insight.DATE_FINDING_LABELS,
        "intent_labels": assistant_insight.INTENT_LABELS,
        "outcome_labels": assistant_insight.OUTCOME_LABELS,
        "handoff_labels": assistant_insight.HANDOFF_LABELS,
        "sentiment_labels": assistant_insight.SENTIMENT_LABELS,
    }


# --- pages --------------------------------------------------------------------------------------------------


async def _inbox_response(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    services: Services,
    ticket_id: int | None,
) -> HTMLResponse:
    part = request.query_params.get("part", "")
    tenant_id = console.tenant.id
    teams = [team for team, _ in await tenants.list_teams(session, tenant_id)]
    query = parse_inbox_query(request.query_params, {t.id for t in teams})
    agents = await load_agents(session, tenant_id)
    gettext = gettext_for(console.locale)
    now = utcnow()
    context: dict[str, Any] = {
        "request": request,
        "console": console,
        "nav": "inbox",
        "query": query,
        "teams": teams,
        "agents": agents,
        "now": now,
        "due": lambda due_at: due_text(gettext, due_at, now),
        "ago": lambda when: duration_text(gettext, (now - as_utc(when)).total_seconds()),
        "highlight": highlight_mentions,
        "event_detail": lambda event: event_detail(event, gettext, agents),
        "actor_text": lambda actor: actor_text(actor, gettext, agents),
        "as_utc": as_utc,
        "labels": {
            "views": VIEW_LABELS,
            "sorts": SORT_LABELS,
            "statuses": STATUS_LABELS,
            "priorities": PRIORITY_LABELS,
            "channels": CHANNEL_LABELS,
            "clocks": CLOCK_LABELS,
            "clock_states": CLOCK_STATES,
            "events": EVENT_LABELS,
            "presence": PRESENCE_LABELS,
            "order_statuses": ORDER_STATUS_LABELS,
            "allocations": ALLOCATION_LABELS,
            "return_statuses": return_cases.STATUS_LABELS,
            "return_outcomes": return_cases.OUTCOME_LABELS,
            "return_rules": return_cases.RULE_LABELS,
            "resolutions": return_cases.RESOLUTION_LABELS,
            "signals": return_cases.SIGNAL_LABELS,
        },
        "languages": SUPPORTED_LOCALES,
        "ticket_id": ticket_id,
        "can_write": role_allows(console.user.role, Permission.WRITE_TICKETS),
    }
    status_code = 422 if query.errors else 200
    if part != "thread":
        context["rows"], context["next_cursor"] = await load_rows(session, console, query)
        context["counts"] = await view_counts(session, console)
        if part == "list":
            return render("console/inbox_list.html", context, locale=console.locale, status_code=status_code)
    if ticket_id is not None:
        context.update(await thread_context(session, console, services, ticket_id))
        currencies = context["return_currencies"]
        context["event_detail"] = lambda event: event_detail(
            event, gettext, agents, currencies=currencies, locale=console.locale
        )
        if part == "thread":
            return render("console/inbox_thread.html", context, locale=console.locale)
    context["messages"] = script_messages(console.locale)
    return render("console/inbox.html", context, locale=console.locale, status_code=status_code)


@router.get("/inbox")
async def inbox_page(
    request: Request, console: ConsoleDep, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    return await _inbox_response(request, console, session, services, None)


@router.get("/inbox/{ticket_id}")
async def ticket_page(
    request: Request, ticket_id: PathId, console: ConsoleDep, session: SessionDep, services: ServicesDep
) -> HTMLResponse:
    return await _inbox_response(request, console, session, services, ticket_id)
