"""HTTP routes of the support domain: tickets and their messages (the API channel for marketplace message
integrations and the console's calls), translations, settings, routing and presence."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.translation import TranslationUnavailable, Translator, translate_for
from aftersail.kit.errors import InvalidInput, NotFound, ServiceUnavailable
from aftersail.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aftersail.kit.sealing import Sealer
from aftersail.kit.validation import Paged, PathId, QueryId, query_text
from aftersail.orders import service as orders
from aftersail.orders.models import Order
from aftersail.support import attachments, email_channel, inbox, intake, macros, messages, routing
from aftersail.support import policy as policies
from aftersail.support import service as tickets
from aftersail.support.business_hours import BusinessCalendar, CalendarInvalid
from aftersail.support.inbox import TicketFilters
from aftersail.support.models import AuthorKind, Channel, Priority, TicketStatus
from aftersail.support.rules import SupportPolicy, Targets
from aftersail.support.schemas import (
    AssigneeIn,
    AttachmentOut,
    BulkIn,
    CapacityIn,
    CategoryIn,
    ClockOut,
    CustomerMessageIn,
    MacroIn,
    MacroOut,
    MacroRendered,
    MergeIn,
    MessageOut,
    PriorityIn,
    ReplyIn,
    SplitIn,
    StatusIn,
    SupportSettingsIn,
    TagsIn,
    TeamRoutingIn,
    TicketCreate,
    TicketDetailOut,
    TicketEventOut,
    TicketOut,
    TranslatedOut,
    TranslateIn,
    TranslationIn,
    TranslationOut,
)
from aftersail.support.tasks import tenant_translator
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.tenants.models import Tenant, User
from aftersail.tenants.service import Principal
from aftersail.web.deps import Reader, ServicesDep, SessionDep, TenantAdmin, TicketWriter

router = APIRouter(tags=["tickets"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


async def _author(session: AsyncSession, principal: Principal) -> User | None:
    return await session.get(User, principal.user_id) if principal.user_id is not None else None


def _detail(view: inbox.TicketView) -> TicketDetailOut:
    return TicketDetailOut(
        **TicketOut.model_validate(view.ticket).model_dump(),
        messages=[
            MessageOut(
                **{
                    k: getattr(m, k)
                    for k in MessageOut.model_fields
                    if k not in ("translations", "attachments")
                },
                translations={
                    language: TranslationOut.model_validate(t)
                    for language, t in view.translations.get(m.id, {}).items()
                },
                attachments=[AttachmentOut.model_validate(a) for a in view.attachments.get(m.id, [])],
            )
            for m in view.messages
        ],
        clocks=[ClockOut.model_validate(c) for c in view.clocks],
        events=[TicketEventOut.model_validate(e) for e in view.events],
    )


@router.post("/tickets", status_code=201, response_model=TicketDetailOut)
async def create_ticket(body: TicketCreate, session: SessionDep, principal: TicketWriter) -> TicketDetailOut:
    """A buyer's case from the API channel. Name the buyer by `customer_id` or by `buyer` (found by e-mail
    or created). With `external_id` a retry returns the case already made instead of a second one."""
    tenant_id = principal.tenant_id
    if body.external_id:
        existing = await intake.find_by_external_id(session, tenant_id, body.external_id)
        if existing is not None:
            return _detail(await inbox.load_ticket_view(session, tenant_id, existing.ticket_id))
    if body.customer_id is not None:
        customer = await orders.access_customer(session, tenant_id, body.customer_id)
    elif body.buyer is not None:
        customer = await intake.do_find_or_create_buyer(
            session, tenant_id, intake.Buyer(**body.buyer.model_dump()), text=body.body
        )
    else:
        raise InvalidInput("Name the buyer: customer_id or buyer {email, name}.", field="buyer")
    order = await intake.find_order(session, tenant_id, customer, body.order_number)
    message = await intake.do_receive(
        session,
        tenant_id,
        customer=customer,
        channel=Channel.API,
        body=body.body,
        subject=body.subject,
        category=body.category,
        order=order,
        language=body.language,
        external_id=body.external_id,
    )
    return _detail(await inbox.load_ticket_view(session, tenant_id, message.ticket_id))


@router.get("/tickets", response_model=Paged[TicketOut])
async def list_tickets(
    session: SessionDep,
    principal: Reader,
    view: Annotated[str, Query(pattern="^(all|mine|unassigned|at_risk|live)$")] = "live",
    status: TicketStatus | None = None,
    priority: Priority | None = None,
    team_id: QueryId | None = None,
    assignee_id: QueryId | None = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}$")] = None,
    channel: Channel | None = None,
    tag: Annotated[str | None, query_text(40)] = None,
    customer_id: QueryId | None = None,
    q: Annotated[str | None, query_text(200, "Subject, buyer name or e-mail, or #id")] = None,
    cursor: Annotated[str | None, query_text(200)] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[TicketOut]:
    filters = TicketFilters(
        view=view,
        status=status,
        priority=priority,
        team_id=team_id,
        assignee_id=assignee_id,
        language=language,
        channel=channel,
        tag=tag,
        customer_id=customer_id,
        q=q,
    )
    page = await inbox.list_tickets(
        session, principal.tenant_id, filters, user_id=principal.user_id, cursor=cursor, limit=limit
    )
    return Paged[TicketOut](
        items=[TicketOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.get("/tickets/{ticket_id}", response_model=TicketDetailOut)
async def get_ticket(ticket_id: PathId, session: SessionDep, principal: Reader) -> TicketDetailOut:
    return _detail(await inbox.load_ticket_view(session, principal.tenant_id, ticket_id))


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=MessageOut)
async def add_customer_message(
    ticket_id: PathId, body: CustomerMessageIn, session: SessionDep, principal: TicketWriter
) -> MessageOut:
    """The buyer wrote again on the marketplace (API channel). `external_id` makes a retry harmless."""
    if body.external_id:
        existing = await intake.find_by_external_id(session, principal.tenant_id, body.external_id)
        if existing is not None:
            return MessageOut.model_validate(existing)
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    customer = await orders.access_customer(session, principal.tenant_id, ticket.customer_id)
    message = await intake.do_receive(
        session,
        principal.tenant_id,
        customer=customer,
        channel=Channel.API,
        body=body.body,
        ticket=ticket,
        language=body.language,
        author_name=body.author_name,
        external_id=body.external_id,
    )
    return MessageOut.model_validate(message)


@router.post("/tickets/{ticket_id}/replies", status_code=201, response_model=MessageOut)
async def reply(ticket_id: PathId, body: ReplyIn, session: SessionDep, principal: TicketWriter) -> MessageOut:
    """An agent's public reply (sent in the buyer's language: `sent_body`, else `body`) or internal note."""
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    author = await _author(session, principal)
    language = body.language or (author.locale if author else ticket.language)
    message = await messages.do_reply(
        session,
        ticket,
        author=author,
        body=body.body,
        language=language,
        sent_body=body.sent_body,
        internal=body.internal,
        status_after=body.status_after,
        attachment_ids=body.attachment_ids,
    )
    return MessageOut.model_validate(message)


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut)
async def change_status(
    ticket_id: PathId, body: StatusIn, session: SessionDep, principal: TicketWriter
) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    await tickets.do_change_status(
        session, ticket, body.status, actor=principal.actor, snoozed_until=body.snoozed_until
    )
    return TicketOut.model_validate(ticket)


@router.post("/tickets/{ticket_id}/priority", response_model=TicketOut)
async def set_priority(
    ticket_id: PathId, body: PriorityIn, session: SessionDep, principal: TicketWriter
) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    await tickets.do_set_priority(session, ticket, body.priority, actor=principal.actor)
    return TicketOut.model_validate(ticket)


@router.post("/tickets/{ticket_id}/category", response_model=TicketOut)
async def set_category(
    ticket_id: PathId, body: CategoryIn, session: SessionDep, principal: TicketWriter
) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    await tickets.do_set_category(session, ticket, body.category, actor=principal.actor)
    return TicketOut.model_validate(ticket)


@router.post("/tickets/{ticket_id}/assignee", response_model=TicketOut)
async def assign(
    ticket_id: PathId, body: AssigneeIn, session: SessionDep, principal: TicketWriter
) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    if body.team_id is not None and body.team_id != ticket.team_id:
        await routing.do_assign_team(session, ticket, team_id=body.team_id, actor=principal.actor)
    if body.assignee_id is not None or body.team_id is None:
        await routing.do_assign(session, ticket, user_id=body.assignee_id, actor=principal.actor)
    return TicketOut.model_validate(ticket)


@router.post("/tickets/{ticket_id}/tags", response_model=TicketOut)
async def set_tags(
    ticket_id: PathId, body: TagsIn, session: SessionDep, principal: TicketWriter
) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    await tickets.do_set_tags(session, ticket, body.tags, actor=principal.actor)
    return TicketOut.model_validate(ticket)


@router.post("/tickets/{ticket_id}/merge", response_model=TicketOut)
async def merge(ticket_id: PathId, body: MergeIn, session: SessionDep, principal: TicketWriter) -> TicketOut:
    """Merge ticket `source_id` into this one; the source closes, pointing here."""
    target = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    source = await tickets.access_ticket(session, principal.tenant_id, body.source_id)
    await tickets.do_merge_tickets(session, target, source, actor=principal.actor)
    return TicketOut.model_validate(target)


@router.post("/tickets/{ticket_id}/split", status_code=201, response_model=TicketOut)
async def split(ticket_id: PathId, body: SplitIn, session: SessionDep, principal: TicketWriter) -> TicketOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    new = await tickets.do_split_ticket(session, ticket, body.message_ids, actor=principal.actor)
    return TicketOut.model_validate(new)


@router.post("/tickets/{ticket_id}/read", response_model=dict[str, int])
async def mark_read(ticket_id: PathId, session: SessionDep, principal: TicketWriter) -> dict[str, int]:
    """The agents have read the buyer's messages."""
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    return {"marked": await messages.do_mark_read(session, ticket, reader=AuthorKind.AGENT)}


