"""`POST /api/v1/tickets/{id}/messages/{id}/intent`: an agent says what a buyer message really meant."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from aftersail.assistant import corrections
from aftersail.kit.errors import NotFound
from aftersail.kit.validation import PathId
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.tenants.models import User
from aftersail.web.deps import SessionDep, TicketWriter

router = APIRouter(tags=["assistant"])


class IntentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: str = Field(min_length=1, max_length=40, description="One of the assistant's 18 intents")


class IntentCorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: int
    ticket_id: int
    predicted: str
    corrected: str


@router.post("/tickets/{ticket_id}/messages/{message_id}/intent", response_model=IntentCorrectionOut)
async def correct_intent(
    ticket_id: PathId, message_id: PathId, body: IntentIn, session: SessionDep, principal: TicketWriter
) -> IntentCorrectionOut:
    ticket = await tickets.access_ticket(session, principal.tenant_id, ticket_id)
    message = await messages.access_message(session, principal.tenant_id, message_id)
    if message.ticket_id != ticket.id:
        raise NotFound(f"Message {message_id} is not in ticket {ticket_id}.", message_id=message_id)
    user = await session.get(User, principal.user_id) if principal.user_id is not None else None
    correction = await corrections.do_correct_intent(session, message, body.intent, by=user)
    return IntentCorrectionOut.model_validate(correction)
