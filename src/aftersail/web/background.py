"""Background work that lives inside the server process: the realtime bus and the outbox dispatcher."""

from __future__ import annotations

from functools import partial

from aftersail.kit.realtime import create_bus, publish_pending
from aftersail.kit.worker import build_dispatcher
from aftersail.web.services import Services


async def start_background(services: Services) -> None:
    """The bus goes to `services.extras["bus"]`; the dispatcher (unless `run_dispatcher` is off, as when
    separate `aftersail worker` processes do the work) to `services.extras["dispatcher"]`."""
    bus = create_bus(services.settings)
    services.extras["bus"] = bus
    services.db.after_commit = partial(publish_pending, bus=bus)
    if services.settings.run_dispatcher:
        dispatcher = build_dispatcher(services.db, bus, services.settings)
        dispatcher.start()
        services.extras["dispatcher"] = dispatcher


async def stop_background(services: Services) -> None:
    intake = services.extras.pop("order_intake", None)
    if intake is not None:
        await intake.close()
    dispatcher = services.extras.pop("dispatcher", None)
    if dispatcher is not None:
        await dispatcher.stop()
    bus = services.extras.pop("bus", None)
    services.db.after_commit = None
    if bus is not None:
        await bus.close()