@router.post("/tickets/bulk", response_model=list[TicketOut])
async def bulk(body: BulkIn, session: SessionDep, principal: TicketWriter) -> list[TicketOut]:
    """One change to many tickets, all or nothing: an illegal move on any ticket changes none."""
    changed = []
    for ticket_id in dict.fromkeys(body.ticket_ids):
        ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
        if body.status is not None:
            await tickets.do_change_status(session, ticket, body.status, actor=principal.actor)
        if body.priority is not None:
            await tickets.do_set_priority(session, ticket, body.priority, actor=principal.actor)
        if body.assignee_id is not None or body.unassign:
            await routing.do_assign(session, ticket, user_id=body.assignee_id, actor=principal.actor)
        if body.add_tags:
            await tickets.do_set_tags(session, ticket, [*ticket.tags, *body.add_tags], actor=principal.actor)
        changed.append(TicketOut.model_validate(ticket))
    return changed


@router.put("/messages/{message_id}/translations", response_model=TranslationOut)
async def correct_translation(
    message_id: PathId, body: TranslationIn, session: SessionDep, principal: TicketWriter
) -> TranslationOut:
    """An agent's correction of a machine translation, stored beside the original (never replacing it)."""
    message = await messages.access_message(session, principal.tenant_id, message_id)
    translation = await messages.do_store_translation(
        session,
        message,
        language=body.language,
        body=body.body,
        provider="agent",
        edited_by=await _author(session, principal),
    )
    return TranslationOut.model_validate(translation)


