"""What an agent's console says over its socket, beyond pings: presence beats, which ticket it is viewing,
and typing. Presence is stored (routing needs it); viewing and typing are passing signals, pushed to the
other consoles (collision warnings) and, for typing, to the buyer's chat."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from aftersail.kit.errors import InvalidInput
from aftersail.kit.realtime import RealtimeBus, tenant_channel
from aftersail.support import routing
from aftersail.support import service as tickets
from aftersail.support.chat_channel import chat_channel
from aftersail.support.models import Presence
from aftersail.tenants.models import User
from aftersail.web.services import Services

BEAT_SECONDS = 30.0  # a presence beat is stored at most this often, unless the presence changes
SIGNAL_SECONDS = 2.0  # typing and viewing repeat at most this often per ticket


class AgentSignals:
    KINDS: ClassVar[frozenset[str]] = frozenset({"presence", "viewing", "typing"})

    def __init__(self, services: Services, bus: RealtimeBus, tenant_id: int, user: User | None) -> None:
        self.services, self.bus, self.tenant_id, self.user = services, bus, tenant_id, user
        self._presence: tuple[Presence, float] | None = None
        self._sent: dict[tuple[str, int], float] = {}
        self._customers: dict[int, int] = {}  # ticket → buyer, for typing

    async def handle(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "presence":
            await self._beat(body.get("presence"))
            return
        ticket_id = body.get("ticket_id")
        if not isinstance(ticket_id, int) or ticket_id <= 0:
            raise InvalidInput("ticket_id: a ticket id", field="ticket_id")
        now = time.monotonic()
        if now - self._sent.get((kind, ticket_id), 0.0) < SIGNAL_SECONDS:
            return
        self._sent[(kind, ticket_id)] = now
        customer_id = await self._customer_of(ticket_id)
        assert self.user is not None
        await self.bus.publish(
            tenant_channel(self.tenant_id),
            {
                "topic": "realtime.collision",
                "payload": {
                    "ticket_id": ticket_id,
                    "user_id": self.user.id,
                    "name": self.user.name,
                    "action": kind,
                },
            },
        )
        if kind == "typing":
            await self.bus.publish(chat_channel(self.tenant_id, customer_id), {"type": "typing"})

    async def _beat(self, presence: object) -> None:
        if presence not in ("online", "away"):
            raise InvalidInput("presence: online or away", field="presence")
        wanted, now = Presence(str(presence)), time.monotonic()
        if self._presence and self._presence[0] is wanted and now - self._presence[1] < BEAT_SECONDS:
            return
        self._presence = (wanted, now)
        assert self.user is not None
        async with self.services.db.transaction(tenant_id=self.tenant_id) as session:
            user = await session.get(User, self.user.id)
            if user is not None:
                await routing.do_heartbeat(session, user, wanted)

    async def _customer_of(self, ticket_id: int) -> int:
        if ticket_id not in self._customers:
            async with self.services.db.transaction(tenant_id=self.tenant_id, readonly=True) as session:
                ticket = await tickets.access_ticket(session, self.tenant_id, ticket_id)
                self._customers[ticket_id] = ticket.customer_id
        return self._customers[ticket_id]
