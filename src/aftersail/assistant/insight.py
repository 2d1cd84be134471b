"""What the assistant understood and did in one ticket, for the agents' console: each buyer message's intent
(and an agent's correction), the conversation's state and the hand-off summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.models import (
    AssistantConversation,
    AssistantDecision,
    ConversationState,
    IntentCorrection,
)
from aftersail.kit.i18n import N_

INTENT_LABELS: dict[str, str] = {
    "order_status": N_("Where is my order"),
    "delivered_not_received": N_("Delivered, not received"),
    "damaged_item": N_("Damaged item"),
    "wrong_item": N_("Wrong item"),
    "missing_item": N_("Missing item or part"),
    "defective": N_("Does not work"),
    "usage_help": N_("How to use"),
    "return_request": N_("Return"),
    "exchange_request": N_("Exchange"),
    "refund_status": N_("Refund status"),
    "cancel_order": N_("Cancel order"),
    "change_order": N_("Change order"),
    "product_question": N_("Product question"),
    "customs_duties": N_("Customs and duties"),
    "complaint": N_("Complaint"),
    "human_agent": N_("Wants a person"),
    "thanks": N_("Thanks"),
    "other": N_("Other"),
}
OUTCOME_LABELS: dict[str, str] = {
    "answered": N_("Answered"),
    "handed_off": N_("Handed to a person"),
    "refused": N_("Refused by policy"),
    "superseded": N_("Superseded by a newer message"),
    "silent": N_("Left to a person"),
}
HANDOFF_LABELS: dict[str, str] = {
    "complaint": N_("Complaint"),
    "asked_for_person": N_("The buyer asked for a person"),
    "not_understood": N_("Not understood twice"),
    "high_value": N_("High-value order"),
    "vip": N_("VIP buyer"),
    "needs_approval": N_("Needs a person's decision"),
    "no_answer": N_("No article answers it"),
    "too_late": N_("Past the cooling-off window"),
}
DATE_FINDING_LABELS: dict[str, str] = {  # photos.DateFinding, when it says something
    "before_order": N_("Taken before the order was placed"),
    "before_delivery": N_("Taken before the parcel was delivered"),
    "in_future": N_("Capture date in the future"),
    "no_exif_date": N_("No capture date in the photo"),
}
SENTIMENT_LABELS: dict[str, str] = {
    "negative": N_("Negative"),
    "neutral": N_("Neutral"),
    "positive": N_("Positive"),
}


@dataclass(frozen=True, slots=True)
class MessageInsight:
    intent: str
    confidence: float
    language: str
    corrected: str | None  # an agent's correction


@dataclass(frozen=True, slots=True)
class TicketInsight:
    state: str | None  # None: the assistant never saw this ticket
    handoff: dict[str, Any]
    reply_by: datetime | None
    by_message: dict[int, MessageInsight] = field(default_factory=dict)
    decisions: tuple[AssistantDecision, ...] = ()

    @property
    def handed_off(self) -> bool:
        return self.state == ConversationState.HANDED_OFF.value


async def ticket_insight(session: AsyncSession, tenant_id: int, ticket_id: int) -> TicketInsight:
    conversation = await session.get(AssistantConversation, ticket_id)
    if conversation is not None and conversation.tenant_id != tenant_id:
        conversation = None
    decisions = (
        await session.scalars(
            select(AssistantDecision)
            .where(AssistantDecision.tenant_id == tenant_id, AssistantDecision.ticket_id == ticket_id)
            .order_by(AssistantDecision.id)
        )
    ).all()
    corrected = dict(
        (
            await session.execute(
                select(IntentCorrection.message_id, IntentCorrection.corrected).where(
                    IntentCorrection.tenant_id == tenant_id, IntentCorrection.ticket_id == ticket_id
                )
            )
        ).all()
    )
    by_message = {
        decision.message_id: MessageInsight(
            decision.intent, decision.confidence, decision.language, corrected.get(decision.message_id)
        )
        for decision in decisions
        if decision.intent
    }
    for message_id, intent in corrected.items():
        if message_id not in by_message:
            by_message[message_id] = MessageInsight("", 0.0, "", intent)
    return TicketInsight(
        state=conversation.state.value if conversation else None,
        handoff=dict(conversation.handoff or {}) if conversation else {},
        reply_by=conversation.reply_by if conversation else None,
        by_message=by_message,
        decisions=tuple(decisions),
    )
