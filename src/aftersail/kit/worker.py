"""Assembling an outbox dispatcher for a process: its settings, the handler modules to import, and
`aftersail worker`, the dispatcher as its own process.

Start as many workers as the load needs (on PostgreSQL they claim with `FOR UPDATE SKIP LOCKED`);
SIGTERM or Ctrl-C lets the events in flight finish first.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import pkgutil
import signal
import sys
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.logging import configure_logging
from aftersail.kit.outbox import Handler, Publisher, Registry, RetryPolicy, handlers
from aftersail.kit.realtime import RealtimeBus, create_bus, publish_pending, realtime_forwarder

log = logging.getLogger("aftersail.worker")


def load_handler_modules(extra: Iterable[str] = ()) -> list[str]:
    """Import every domain's `tasks` module (where handlers register themselves) and the `extra`
    modules; returns the names imported."""
    import aftersail

    names = [
        f"aftersail.{info.name}.tasks" for info in pkgutil.iter_modules(aftersail.__path__) if info.ispkg
    ]
    imported = []
    for name in names:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
            imported.append(name)
    for name in extra:
        importlib.import_module(name)
        imported.append(name)
    return imported


def application_registry(bus: RealtimeBus, settings: Settings | None = None) -> Registry:
    """The application's handlers plus those bound to this process: the realtime forwarder on its bus, and
    the handlers of every loaded module that defines `outbox_handlers(settings, bus)` (handlers that need
    settings, such as a translation provider or an SMTP server)."""
    bound: list[Handler | Publisher] = [realtime_forwarder(bus)]
    if settings is not None:
        for name in sorted(sys.modules):
            module = sys.modules[name]
            factory = getattr(module, "outbox_handlers", None) if name.startswith("aftersail.") else None
            if callable(factory):
                bound.extend(factory(settings, bus))
    return handlers.with_handlers(bound)


def build_dispatcher(
    db: Database, bus: RealtimeBus, settings: Settings, *, concurrency: int = 4
) -> Dispatcher:
    """A dispatcher with every handler of the application (and of `AFTERSAIL_WORKER_IMPORTS`)."""
    imported = load_handler_modules(settings.worker_import_modules)
    log.debug("outbox handler modules: %s", ", ".join(imported) or "-")
    return Dispatcher(
        db,
        application_registry(bus, settings),
        concurrency=concurrency,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        poll_seconds=settings.outbox_poll_seconds,
        drain_seconds=settings.outbox_drain_seconds,
        linger_seconds=settings.outbox_linger_seconds,
        busy_interval_seconds=settings.outbox_busy_interval_seconds,
        retry=RetryPolicy(settings.outbox_retry_base_seconds, settings.outbox_retry_max_seconds),
    )


def run_worker(settings: Settings, concurrency: int = 4) -> None:
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    asyncio.run(serve_worker(settings, concurrency=concurrency))


async def serve_worker(settings: Settings, *, concurrency: int = 4) -> None:
    db = Database(settings.resolved_database_url, pool_size=concurrency + 2)
    bus = create_bus(settings)
    db.after_commit = partial(publish_pending, bus=bus)
    dispatcher = build_dispatcher(db, bus, settings, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(dispatcher.stop()))
    log.info("worker %s ready with %d outbox handlers", dispatcher.worker_id, len(dispatcher.registry))
    try:
        await dispatcher.run()
    finally:
        await bus.close()
        await db.dispose()
