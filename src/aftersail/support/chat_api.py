"""The buyer's side of web chat: `/chat/api/*` (start a chat, read the thread, send text or a photo, mark
read, rate) and the `/chat/ws` socket (messages and typing both ways, read receipts).

A buyer is known by a chat token (signed, expiring, scoped to one customer of one tenant) obtained from a
signed order link or by order number + e-mail. The page keeps the token, so the conversation survives
reloads. Nothing here takes an API key: these routes are for buyers, and rate-limited per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import DomainError, InvalidInput, NotFound, ServiceUnavailable, Unauthenticated
from aftersail.kit.ratelimit import RateLimiter
from aftersail.kit.realtime import Messages, RealtimeBus, publish_after_commit, tenant_channel
from aftersail.kit.validation import PathId, Strict
from aftersail.orders import service as orders
from aftersail.orders.models import Customer
from aftersail.orders.schemas import Email, OrderNumber
from aftersail.support import attachments, csat, intake, messages
from aftersail.support.chat_channel import chat_channel, chat_token, csat_link, verify_chat_token
from aftersail.support.chat_writer import ChatBuyer, ChatWriter
from aftersail.support.models import AuthorKind, Channel, CsatRating, MessageTranslation, Ticket, TicketStatus
from aftersail.support.schemas import Body, Category, CsatIn
from aftersail.tenants import service as tenants
from aftersail.tenants.links import LinkScope
from aftersail.web.deps import ServicesDep, scope_to_tenant
from aftersail.web.services import Services

router = APIRouter(prefix="/chat", tags=["chat"], include_in_schema=False)
identify_limit = RateLimiter(per_minute=10, burst=5)
message_limit = RateLimiter(per_minute=60, burst=20)
MAX_FRAME = 24_000
CLOSE_UNAUTHENTICATED = 4401


class ChatStart(Strict):
    tenant: Annotated[str, Field(min_length=2, max_length=64)]
    order_link: Annotated[str | None, Field(max_length=500)] = None
    order_number: OrderNumber | None = None
    email: Email | None = None


class ChatMessageIn(Strict):
    body: Body
    category: Category | None = None


class Buyer:
    """The verified buyer of one request: their tenant and customer row."""

    def __init__(self, customer: Customer) -> None:
        self.customer = customer
        self.tenant_id = customer.tenant_id


async def _buyer(session: AsyncSession, services: Services, token: str) -> Buyer:
    grant = verify_chat_token(services.links, token)
    await _scope(session, services, grant.tenant_id)
    customer = await session.get(Customer, grant.object_id)
    if customer is None or customer.tenant_id != grant.tenant_id:
        raise Unauthenticated("This chat link is no longer valid; start again.")
    return Buyer(customer)


async def _scope(session: AsyncSession, services: Services, tenant_id: int) -> None:
    await scope_to_tenant(session, services, tenant_id)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_ticket(session: AsyncSession, buyer: Buyer) -> Ticket | None:
    """The buyer's latest chat case that is not closed (a resolved one still shows, to rate or reopen)."""
    return await session.scalar(
        select(Ticket)
        .where(
            Ticket.tenant_id == buyer.tenant_id,
            Ticket.customer_id == buyer.customer.id,
            Ticket.channel == Channel.CHAT,
            Ticket.status != TicketStatus.CLOSED,
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )


@router.post("/api/start")
async def start_chat(body: ChatStart, request: Request, services: ServicesDep) -> dict[str, Any]:
    """A chat token for the buyer of a signed order link, or of an order number with its e-mail."""
    identify_limit.check(_client(request), what="attempts to find your order")
    async with services.db.transaction(system=True) as session:
        tenant = await tenants.find_tenant_by_slug(session, body.tenant)
        await _scope(session, services, tenant.id)
        if body.order_link:
            grant = services.links.verify(body.order_link, LinkScope.ORDER)
            if grant.tenant_id != tenant.id:
                raise Unauthenticated("This link is for another shop.")
            order = await orders.access_order(session, tenant.id, grant.object_id)
        elif body.order_number and body.email:
            try:
                order = await orders.find_order_for_buyer(session, tenant.id, body.order_number, body.email)
            except NotFound as error:
                raise InvalidInput(
                    "We found no order with that number and e-mail. Check both and try again.",
                    field="order_number",
                ) from error
        else:
            raise InvalidInput(
                "Give your order number and e-mail, or open the link from your order.", field="email"
            )
        customer = await orders.access_customer(session, tenant.id, order.customer_id)
    return {
        "token": chat_token(services.links, tenant.id, customer.id),
        "name": customer.name,
        "language": customer.preferred_language,
        "order_number": order.number,
    }


def _buyer_message(
    message: Any, translations: dict[str, MessageTranslation], language: str
) -> dict[str, Any]:
    shown = translations.get(language)
    return {
        **messages.message_event(message),
        "text": shown.body
        if shown is not None and message.author_kind is not AuthorKind.CUSTOMER
        else message.body,
        "read_at": message.read_at.isoformat() if message.read_at else None,
    }


@router.get("/api/thread")
async def thread(services: ServicesDep, x_chat_token: Annotated[str, Header()]) -> dict[str, Any]:
    """The buyer's current case: public messages (agents' replies in the buyer's language), files, and a
    rating link once it is resolved and not yet rated."""
    async with services.db.transaction(system=True, readonly=True) as session:
        buyer = await _buyer(session, services, x_chat_token)
        ticket = await current_ticket(session, buyer)
        if ticket is None:
            return {"ticket": None, "messages": [], "name": buyer.customer.name}
        shown = await messages.ticket_messages(session, ticket, include_internal=False)
        translations = await messages.message_translations(session, buyer.tenant_id, [m.id for m in shown])
        files = await session.scalars(
            select(attachments.Attachment).where(
                attachments.Attachment.tenant_id == buyer.tenant_id,
                attachments.Attachment.ticket_id == ticket.id,
            )
        )
        by_message: dict[int, list[dict[str, Any]]] = {}
        for file in files:
            if file.message_id is not None:
                by_message.setdefault(file.message_id, []).append(
                    {"id": file.id, "filename": file.filename, "content_type": file.content_type}
                )
        rated = await session.get(CsatRating, ticket.id)
        rate_url = (
            csat_link(services.links, services.settings.base_url, ticket)
            if ticket.status in csat.RATEABLE and rated is None
            else None
        )
        return {
            "ticket": {"id": ticket.id, "status": ticket.status.value, "subject": ticket.subject},
            "messages": [
                {
                    **_buyer_message(m, translations.get(m.id, {}), ticket.language),
                    "attachments": by_message.get(m.id, []),
                }
                for m in shown
            ],
            "name": buyer.customer.name,
            "rate_url": rate_url,
        }


async def chat_buyer(services: Services, token: str) -> ChatBuyer:
    """Check the chat token once and keep what messages need (a socket does this when it opens)."""
    buyer, _ = await _chat_buyer_and_case(services, token)
    return buyer


async def _chat_buyer_and_case(services: Services, token: str) -> tuple[ChatBuyer, int | None]:
    async with services.db.transaction(system=True, readonly=True) as session:
        buyer = await _buyer(session, services, token)
        ticket = await current_ticket(session, buyer)
        return (
            ChatBuyer(
                buyer.tenant_id, buyer.customer.id, buyer.customer.name, buyer.customer.preferred_language
            ),
            ticket.id if ticket is not None else None,
        )


async def receive_buyer_message(
    services: Services, buyer: ChatBuyer, *, body: str, category: str | None = None
) -> dict[str, Any]:
    """Store the buyer's message in their current case (or a new one) through the process's group-commit
    writer; consoles and the buyer's other windows hear of it once committed."""
    message_limit.check(f"customer:{buyer.tenant_id}:{buyer.customer_id}", what="messages")
    writer: ChatWriter = services.extras["chat_writer"]
    return await writer.submit(buyer, body, category=category or "other")


@dataclass
class ChatSocket:
    """One buyer socket: `origin` names it in arrival keys (its own messages are not echoed back to it),
    `ticket_id` is the case its messages last went to (what consoles show an arriving message under)."""

    origin: str = field(default_factory=lambda: secrets.token_urlsafe(6))
    sent: int = 0
    ticket_id: int | None = None

    def next_arrival(self) -> str:
        self.sent += 1
        return f"{self.origin}.{self.sent}"

    def is_own(self, event: dict[str, Any]) -> bool:
        arrival = event.get("arrival")
        return isinstance(arrival, str) and arrival.startswith(f"{self.origin}.")


async def relay_buyer_message(
    services: Services, buyer: ChatBuyer, socket: ChatSocket, body: str
) -> dict[str, Any]:
    """A message over the socket: shown to the consoles at once as arriving (a passing signal: nothing is
    claimed stored), then stored by the group-commit writer and pushed again as stored, under the same
    `arrival` key — or as failed, if it could not be stored (ADR 0014)."""
    text = messages.check_body(body)
    message_limit.check(f"customer:{buyer.tenant_id}:{buyer.customer_id}", what="messages")
    bus: RealtimeBus = services.extras["bus"]
    writer: ChatWriter = services.extras["chat_writer"]
    consoles = tenant_channel(buyer.tenant_id)
    arrival = socket.next_arrival()
    bus.publish_soon(
        consoles,
        {
            "topic": "realtime.message.arriving",
            "payload": {
                "arrival": arrival,
                "ticket_id": socket.ticket_id,
                "customer_id": buyer.customer_id,
                "author_kind": AuthorKind.CUSTOMER.value,
                "author_name": buyer.name,
                "body": text,
                "channel": Channel.CHAT.value,
                "created_at": utcnow().isoformat(),
            },
        },
    )
    try:
        stored = await writer.submit(buyer, text, arrival=arrival)
    except Exception as error:
        refused = (
            error
            if isinstance(error, DomainError)
            else ServiceUnavailable("Your message could not be saved just now. Please send it again.")
        )
        bus.publish_soon(
            consoles,
            {
                "topic": "realtime.message.failed",
                "payload": {"arrival": arrival, "ticket_id": socket.ticket_id, "reason": refused.message},
            },
        )
        raise refused from error
    socket.ticket_id = stored["ticket_id"]
    return stored


@router.post("/api/messages", status_code=201)
async def send_message(
    body: ChatMessageIn, services: ServicesDep, x_chat_token: Annotated[str, Header()]
) -> dict[str, Any]:
    buyer = await chat_buyer(services, x_chat_token)
    return await receive_buyer_message(services, buyer, body=body.body, category=body.category)


@router.post("/api/attachments", status_code=201)
async def send_photo(
    services: ServicesDep,
    x_chat_token: Annotated[str, Header()],
    file: Annotated[UploadFile, File()],
    caption: Annotated[str, Form(max_length=2000)] = "",
) -> dict[str, Any]:
    """A photo sent as a message of its own (with an optional caption): ≤ 10 MB, JPEG/PNG/GIF/WebP/HEIC/AVIF
    by its bytes, kept exactly as sent."""
    limit = services.settings.attachment_max_bytes
    data = await file.read(limit + 1)
    content_type = attachments.check_upload(data, max_bytes=limit, allowed=attachments.IMAGE_TYPES)
    async with services.db.transaction(system=True) as session:
        buyer = await _buyer(session, services, x_chat_token)
        message_limit.check(f"customer:{buyer.tenant_id}:{buyer.customer.id}", what="messages")
        ticket = await current_ticket(session, buyer)
        if ticket is None or ticket.status is TicketStatus.CLOSED:
            first = await intake.do_receive(
                session, buyer.tenant_id, customer=buyer.customer, channel=Channel.CHAT, body=caption or "📷"
            )
            ticket = await session.get(Ticket, first.ticket_id)
            assert ticket is not None
            stored = await attachments.do_store_attachment(
                session,
                ticket,
                filename=file.filename or "photo",
                data=data,
                content_type=content_type,
                files_dir=services.settings.data_dir,
                message_id=first.id,
            )
            message = first
        else:
            stored = await attachments.do_store_attachment(
                session,
                ticket,
                filename=file.filename or "photo",
                data=data,
                content_type=content_type,
                files_dir=services.settings.data_dir,
            )
            message = await messages.do_add_customer_message(
                session,
                ticket,
                body=caption,
                channel=Channel.CHAT,
                author_name=buyer.customer.name,
                attachment_ids=[stored.id],
            )
        return {
            **messages.message_event(message),
            "text": message.body,
            "attachments": [{"id": stored.id, "filename": stored.filename, "content_type": content_type}],
        }


@router.get("/api/attachments/{attachment_id}")
async def photo(attachment_id: PathId, services: ServicesDep, token: str) -> Response:
    """A file of the buyer's own case (`?token=` so that an <img> can show it)."""
    async with services.db.transaction(system=True, readonly=True) as session:
        buyer = await _buyer(session, services, token)
        found = await attachments.access_attachment(session, buyer.tenant_id, attachment_id)
        ticket = await session.get(Ticket, found.ticket_id) if found.ticket_id else None
        if ticket is None or ticket.customer_id != buyer.customer.id:
            raise NotFound(f"Attachment {attachment_id} does not exist.", attachment_id=attachment_id)
    data = await attachments.read_bytes(services.settings.data_dir, found)
    return Response(
        data,
        media_type=found.content_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


async def mark_read(services: Services, token: str) -> int:
    async with services.db.transaction(system=True) as session:
        buyer = await _buyer(session, services, token)
        ticket = await current_ticket(session, buyer)
        if ticket is None:
            return 0
        return await messages.do_mark_read(session, ticket, reader=AuthorKind.CUSTOMER)


@router.post("/api/read")
async def read(services: ServicesDep, x_chat_token: Annotated[str, Header()]) -> dict[str, int]:
    return {"marked": await mark_read(services, x_chat_token)}


@router.post("/api/rate/{ticket_id}")
async def rate(
    ticket_id: PathId, body: CsatIn, services: ServicesDep, x_chat_token: Annotated[str, Header()]
) -> dict[str, Any]:
    async with services.db.transaction(system=True) as session:
        buyer = await _buyer(session, services, x_chat_token)
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.customer_id != buyer.customer.id or ticket.tenant_id != buyer.tenant_id:
            raise NotFound(f"Ticket {ticket_id} does not exist.", ticket_id=ticket_id)
        row = await csat.do_rate(session, ticket, rating=body.rating, comment=body.comment)
        return {"rating": row.rating, "comment": row.comment}


async def _typing(services: Services, token: str) -> None:
    """Tell the agents the buyer is typing (no storage: a passing signal)."""
    async with services.db.transaction(system=True, readonly=True) as session:
        buyer = await _buyer(session, services, token)
        ticket = await current_ticket(session, buyer)
        if ticket is not None:
            publish_after_commit(
                session,
                tenant_channel(buyer.tenant_id),
                {"topic": "realtime.typing", "payload": {"ticket_id": ticket.id, "who": "customer"}},
            )


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket) -> None:
    """Frames in: {"type": "message", "body", "client_id"?}, {"type": "typing"}, {"type": "read"},
    {"type": "ping"}. Frames out: {"type": "ready"}, {"type": "message", …} (either side's messages),
    {"type": "ack", "client_id", "id"}, {"type": "typing"}, {"type": "read"}, {"type": "csat", "url"},
    {"type": "error", "message"}."""
    services: Services = websocket.app.state.services
    await websocket.accept()
    token = websocket.query_params.get("token", "")
    try:
        buyer, ticket_id = await _chat_buyer_and_case(services, token)
    except Unauthenticated as error:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason=error.message[:120])
        return
    socket = ChatSocket(ticket_id=ticket_id)
    bus: RealtimeBus = services.extras["bus"]
    async with bus.subscribe(chat_channel(buyer.tenant_id, buyer.customer_id), skip=socket.is_own) as inbox:
        await websocket.send_json({"type": "ready"})
        forward = asyncio.create_task(_forward(websocket, inbox))
        try:
            await _serve(websocket, services, token, buyer, socket)
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forward


