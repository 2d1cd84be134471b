"""The realtime bus (in memory and on Redis) and the outbox handler that feeds it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aftersail.kit.config import Environment, Settings
from aftersail.kit.db import Database
from aftersail.kit.dispatcher import Dispatcher
from aftersail.kit.outbox import Registry, emit
from aftersail.kit.realtime import InMemoryBus, RedisBus, create_bus, realtime_forwarder
from tests.integration.test_worker_support import isolated_database


async def next_message(messages: AsyncIterator[dict[str, object]], within: float = 3.0) -> dict[str, object]:
    return await asyncio.wait_for(anext(messages), timeout=within)


async def nothing_arrives(messages: AsyncIterator[dict[str, object]], within: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(anext(messages), timeout=within)
    except TimeoutError:
        return True
    return False


async def test_in_memory_bus_delivers_to_every_subscriber_of_the_channel() -> None:
    bus = InMemoryBus()
    async with (
        bus.subscribe("tenant:1") as first,
        bus.subscribe("tenant:1") as second,
        bus.subscribe("tenant:2") as other,
    ):
        await bus.publish("tenant:1", {"topic": "live.x", "payload": {"n": 1}})
        assert await next_message(first) == {"topic": "live.x", "payload": {"n": 1}}
        assert await next_message(second) == {"topic": "live.x", "payload": {"n": 1}}
        assert await nothing_arrives(other)
    await bus.ping()
    await bus.close()


async def test_in_memory_bus_drops_the_oldest_message_of_a_slow_subscriber() -> None:
    bus = InMemoryBus(queue_size=2)
    async with bus.subscribe("c") as messages:
        for n in range(3):
            await bus.publish("c", {"n": n})
        assert [await next_message(messages), await next_message(messages)] == [{"n": 1}, {"n": 2}]


@pytest.mark.redis
async def test_redis_bus_carries_messages_between_two_buses(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"  # this run's channels only
    publisher, subscriber = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)
    try:
        await publisher.ping()
        async with subscriber.subscribe("tenant:1") as first, subscriber.subscribe("tenant:1") as second:
            async with subscriber.subscribe("tenant:2") as other:
                await publisher.publish("tenant:1", {"topic": "live.order", "payload": {"text": "发货了"}})
                assert await next_message(first) == {"topic": "live.order", "payload": {"text": "发货了"}}
                assert await next_message(second) == {"topic": "live.order", "payload": {"text": "发货了"}}
                assert await nothing_arrives(other)
            # Leaving and re-joining a channel subscribes again.
            async with subscriber.subscribe("tenant:2") as again:
                await publisher.publish("tenant:2", {"n": 2})
                assert await next_message(again) == {"n": 2}
    finally:
        await publisher.close()
        await subscriber.close()


async def test_a_subscriber_that_skips_messages_is_not_queued_them() -> None:
    bus = InMemoryBus()
    own = lambda event: event.get("arrival") == "mine.1"  # noqa: E731
    async with bus.subscribe("chat:1:7", skip=own) as socket, bus.subscribe("chat:1:7") as other_window:
        bus.publish_soon("chat:1:7", {"type": "message", "arrival": "mine.1"})
        bus.publish_soon("chat:1:7", {"type": "message", "arrival": "theirs.1"})
        assert await next_message(socket) == {"type": "message", "arrival": "theirs.1"}
        assert await nothing_arrives(socket)
        assert [await next_message(other_window), await next_message(other_window)] == [
            {"type": "message", "arrival": "mine.1"},
            {"type": "message", "arrival": "theirs.1"},
        ]


async def test_waiting_messages_are_taken_together_and_their_json_is_written_once() -> None:
    bus = InMemoryBus()
    async with bus.subscribe("tenant:1") as first, bus.subscribe("tenant:1") as second:
        for n in range(3):
            bus.publish_soon(
                "tenant:1", {"topic": "realtime.message.arriving", "payload": {"n": n, "text": "到了"}}
            )
        head = await next_message(first)
        together = [head, *first.drain(10)]
        assert [m["payload"]["n"] for m in together] == [0, 1, 2]  # type: ignore[index]
        assert first.drain(10) == []
        texts = [m.text() for m in together]  # type: ignore[attr-defined]
        assert texts[0] == '{"topic":"realtime.message.arriving","payload":{"n":0,"text":"到了"}}'
        others = [await next_message(second), *second.drain(10)]
        assert [m.text() for m in others] == texts  # type: ignore[attr-defined]
        assert all(a is b for a, b in zip(others, together, strict=True)), "one event, shared"


@pytest.mark.redis
async def test_redis_bus_sends_what_is_published_soon_in_order(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    publisher, subscriber = RedisBus(redis_url, prefix=prefix), RedisBus(redis_url, prefix=prefix)
    try:
        async with subscriber.subscribe("tenant:1") as messages:
            for n in range(50):
                publisher.publish_soon("tenant:1", {"n": n})  # no round trip waited for
            await publisher.publish("tenant:1", {"n": "after"})
            received = [await next_message(messages) for _ in range(51)]
            assert received == [*({"n": n} for n in range(50)), {"n": "after"}]
    finally:
        await publisher.close()
        await subscriber.close()


@pytest.mark.redis
def test_create_bus_picks_redis_when_configured(redis_url: str, tmp_path: Path) -> None:
    base = {"env": Environment.TEST, "data_dir": tmp_path}
    assert isinstance(create_bus(Settings(**base)), InMemoryBus)  # type: ignore[arg-type]
    assert isinstance(create_bus(Settings(redis_url=redis_url, **base)), RedisBus)  # type: ignore[arg-type]


@pytest.fixture
async def db(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    async with isolated_database(db_url, tmp_path) as database:
        yield database


async def test_live_events_are_forwarded_to_the_tenant_channel_after_commit(db: Database) -> None:
    bus = InMemoryBus()
    worker = Dispatcher(db, Registry().with_handlers([realtime_forwarder(bus)]))
    async with bus.subscribe("tenant:41") as tenant_41, bus.subscribe("tenant:42") as tenant_42:
        async with db.transaction(system=True) as session:
            await emit(session, "live.viewers", {"count": 12}, tenant_id=41)
            await emit(session, "realtime.ticket", {"id": 5}, tenant_id=41)
            await emit(session, "order.created", {"id": 9}, tenant_id=41)  # not a live topic
            await emit(session, "live.viewers", {"count": 1}, tenant_id=None)  # no tenant, no audience
        assert await nothing_arrives(tenant_41, within=0.05), "nothing is pushed before dispatch"
        assert await worker.run_once() == 4
        received = [await next_message(tenant_41), await next_message(tenant_41)]
        assert sorted(received, key=lambda m: str(m["topic"])) == [
            {"topic": "live.viewers", "payload": {"count": 12}},
            {"topic": "realtime.ticket", "payload": {"id": 5}},
        ]
        assert await nothing_arrives(tenant_41)
        assert await nothing_arrives(tenant_42, within=0.05)