@router.get("/support/settings", response_model=SupportSettingsIn, tags=["settings"])
async def get_settings(session: SessionDep, principal: Reader) -> SupportSettingsIn:
    policy = await policies.support_policy(session, principal.tenant_id)
    return SupportSettingsIn.model_validate(policy.as_settings())


@router.put("/support/settings", response_model=SupportSettingsIn, tags=["settings"])
async def put_settings(
    body: SupportSettingsIn, session: SessionDep, principal: TenantAdmin
) -> SupportSettingsIn:
    """Priority per category, SLA targets (minutes of business time) and breach actions per priority, the
    warning fraction, the default business hours and CSAT. Parts left out keep their defaults."""
    if body.calendar:
        try:
            BusinessCalendar.from_dict(body.calendar)
        except CalendarInvalid as error:
            raise InvalidInput(f"Business hours: {error}", field="calendar") from error
    default = SupportPolicy()
    policy = SupportPolicy(
        priority_map={**default.priority_map, **body.priority_map},
        targets={
            **default.targets,
            **{p: Targets(t.first_response, t.next_response, t.resolution) for p, t in body.targets.items()},
        },
        breach_actions={**default.breach_actions, **{p: tuple(a) for p, a in body.breach_actions.items()}},
        warn_fraction=body.warn_fraction,
        calendar=body.calendar,
        csat_enabled=body.csat_enabled,
    )
    await policies.do_set_support_policy(session, principal.tenant_id, policy)
    return SupportSettingsIn.model_validate(policy.as_settings())


