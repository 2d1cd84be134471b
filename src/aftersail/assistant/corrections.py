"""Agents correcting what the assistant understood, and the tenant's own model trained from those
corrections: the shipped training data plus the corrected messages of the tenant's resolved tickets."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant import nlu
from aftersail.assistant.intents import INTENTS, NLU_LANGUAGES
from aftersail.assistant.models import AssistantDecision, IntentCorrection
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import InvalidInput
from aftersail.support.models import AuthorKind, Ticket, TicketMessage, TicketStatus
from aftersail.tenants.models import User

# A correction counts this many times against one shipped line: it is the tenant's own buyers speaking.
CORRECTION_WEIGHT = 3
_FINISHED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
_loading = threading.Lock()
_loaded_mtimes: dict[str, float] = {}  # model name → the mtime of the file it was loaded from


async def do_correct_intent(
    session: AsyncSession, message: TicketMessage, intent: str, *, by: User | None
) -> IntentCorrection:
    """Records what a buyer message really meant (one correction per message: the latest wins)."""
    if intent not in INTENTS:
        raise InvalidInput(
            f"“{intent}” is not an intent; choose one of: {', '.join(INTENTS)}.", field="intent"
        )
    if message.author_kind is not AuthorKind.CUSTOMER or message.internal:
        raise InvalidInput("Only a buyer's message has an intent to correct.", field="message_id")
    predicted = await session.scalar(
        select(AssistantDecision.intent)
        .where(AssistantDecision.tenant_id == message.tenant_id, AssistantDecision.message_id == message.id)
        .order_by(AssistantDecision.id.desc())
        .limit(1)
    )
    correction = await session.scalar(
        select(IntentCorrection).where(
            IntentCorrection.tenant_id == message.tenant_id, IntentCorrection.message_id == message.id
        )
    )
    if correction is None:
        correction = IntentCorrection(
            tenant_id=message.tenant_id, message_id=message.id, ticket_id=message.ticket_id
        )
        session.add(correction)
    correction.text = message.body[: nlu.MAX_TEXT_CHARS]
    correction.language = message.language if message.language in NLU_LANGUAGES else "en"
    correction.predicted = predicted or ""
    correction.corrected = intent
    correction.corrected_by_id = by.id if by else None
    correction.created_at = utcnow()
    await session.flush()
    return correction


async def tenant_examples(session: AsyncSession, tenant_id: int) -> list[nlu.Example]:
    """The tenant's corrections on resolved or closed tickets (an open case may still change its mind)."""
    rows = await session.execute(
        select(IntentCorrection.text, IntentCorrection.corrected, IntentCorrection.language)
        .join(Ticket, (Ticket.id == IntentCorrection.ticket_id) & (Ticket.tenant_id == tenant_id))
        .where(IntentCorrection.tenant_id == tenant_id, Ticket.status.in_(_FINISHED))
        .order_by(IntentCorrection.id)
    )
    return [nlu.Example(text, intent, lang) for text, intent, lang in rows.all()]


def model_name(tenant_id: int) -> str:
    return f"tenant-{tenant_id}"


def train_tenant_model(data_dir: Path, tenant_id: int, corrections: Sequence[nlu.Example]) -> nlu.IntentModel:
    """Trains and saves the tenant's model (shipped data + its corrections, weighted); the assistant uses it
    from then on (`model_for`)."""
    examples = nlu.shipped_examples() + [example for example in corrections for _ in range(CORRECTION_WEIGHT)]
    model = nlu.IntentModel(examples)
    path = nlu.model_path(data_dir, model_name(tenant_id))
    nlu.save_model(model, path)
    with _loading:
        nlu.remember_model(model_name(tenant_id), model)
        _loaded_mtimes[model_name(tenant_id)] = path.stat().st_mtime
    return model


def model_for(data_dir: Path, tenant_id: int) -> nlu.IntentModel:
    """The tenant's own model when one was trained (reloaded when `aftersail nlu train --tenant` wrote a
    newer one), else the shipped one. Blocking: call in a thread."""
    name = model_name(tenant_id)
    path = nlu.model_path(data_dir, name)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return nlu.base_model(data_dir)
    with _loading:
        cached = nlu.cached_model(name)
        if cached is not None and _loaded_mtimes.get(name) == mtime:
            return cached
        model = nlu.load_any(path)
        if model is None:
            return nlu.base_model(data_dir)
        nlu.remember_model(name, model)
        _loaded_mtimes[name] = mtime
        return model
