"""The realtime bus: publish a message on a channel, every subscriber on any process receives it.

In-memory for one process; Redis pub/sub when `AFTERSAIL_REDIS_URL` is set. WebSocket endpoints
subscribe to channels such as `tenant:{id}`. Events reach the bus through the outbox (`live.*` and
`realtime.*` topics, see `realtime_forwarder`) or straight after a commit (`publish_after_commit`), so
nothing that claims to be stored is pushed for a transaction that rolled back. Passing signals that claim
nothing stored — typing, a chat message on its way to the database (ADR 0014) — go out at once with
`publish_soon`. See docs/subsystems/outbox.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Publisher

log = logging.getLogger("aftersail.realtime")
REALTIME_TOPICS = ("live.*", "realtime.*")
FORWARDER_NAME = "realtime.forward"


class RealtimeBus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Several (channel, message) pairs in order, in one round trip where the bus has round trips."""
        ...

    def publish_soon(self, channel: str, message: dict[str, Any]) -> None:
        """Push without waiting: a signal that is not a stored fact. What is published in one turn of the
        event loop goes out together, in order, and before anything published later."""
        ...

    def subscribe(self, channel: str, *, skip: Callable[[Event], bool] | None = None) -> Any:
        """An async context manager yielding `Messages`: those on `channel` that `skip` does not refuse
        (refused before they are queued: a socket that ignores most of a channel is not woken for them)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class Event(dict[str, Any]):
    """A published message. Its JSON is written once, however many sockets send it (a tenant's chat
    message goes to every console of the tenant)."""

    __slots__ = ("_text",)

    def text(self) -> str:
        try:
            return self._text
        except AttributeError:
            self._text: str = json.dumps(self, ensure_ascii=False, separators=(",", ":"))
            return self._text

    @classmethod
    def decoded(cls, text: str) -> Event:
        event = cls(json.loads(text))
        event._text = text
        return event


def as_event(message: dict[str, Any]) -> Event:
    return message if isinstance(message, Event) else Event(message)


def tenant_channel(tenant_id: int) -> str:
    return f"tenant:{tenant_id}"


PENDING_KEY = "realtime.after_commit"


def publish_after_commit(session: Any, channel: str, message: dict[str, Any]) -> None:
    """Push `message` once the session's transaction has committed — the fast path for chat, where the
    outbox's dispatch delay would be felt. Whoever owns the transaction calls `publish_pending` after
    committing (the request session does); at most once: a client that missed it reloads the thread."""
    session.info.setdefault(PENDING_KEY, []).append((channel, message))


async def publish_pending(session: Any, bus: RealtimeBus | None) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending or bus is None:
        return
    try:
        await bus.publish_many(pending)
    except Exception:  # the data is committed; a live push is a courtesy
        log.warning("realtime publish of %d messages failed", len(pending), exc_info=True)


class Messages:
    """The messages of one subscription. Unlike an async generator, waiting for the next one can be
    cancelled (a timeout, a closing socket) without ending the subscription."""

    def __init__(self, queue: asyncio.Queue[Event]) -> None:
        self._queue = queue

    def __aiter__(self) -> Messages:
        return self

    async def __anext__(self) -> Event:
        return await self._queue.get()

    def drain(self, limit: int) -> list[Event]:
        """Up to `limit` messages already waiting, without waiting for more."""
        found: list[Event] = []
        while len(found) < limit and not self._queue.empty():
            found.append(self._queue.get_nowait())
        return found


class InMemoryBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[str, dict[asyncio.Queue[Event], Callable[[Event], bool] | None]] = {}
        self._queue_size = queue_size

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.publish_soon(channel, message)

    def publish_soon(self, channel: str, message: dict[str, Any]) -> None:
        queues = self._subscribers.get(channel)
        if not queues:
            return
        event = as_event(message)
        for queue, skip in list(queues.items()):
            if skip is not None and skip(event):
                continue
            if queue.full():  # a slow consumer loses its oldest message, never blocks the publisher
                queue.get_nowait()
            queue.put_nowait(event)

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for channel, message in messages:
            self.publish_soon(channel, message)

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, skip: Callable[[Event], bool] | None = None
    ) -> AsyncIterator[Messages]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(channel, {})[queue] = skip
        try:
            yield Messages(queue)
        finally:
            queues = self._subscribers.get(channel, {})
            queues.pop(queue, None)
            if not queues:
                self._subscribers.pop(channel, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()


class RedisBus:
    """Redis pub/sub shared by every process. One Redis subscription per process and channel, fanned out
    to local subscribers through an `InMemoryBus`, so a thousand sockets of one tenant cost one
    SUBSCRIBE, not a thousand connections."""

    def __init__(self, url: str, *, prefix: str = "aftersail:", subscribe_timeout: float = 5.0) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._local = InMemoryBus()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._refs: Counter[str] = Counter()
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._subscribe_timeout = subscribe_timeout
        self._outgoing: list[tuple[list[tuple[str, dict[str, Any]]], asyncio.Future[None] | None]] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Sent in order with everything published before (also `publish_soon`), in one pipeline per turn
        of the loop (one write, one round trip): a chat batch pushes two per message."""
        if not messages:
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue_for_sending(list(messages), sent)
        await sent

    def publish_soon(self, channel: str, message: dict[str, Any]) -> None:
        self._queue_for_sending([(channel, message)], None)

    def _queue_for_sending(
        self, messages: list[tuple[str, dict[str, Any]]], sent: asyncio.Future[None] | None
    ) -> None:
        self._outgoing.append((messages, sent))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        """One pipeline for what was published while the previous one was on its way: one sender, so the
        order holds across `publish`, `publish_many` and `publish_soon`."""
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing, []
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for messages, _ in batch:
                            for channel, message in messages:
                                pipe.publish(self._prefix + channel, as_event(message).text())
                        await pipe.execute()
                except Exception as error:
                    waiting = [future for _, future in batch if future is not None and not future.done()]
                    for future in waiting:
                        future.set_exception(error)
                    if len(waiting) < len(batch):  # passing signals: nobody waits to hear it failed
                        log.warning("realtime publish of %d messages failed", len(batch), exc_info=True)
                else:
                    for _, sent in batch:
                        if sent is not None and not sent.done():
                            sent.set_result(None)
        finally:
            self._sender = None

    async def ping(self) -> None:
        await self._redis.ping()

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, skip: Callable[[Event], bool] | None = None
    ) -> AsyncIterator[Messages]:
        async with self._local.subscribe(channel, skip=skip) as messages:
            try:
                await self._join(channel)
                yield messages
            finally:
                await self._leave(channel)

    async def _join(self, channel: str) -> None:
        """Returns once Redis has confirmed the subscription, so nothing published afterwards is missed."""
        async with self._lock:
            self._refs[channel] += 1
            if self._refs[channel] > 1:
                confirmed = self._confirmed[channel]
            else:
                confirmed = self._confirmed[channel] = asyncio.Event()
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(self._prefix + channel)
                if self._reader is None:
                    self._reader = asyncio.create_task(self._read(), name="realtime-redis-reader")
        await asyncio.wait_for(confirmed.wait(), timeout=self._subscribe_timeout)

    async def _leave(self, channel: str) -> None:
        async with self._lock:
            self._refs[channel] -= 1
            if self._refs[channel] > 0:
                return
            del self._refs[channel]
            self._confirmed.pop(channel, None)
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(self._prefix + channel)
                except Exception:  # the connection is gone; its subscriptions went with it
                    log.warning("redis unsubscribe from %s failed", channel, exc_info=True)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # redis-py reconnects and resubscribes on the next read
                log.warning("redis pub/sub read failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = str(message.get("channel", ""))
            if not channel.startswith(self._prefix):
                continue
            channel = channel[len(self._prefix) :]
            if message["type"] == "subscribe":
                if channel in self._confirmed:
                    self._confirmed[channel].set()
            elif message["type"] == "message":
                try:
                    event = Event.decoded(message["data"])
                except (TypeError, ValueError):
                    log.warning("dropped a non-JSON message on %s", channel)
                    continue
                self._local.publish_soon(channel, event)

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        await self._local.close()
        await self._redis.aclose()


def create_bus(settings: Settings) -> InMemoryBus | RedisBus:
    """Redis when `redis_url` is set (several processes), otherwise in-process."""
    if settings.redis_url:
        return RedisBus(settings.redis_url)
    return InMemoryBus()


def realtime_forwarder(bus: RealtimeBus) -> Publisher:
    """The outbox publisher that pushes `live.*` and `realtime.*` events to `tenant:{id}` on the bus, in
    the order they were claimed.

    At least once: an event whose outcome could not be recorded is published again on retry.
    """

    async def forward(deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            if delivery.tenant_id is None:
                continue  # no tenant, no audience
            await bus.publish(
                tenant_channel(delivery.tenant_id), {"topic": delivery.topic, "payload": delivery.payload}
            )

    return Publisher(name=FORWARDER_NAME, topics=REALTIME_TOPICS, fn=forward)