@router.put("/teams/{team_id}/routing", response_model=TeamRoutingIn, tags=["settings"])
async def put_team_routing(
    team_id: PathId, body: TeamRoutingIn, session: SessionDep, principal: TenantAdmin
) -> TeamRoutingIn:
    row = await routing.do_configure_team(
        session,
        principal.tenant_id,
        team_id,
        mode=body.mode,
        categories=list(body.categories),
        calendar=body.calendar,
    )
    return TeamRoutingIn(mode=row.mode, categories=row.categories, calendar=row.calendar)


@router.put("/agents/{user_id}/capacity", response_model=CapacityIn, tags=["agents"])
async def set_capacity(
    user_id: PathId, body: CapacityIn, session: SessionDep, principal: TenantAdmin
) -> CapacityIn:
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != principal.tenant_id:
        raise NotFound(f"User {user_id} does not exist.", user_id=user_id)
    status = await routing.do_set_capacity(session, user, body.capacity)
    return CapacityIn(capacity=status.capacity)


# --- macros ---------------------------------------------------------------------------------------------


@router.get("/macros", response_model=list[MacroOut], tags=["macros"])
async def list_macros(
    session: SessionDep,
    principal: Reader,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}$")] = None,
) -> list[MacroOut]:
    return [
        MacroOut.model_validate(m)
        for m in await macros.list_macros(session, principal.tenant_id, language=language)
    ]


@router.post("/macros", status_code=201, response_model=MacroOut, tags=["macros"])
async def create_macro(body: MacroIn, session: SessionDep, principal: TenantAdmin) -> MacroOut:
    """One language of a macro; placeholders are {buyer_name}, {order_number}, {tracking_link}, {eta},
    {agent_name} and {reply_by}."""
    return MacroOut.model_validate(
        await macros.do_save_macro(session, principal.tenant_id, body.model_dump())
    )


@router.put("/macros/{macro_id}", response_model=MacroOut, tags=["macros"])
async def replace_macro(
    macro_id: PathId, body: MacroIn, session: SessionDep, principal: TenantAdmin
) -> MacroOut:
    macro = await macros.access_macro(session, principal.tenant_id, macro_id)
    return MacroOut.model_validate(
        await macros.do_save_macro(session, principal.tenant_id, body.model_dump(), macro=macro)
    )


@router.delete("/macros/{macro_id}", status_code=204, tags=["macros"])
async def delete_macro(macro_id: PathId, session: SessionDep, principal: TenantAdmin) -> Response:
    await macros.do_delete_macro(session, await macros.access_macro(session, principal.tenant_id, macro_id))
    return Response(status_code=204)


