"""API shapes of the support domain: tickets, messages and translations, settings, routing, macros, CSAT."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from aftersail.kit.validation import CountryCode, IdIn, Out, Strict, TimeZoneName
from aftersail.orders.schemas import Email, Language, Name, OrderNumber
from aftersail.support.models import Channel, ClockKind, ClockState, Priority, TicketStatus
from aftersail.support.rules import CATEGORIES

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
OptionalBody = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class BuyerIn(Strict):
    email: Email
    name: Name
    language: Language | None = None
    country: CountryCode | None = None
    time_zone: TimeZoneName | None = None


class TicketCreate(Strict):
    """A case from the API channel (a marketplace's message integration) or an agent on the buyer's behalf."""

    customer_id: IdIn | None = None
    buyer: BuyerIn | None = None
    subject: Subject = ""
    body: Body
    category: Category = "other"
    language: Language | None = None
    order_number: OrderNumber | None = None
    external_id: ExternalId | None = None


class CustomerMessageIn(Strict):
    body: Body
    external_id: ExternalId | None = None
    author_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    language: Language | None = None


class ReplyIn(Strict):
    body: OptionalBody = ""
    language: Language | None = None
    sent_body: OptionalBody | None = None
    internal: bool = False
    status_after: TicketStatus | None = TicketStatus.PENDING_CUSTOMER
    attachment_ids: list[IdIn] = Field(default_factory=list, max_length=10)


class StatusIn(Strict):
    status: TicketStatus
    snoozed_until: AwareDatetime | None = None


class PriorityIn(Strict):
    priority: Priority


class AssigneeIn(Strict):
    assignee_id: IdIn | None = None
    team_id: IdIn | None = None


class TagsIn(Strict):
    tags: list[Tag] = Field(max_length=20)


class CategoryIn(Strict):
    category: Category


class MergeIn(Strict):
    source_id: IdIn


class SplitIn(Strict):
    message_ids: list[IdIn] = Field(min_length=1, max_length=200)


class BulkIn(Strict):
    ticket_ids: list[IdIn] = Field(min_length=1, max_length=200)
    status: TicketStatus | None = None
    assignee_id: IdIn | None = None
    unassign: bool = False
    add_tags: list[Tag] = Field(default_factory=list, max_length=20)
    priority: Priority | None = None


class TranslationIn(Strict):
    """An agent's correction of a translation."""

    language: Language
    body: Body


class TranslateIn(Strict):
    text: Body
    target: Language
    source: Language | None = None


class TranslatedOut(BaseModel):
    text: str
    source: str
    target: str
    provider: str


class TranslationOut(Out):
    language: str
    body: str
    provider: str
    edited_by_id: int | None


class AttachmentOut(Out):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    message_id: int | None


class MessageOut(Out):
    id: int
    ticket_id: int
    author_kind: str
    author_user_id: int | None
    author_name: str
    channel: Channel
    internal: bool
    body: str
    language: str
    created_at: datetime
    read_at: datetime | None
    translations: dict[str, TranslationOut] = Field(default_factory=dict)
    attachments: list[AttachmentOut] = Field(default_factory=list)


class ClockOut(Out):
    kind: ClockKind
    state: ClockState
    priority: Priority
    target_seconds: int
    started_at: datetime
    warn_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None


class TicketOut(Out):
    id: int
    subject: str
    status: TicketStatus
    priority: Priority
    category: str
    channel: Channel
    language: str
    customer_id: int
    order_id: int | None
    team_id: int | None
    assignee_id: int | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    next_due_at: datetime | None
    merged_into_id: int | None


class TicketEventOut(Out):
    id: int
    kind: str
    actor: str
    data: dict[str, Any]
    created_at: datetime


class TicketDetailOut(TicketOut):
    messages: list[MessageOut]
    clocks: list[ClockOut]
    events: list[TicketEventOut]


class TargetsIn(Strict):
    first_response: int | None = Field(default=None, ge=1, le=60 * 24 * 60)
    next_response: int | None = Field(default=None, ge=1, le=60 * 24 * 60)
    resolution: int | None = Field(default=None, ge=1, le=60 * 24 * 120)


class SupportSettingsIn(Strict):
    priority_map: dict[Category, Priority] = Field(default_factory=dict)
    targets: dict[Priority, TargetsIn] = Field(default_factory=dict)
    breach_actions: dict[Priority, list[Literal["notify", "reassign", "raise_priority"]]] = Field(
        default_factory=dict
    )
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    calendar: dict[str, Any] = Field(default_factory=dict)
    csat_enabled: bool = True


class TeamRoutingIn(Strict):
    mode: Literal["least_loaded", "round_robin"] = "least_loaded"
    categories: list[Category] = Field(default_factory=list)
    calendar: dict[str, Any] = Field(default_factory=dict)


class PresenceIn(Strict):
    presence: Literal["online", "away", "offline"]


class CapacityIn(Strict):
    capacity: int = Field(ge=1, le=200)


MacroText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4_000)]


class MacroIn(Strict):
    key: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    language: Language
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    category: Category | Literal[""] = ""
    greeting: MacroText
    problem: MacroText = ""
    solution: MacroText
    open_door: MacroText = ""


class MacroOut(Out):
    id: int
    key: str
    language: str
    title: str
    category: str
    greeting: str
    problem: str
    solution: str
    open_door: str


class MacroRendered(Strict):
    text: str
    language: str


class CsatIn(Strict):
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] = ""
