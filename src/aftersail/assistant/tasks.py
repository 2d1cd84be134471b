"""The assistant's jobs on the buyer messages a batch stored (`support.translate`, queued for every stored
buyer message, names their ids): answer them, for the tenants that switched the assistant on, and check
their photos, for every tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant import corrections, photo_checks, service
from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Handler, Publisher
from aftersail.kit.realtime import RealtimeBus
from aftersail.kit.sealing import Sealer
from aftersail.support.messages import TRANSLATE_TOPIC
from aftersail.tenants.links import BuyerLinkSigner


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    sealer = Sealer(settings.secret_key.get_secret_value())

    async def check_photos(session: AsyncSession, delivery: Delivery) -> None:
        """Every tenant's buyer photos, whether or not its assistant answers."""
        if delivery.tenant_id is None:
            return
        raw = delivery.payload.get("message_ids") or [delivery.payload.get("message_id")]
        ids = [message_id for message_id in raw if isinstance(message_id, int)]
        if ids:
            await photo_checks.do_check_photos(
                session, delivery.tenant_id, ids, settings.data_dir, sealer=sealer
            )

    if not settings.assistant_enabled:
        return [Handler(name="assistant.check_photos", topics=(TRANSLATE_TOPIC,), fn=check_photos)]
    links = BuyerLinkSigner(settings.secret_key.get_secret_value(), settings.buyer_link_max_age_seconds)

    async def answer_buyers(session: AsyncSession, delivery: Delivery) -> None:
        if delivery.tenant_id is None:
            return
        raw = delivery.payload.get("message_ids") or [delivery.payload.get("message_id")]
        ids = [message_id for message_id in raw if isinstance(message_id, int)]
        if not ids:
            return
        if not await service.assistant_on(session, delivery.tenant_id):
            await service.do_release_messages(session, delivery.tenant_id, ids)
            return
        model = await asyncio.to_thread(corrections.model_for, settings.data_dir, delivery.tenant_id)
        context = service.Context(model=model, links=links, base_url=settings.base_url, sealer=sealer)
        await service.do_answer_messages(session, delivery.tenant_id, ids, context)

    return [
        Handler(name="assistant.answer_buyers", topics=(TRANSLATE_TOPIC,), fn=answer_buyers),
        Handler(name="assistant.check_photos", topics=(TRANSLATE_TOPIC,), fn=check_photos),
    ]