@router.get("/tickets/{ticket_id}/macros/{macro_id}", response_model=MacroRendered, tags=["macros"])
async def render_macro(
    ticket_id: PathId, macro_id: PathId, session: SessionDep, services: ServicesDep, principal: Reader
) -> MacroRendered:
    """The macro for this ticket, in the buyer's language when it has that version, variables filled."""
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    chosen = await macros.access_macro(session, principal.tenant_id, macro_id)
    version = await macros.pick_macro(session, principal.tenant_id, chosen.key, ticket.language)

    def order_link(order: Order) -> str:
        token = services.links.sign(BuyerGrant(order.tenant_id, LinkScope.ORDER, order.id))
        return f"{services.settings.base_url}/o/{token}"

    variables = await macros.macro_variables(
        session, ticket, await _author(session, principal), order_link=order_link
    )
    return MacroRendered(text=macros.render(version, variables), language=version.language)


# --- translation and files ------------------------------------------------------------------------------


@router.post("/translate", response_model=TranslatedOut, tags=["tickets"])
async def translate(
    body: TranslateIn, session: SessionDep, services: ServicesDep, principal: TicketWriter
) -> TranslatedOut:
    """A preview of a reply in the buyer's language, for the agent to check and edit before sending: by the
    translation service, or without one by the tenant's own language model when it set one up. Without
    either: 503 with a hint, and the agent writes in the buyer's language or sends as is."""
    translator: Translator = services.extras["translator"]
    own = None
    if not services.settings.translation_provider:
        sealer = Sealer(services.settings.secret_key.get_secret_value())
        own = await tenant_translator(session, principal.tenant_id, sealer)
    try:
        result = await translate_for(own or translator, body.text, source=body.source, target=body.target)
    except TranslationUnavailable as error:
        raise ServiceUnavailable(
            f"Translation is not available: {error.message}", reason=error.reason
        ) from error
    finally:
        if own is not None:
            await own.aclose()
    if result is None:
        return TranslatedOut(
            text=body.text, source=body.source or body.target, target=body.target, provider=""
        )
    return TranslatedOut(
        text=result.text,
        source=result.source or body.source or "",
        target=body.target,
        provider=result.provider,
    )


@router.post("/attachments", status_code=201, response_model=AttachmentOut, tags=["tickets"])
async def upload_attachment(
    session: SessionDep,
    services: ServicesDep,
    principal: TicketWriter,
    ticket_id: Annotated[int, Form(ge=1)],
    file: Annotated[UploadFile, File()],
) -> AttachmentOut:
    """A file for an agent's next reply on `ticket_id` (send its id in `attachment_ids`): ≤ 10 MB,
    images, PDF or video, by the bytes."""
    limit = services.settings.attachment_max_bytes
    data = await file.read(limit + 1)
    content_type = attachments.check_upload(data, max_bytes=limit, allowed=attachments.EVIDENCE_TYPES)
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    stored = await attachments.do_store_attachment(
        session,
        ticket,
        filename=file.filename or "file",
        data=data,
        content_type=content_type,
        files_dir=services.settings.data_dir,
    )
    return AttachmentOut.model_validate(stored)


@router.get("/attachments/{attachment_id}", tags=["tickets"])
async def download_attachment(
    attachment_id: PathId, session: SessionDep, services: ServicesDep, principal: Reader
) -> Response:
    found = await attachments.access_attachment(session, principal.tenant_id, attachment_id)
    data = await attachments.read_bytes(services.settings.data_dir, found)
    return Response(
        data,
        media_type=found.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(found.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.post("/inbound-email", status_code=202, tags=["tickets"])
async def inbound_email(
    request: Request, session: SessionDep, services: ServicesDep, principal: TicketWriter
) -> dict[str, object]:
    """An e-mail forwarded by a mail provider, as raw MIME (`Content-Type: message/rfc822`), for the key's
    tenant. It is stored as received whatever it is; a buyer's e-mail becomes a message on its ticket."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("The body is empty; send the e-mail as raw MIME.", field="body")
    tenant = await session.get(Tenant, principal.tenant_id)
    received = await email_channel.do_receive_email(
        session, services.settings, raw, source="webhook", tenant=tenant
    )
    return {
        "inbound_id": received.inbound_id,
        "kind": received.kind,
        "ticket_id": received.ticket_id,
        "message_id": received.message_id,
        "duplicate": received.duplicate,
    }