async def _forward(websocket: WebSocket, inbox: Messages) -> None:
    """The buyer's case as it changes (the socket's own messages come back as its acks, not again)."""
    async for event in inbox:
        await websocket.send_text(event.text())


async def _serve(
    websocket: WebSocket, services: Services, token: str, buyer: ChatBuyer, socket: ChatSocket
) -> None:
    """Until the buyer goes: a socket closed while its message was being stored gets no answer (the
    message is stored all the same, and shows when the buyer comes back)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await _answer_frames(websocket, services, token, buyer, socket)


async def _answer_frames(
    websocket: WebSocket, services: Services, token: str, buyer: ChatBuyer, socket: ChatSocket
) -> None:
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        text = frame.get("text")
        if text is None or len(text) > MAX_FRAME:
            await websocket.send_json({"type": "error", "message": "frames are JSON text, at most 24 KB"})
            continue
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind == "message":
                assert isinstance(data, dict)
                stored = await relay_buyer_message(services, buyer, socket, str(data.get("body", "")))
                await websocket.send_json(
                    {"type": "ack", "client_id": data.get("client_id"), "id": stored["id"]}
                )
            elif kind == "typing":
                await _typing(services, token)
            elif kind == "read":
                await mark_read(services, token)
            elif kind == "ping":
                await websocket.send_json({"type": "pong"})
            else:
                await websocket.send_json({"type": "error", "message": "unknown frame type"})
        except DomainError as error:
            await websocket.send_json(
                {
                    "type": "error",
                    "code": error.code,
                    "message": error.message,
                    "client_id": (data or {}).get("client_id"),
                }
            )
