"""Background work that lives inside the server process: the realtime bus and the outbox dispatcher."""

from __future__ import annotations

from aftersail.kit.realtime import InMemoryBus
from aftersail.web.services import Services


async def start_background(services: Services) -> None:
    services.extras["bus"] = InMemoryBus()


async def stop_background(services: Services) -> None:
    bus = services.extras.pop("bus", None)
    if bus is not None:
        await bus.close()
