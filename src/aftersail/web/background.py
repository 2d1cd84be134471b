"""Background work that lives inside the server process: the realtime bus and the outbox dispatcher."""

from __future__ import annotations

import asyncio
from functools import partial

from aftersail.assistant.lane import AnswerLane
from aftersail.assistant.language import warm_up
from aftersail.assistant.model_prep import prepare_base_model
from aftersail.kit.realtime import create_bus, publish_pending
from aftersail.kit.worker import build_dispatcher
from aftersail.support.chat_writer import ChatWriter
from aftersail.support.mail_service import InboundMail
from aftersail.support.tasks import translator_from
from aftersail.video.backend import start_local_janus
from aftersail.web.services import Services


async def start_background(services: Services) -> None:
    """The bus goes to `services.extras["bus"]`; the dispatcher (unless `run_dispatcher` is off, as when
    separate `aftersail worker` processes do the work) to `services.extras["dispatcher"]`."""
    bus = create_bus(services.settings)
    services.extras["bus"] = bus
    services.db.after_commit = partial(publish_pending, bus=bus)
    services.extras["translator"] = translator_from(services.settings)
    # Stored chat messages queue one job per tenant and batch: translation and the assistant both use it.
    settings = services.settings
    lane = (
        AnswerLane(services.db, bus=bus, data_dir=settings.data_dir)
        if settings.assistant_enabled and services.db.is_postgres
        else None
    )
    services.extras["assistant_lane"] = lane
    services.extras["chat_writer"] = ChatWriter(
        services.db,
        bus=bus,
        translate=bool(settings.translation_provider) or settings.assistant_enabled,
        listener=lane,
        # The jobs wait for the lane unless a translation service needs them at once.
        defer_jobs=lane is not None and not settings.translation_provider,
    )
    # Language models load in about 1.5 s: in a thread, so that the first buyer message does not wait.
    services.extras["language_warm_up"] = asyncio.create_task(
        asyncio.to_thread(warm_up, low_accuracy=services.settings.language_low_accuracy)
    )
    if settings.assistant_enabled and settings.assistant_warm_up:
        # The intent model loads in about a second, or trains in 10–20 s the first time in a process of its
        # own (then it is saved).
        services.extras["assistant_warm_up"] = asyncio.create_task(prepare_base_model(settings.data_dir))
    mail = InboundMail(services.db, services.settings)
    if mail.configured:
        await mail.start()
        services.extras["inbound_mail"] = mail
    # Video calls: a local Janus beside the server (before the dispatcher, whose jobs reach it), or the reason
    # they are off.
    janus, media = await start_local_janus(services.settings)
    services.extras["janus"] = janus
    services.extras["media"] = media
    if services.settings.run_dispatcher:
        dispatcher = build_dispatcher(services.db, bus, services.settings)
        dispatcher.start()
        services.extras["dispatcher"] = dispatcher


async def stop_background(services: Services) -> None:
    mail = services.extras.pop("inbound_mail", None)
    if mail is not None:
        await mail.stop()
    intake = services.extras.pop("order_intake", None)
    if intake is not None:
        await intake.close()
    dispatcher = services.extras.pop("dispatcher", None)
    if dispatcher is not None:
        await dispatcher.stop()
    janus = services.extras.pop("janus", None)
    if janus is not None:
        await janus.stop()
    training = services.extras.pop("assistant_warm_up", None)
    if training is not None:  # a training process still running is stopped
        training.cancel()
        await asyncio.gather(training, return_exceptions=True)
    warming = services.extras.pop("language_warm_up", None)
    if warming is not None:
        await warming  # a thread cannot be cancelled; it ends within seconds
    writer = services.extras.pop("chat_writer", None)
    if writer is not None:
        await writer.close()
    lane = services.extras.pop("assistant_lane", None)
    if lane is not None:
        await lane.close()
    translator = services.extras.pop("translator", None)
    if translator is not None:
        await translator.aclose()
    bus = services.extras.pop("bus", None)
    services.db.after_commit = None
    if bus is not None:
        await bus.close()
