"""The chat benchmark's load generator, one asyncio process: `python -m benchmarks.chat_load CONFIG OUT`.

Buyer sockets each send one text frame per period (the starts spread evenly over the first period); the
frames are built before the run and carry a unique id (`#m<id>#`) in their text. In `chat` mode a message
is delivered when the first agent console receives it — as arriving (`realtime.message.arriving`, what
the console shows at once) or as stored (`realtime.message.created`) — and it is lost unless some console
received it as stored; the time to the first stored copy is counted too (`stored_us`). In `echo` mode the
buyer's own socket delivers a message when the echo comes back. Latency is counted from the moment the
frame was handed to the socket; how late that was against the schedule is counted too (`send_lag_us`), and
`latency_due_us` counts from the schedule, so a generator that fell behind cannot hide a slow server.

Progress goes to stdout, one word a line, so that the parent can read the server's CPU at the same
instants: `connected`, `measuring` (warm-up over), `sent`, `drained` (delivered, or the grace period over),
`closed`. The figures go to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from array import array
from collections import Counter
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")

MARK = "#m"
TOPIC = '{"topic":"'
ARRIVING = 'realtime.message.arriving"'
CREATED = 'realtime.message.created"'


@dataclass
class LoadConfig:
    mode: str  # "chat": buyers send, agents receive; "echo": each socket gets its own frames back
    buyer_urls: list[str]
    agent_urls: list[str]
    languages: list[str]  # each buyer's; picks their lines
    lines: dict[str, list[str]]
    rate: float = 1.0  # messages per second per buyer
    warmup_s: float = 2.0
    seconds: float = 20.0
    grace_s: float = 10.0
    deflate: bool = True
    connect_concurrency: int = 50
    connect_timeout_s: float = 120.0


@dataclass
class LoadResult:
    mode: str
    loop: str = ""
    buyers: int = 0
    agents: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    due: int = 0  # measured messages the schedule asked for
    sent: int = 0
    delivered: int = 0
    lost: int = 0  # due and never delivered (also those a closed socket could not send)
    send_failed: int = 0
    extra_copies: int = 0  # the same message again, on another agent console
    console_frames: int = 0  # frames the agent consoles received (several events may share one)
    console_events: int = 0
    acks: int = 0  # measured messages the server acknowledged (chat)
    acked_not_delivered: int = 0  # stored and acknowledged, yet no console received them as stored
    shown_not_stored: int = 0  # a console showed them arriving, none ever heard they were stored
    error_frames: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # sockets the server closed during the run
    latency_us: list[tuple[int, int]] = field(default_factory=list)
    latency_due_us: list[tuple[int, int]] = field(default_factory=list)
    stored_us: list[tuple[int, int]] = field(default_factory=list)  # send → first console told it is stored
    send_lag_us: list[tuple[int, int]] = field(default_factory=list)
    cpu_s: float = 0.0
    window_s: float = 0.0  # measured sending plus the drain
    drain_s: float = 0.0
    error: str | None = None


def now_us() -> int:
    return time.monotonic_ns() // 1000


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} sockets needed")


def progress(word: str) -> None:
    print(word, flush=True)


class Load:
    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.n = len(config.buyer_urls)
        self.period = 1.0 / config.rate
        self.warm = round(config.warmup_s * config.rate)
        self.per_buyer = self.warm + max(1, round(config.seconds * config.rate))
        total = self.n * self.per_buyer
        self.sent_at = array("q", bytes(8 * total))  # µs; 0: not sent
        self.delivered = bytearray(total)
        self.stored = bytearray(total)
        self.acks = bytearray(total)
        self.result = LoadResult(mode=config.mode)
        self.latency: Counter[int] = Counter()
        self.latency_due: Counter[int] = Counter()
        self.stored_latency: Counter[int] = Counter()
        self.lag: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.closing = False
        self.t0 = 0.0
        self.t0_us = 0

    def frames(self, buyer: int) -> list[str]:
        lines = self.config.lines[self.config.languages[buyer % len(self.config.languages)]]
        return [
            json.dumps(
                {
                    "type": "message",
                    "body": f"{lines[(buyer + seq) % len(lines)]} {MARK}{seq * self.n + buyer}#",
                    "client_id": f"b{buyer}-{seq}",
                },
                ensure_ascii=False,
            )
            for seq in range(self.per_buyer)
        ]

    def due_us(self, message_id: int) -> int:
        seq, buyer = divmod(message_id, self.n)
        return self.t0_us + round((buyer / self.n + seq) * self.period * 1e6)

    def message_id(self, text: str) -> int | None:
        start = text.find(MARK)
        if start < 0:
            return None
        end = text.find("#", start + 2)
        try:
            message_id = int(text[start + 2 : end])
        except ValueError:
            return None
        return message_id if 0 <= message_id < len(self.delivered) else None

    def arrived(self, text: str, *, stored: bool = True) -> None:
        """A message reached a reader (`stored`: a copy that says it is stored): its latency the first
        time it arrives anywhere, and its stored latency the first time a stored copy does."""
        message_id = self.message_id(text)
        if message_id is None:
            return
        received = now_us()
        measured = message_id // self.n >= self.warm
        if stored and not self.stored[message_id]:
            self.stored[message_id] = 1
            if measured:
                self.stored_latency[received - self.sent_at[message_id]] += 1
        if self.delivered[message_id]:
            if stored:
                return
            self.result.extra_copies += 1
            return
        self.delivered[message_id] = 1
        if measured:
            self.latency[received - self.sent_at[message_id]] += 1
            self.latency_due[received - self.due_us(message_id)] += 1

    def console_frame(self, frame: str) -> None:
        """One event, or several waiting together (`{"type":"events","events":[...]}`), as the server writes
        them (compact JSON, each event starting with its topic). Cut at the topics rather than parsed: the
        generator's own CPU is part of every latency it measures."""
        self.result.console_frames += 1
        for event in frame.split(TOPIC)[1:]:
            self.result.console_events += 1
            if event.startswith(ARRIVING):
                self.arrived(event, stored=False)
            elif event.startswith(CREATED):
                self.arrived(event, stored=True)

    async def open(self, url: str, *, await_ready: bool, max_queue: int) -> ClientConnection:
        ws = await connect(
            url,
            compression="deflate" if self.config.deflate else None,
            proxy=None,
            ping_interval=None,  # the server pings; a late pong from a loaded client must not close it
            close_timeout=2,
            max_queue=max_queue,
            open_timeout=30,
        )
        if await_ready:
            first = await asyncio.wait_for(ws.recv(), timeout=30)
            if '"ready"' not in str(first):
                await ws.close()
                raise RuntimeError(f"expected a ready frame, got {str(first)[:120]}")
        return ws

    async def read_agent(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if isinstance(frame, str) and MARK in frame:
                    self.console_frame(frame)
        except ConnectionClosed:
            pass
        self.note_closed(ws)

    async def read_buyer(self, ws: ClientConnection) -> None:
        echo = self.config.mode == "echo"
        try:
            async for frame in ws:
                if not isinstance(frame, str):
                    continue
                if echo:
                    self.arrived(frame)
                elif frame.startswith('{"type":"ack"'):
                    self.acked(frame)
                elif frame.startswith('{"type":"error"'):
                    self.errors[str(json.loads(frame).get("code") or "error")] += 1
        except ConnectionClosed:
            pass
        self.note_closed(ws)

    def acked(self, frame: str) -> None:
        """The server stored a message and says so (client ids are `b<buyer>-<seq>`)."""
        start = frame.find('"client_id":"b')
        if start < 0:
            return
        dash = frame.find("-", start)
        end = frame.find('"', dash)
        try:
            message_id = int(frame[dash + 1 : end]) * self.n + int(frame[start + 14 : dash])
        except ValueError:
            return
        if 0 <= message_id < len(self.acks):
            self.acks[message_id] = 1

    def note_closed(self, ws: ClientConnection) -> None:
        if not self.closing:
            self.dropped[f"{ws.close_code} {ws.close_reason or ''}".strip()] += 1

    async def send(self, buyer: int, ws: ClientConnection, frames: list[str]) -> None:
        for seq, frame in enumerate(frames):
            due = self.t0 + (buyer / self.n + seq) * self.period
            delay = due - time.monotonic()
            while delay > 0:  # a coarse timer may wake a little early: sleep again
                await asyncio.sleep(delay)
                delay = due - time.monotonic()
            message_id = seq * self.n + buyer
            sent = now_us()
            if seq >= self.warm:
                self.lag[sent - self.due_us(message_id)] += 1
            self.sent_at[message_id] = sent
            try:
                await ws.send(frame)
            except ConnectionClosed:
                self.sent_at[message_id] = 0
                self.result.send_failed += len(frames) - seq
                return

    async def connect_all(self) -> tuple[list[ClientConnection], list[ClientConnection]]:
        gate = asyncio.Semaphore(self.config.connect_concurrency)
        errors: Counter[str] = Counter()
        chat = self.config.mode == "chat"

        async def one(url: str, max_queue: int) -> ClientConnection | None:
            async with gate:
                try:
                    return await self.open(url, await_ready=chat, max_queue=max_queue)
                except Exception as error:
                    errors[f"{type(error).__name__}: {error}"[:200]] += 1
                    return None

        agents = await asyncio.gather(*(one(url, 4096) for url in self.config.agent_urls))
        buyers = await asyncio.gather(*(one(url, 64) for url in self.config.buyer_urls))
        self.result.connect_errors = dict(errors)
        return [ws for ws in buyers if ws is not None], [ws for ws in agents if ws is not None]

    async def run(self) -> LoadResult:
        result = self.result
        loop = type(asyncio.get_running_loop())
        result.loop = f"{loop.__module__}.{loop.__qualname__}"
        frames = [self.frames(buyer) for buyer in range(self.n)]
        try:
            buyers, agents = await asyncio.wait_for(self.connect_all(), self.config.connect_timeout_s)
        except TimeoutError:
            result.error = f"connecting took longer than {self.config.connect_timeout_s:.0f} s"
            return result
        result.buyers, result.agents = len(buyers), len(agents)
        if len(buyers) < self.n or len(agents) < len(self.config.agent_urls):
            result.error = (
                f"{self.n - len(buyers)} buyer and {len(self.config.agent_urls) - len(agents)} agent "
                "sockets failed to open"
            )
            await self.close(buyers + agents)
            return result
        readers = [asyncio.create_task(self.read_agent(ws)) for ws in agents]
        readers += [asyncio.create_task(self.read_buyer(ws)) for ws in buyers]
        gc.collect()
        gc.freeze()
        progress("connected")

        self.t0 = time.monotonic() + 0.2
        self.t0_us = round(self.t0 * 1e6)
        senders = [
            asyncio.create_task(self.send(buyer, ws, frames[buyer])) for buyer, ws in enumerate(buyers)
        ]
        await asyncio.sleep(max(0.0, self.t0 + self.warm * self.period - time.monotonic()))
        cpu_start, measure_start = time.process_time(), time.monotonic()
        progress("measuring")
        await asyncio.gather(*senders)
        progress("sent")
        drain_start = time.monotonic()
        measured = range(self.warm * self.n, self.per_buyer * self.n)
        while time.monotonic() - drain_start < self.config.grace_s:
            if all(self.stored[i] or not self.sent_at[i] for i in measured):
                break
            await asyncio.sleep(0.05)
        end = time.monotonic()
        result.cpu_s = time.process_time() - cpu_start
        result.window_s, result.drain_s = end - measure_start, end - drain_start
        progress("drained")

        result.due = len(measured)
        result.sent = sum(1 for i in measured if self.sent_at[i])
        result.delivered = sum(1 for i in measured if self.delivered[i])
        stored = self.stored  # an echo is its own stored copy
        result.lost = sum(1 for i in measured if not stored[i])
        result.acks = sum(1 for i in measured if self.acks[i])
        result.acked_not_delivered = sum(1 for i in measured if self.acks[i] and not stored[i])
        result.shown_not_stored = sum(1 for i in measured if self.delivered[i] and not stored[i])
        result.latency_us = sorted(self.latency.items())
        result.latency_due_us = sorted(self.latency_due.items())
        result.stored_us = sorted(self.stored_latency.items())
        result.send_lag_us = sorted(self.lag.items())
        result.error_frames = dict(self.errors)
        await self.close(buyers + agents)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        result.dropped = dict(self.dropped)
        if self.dropped:
            codes = ", ".join(f"{code} ×{count}" for code, count in self.dropped.most_common())
            result.error = f"{sum(self.dropped.values())} sockets closed from the server's side ({codes})"
        progress("closed")
        return result

    async def close(self, sockets: list[ClientConnection]) -> None:
        self.closing = True
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main() -> None:
    config_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    config = LoadConfig(**json.loads(config_path.read_text()))
    raise_file_limit(len(config.buyer_urls) + len(config.agent_urls) + 256)
    finish(out_path, run_generator(Load(config).run()))


def run_generator(work: Coroutine[Any, Any, T]) -> T:
    """A load generator's loop: few GC pauses, uvloop when installed (the same code on asyncio's own)."""
    gc.set_threshold(20_000, 20, 20)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    return cast(T, runner(work))


def finish(out_path: Path, result: Any) -> None:
    """Writes the result for the parent and exits 1 when the run itself failed."""
    out_path.write_text(json.dumps(asdict(result)))
    sys.exit(1 if result.error else 0)


if __name__ == "__main__":
    main()
