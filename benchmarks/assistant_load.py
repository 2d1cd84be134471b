"""The assistant benchmark's load generator, one asyncio process: `python -m benchmarks.assistant_load CONFIG
OUT`.

Each buyer socket holds a conversation: it sends a message, waits for the assistant's answer (the first
`{"type":"message", "author_kind":"assistant"}` frame on its socket), thinks, and sends the next, as a
person in a chat does: reads the answer and types a line, `think_s` on average (each pause drawn evenly
from ±`think_jitter` of it, from a generator seeded per buyer, so runs repeat); the starts are spread
evenly over the first think period. A message's reply latency
runs from the moment its frame is handed to the socket to that answer; the time to the server's `ack`
(stored) is counted too. A message with no answer within `reply_timeout_s` is unanswered and the buyer
goes on; an answer that comes when the buyer waits for none (late, or a second one) is counted apart.
Agent consoles, if any, are connected and read (their frames counted), as agents watching the inbox.

Progress goes to stdout, one word a line, so that the parent can read the server's CPU at the same
instants: `connected`, `measuring` (warm-up over), `sent` (no new message after this), `drained` (every
buyer answered or timed out), `closed`. The figures go to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.chat_load import finish, now_us, progress, raise_file_limit, run_generator

ANSWER = '"author_kind":"assistant"'


@dataclass
class ConversationConfig:
    buyer_urls: list[str]
    agent_urls: list[str]
    turns: list[list[str]]  # each buyer's lines, sent in turn (and again from the first)
    think_s: float = 1.0  # from an answer to the buyer's next message, on average
    think_jitter: float = 0.0  # each pause drawn evenly from think_s × (1 ± this)
    warmup_s: float = 3.0
    seconds: float = 30.0
    reply_timeout_s: float = 20.0
    deflate: bool = True
    connect_concurrency: int = 50
    connect_timeout_s: float = 120.0


@dataclass
class ConversationResult:
    loop: str = ""
    buyers: int = 0
    agents: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # measured: sent in the measured window
    answered: int = 0
    unanswered: int = 0  # no answer within the timeout
    late_acks: int = 0  # acks of messages their buyer had given up on (stored after the timeout)
    send_failed: int = 0
    stray_answers: int = 0  # an answer while the buyer waited for none (late, or a second one)
    warmup_sent: int = 0
    console_frames: int = 0
    error_frames: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # sockets the server closed during the run
    reply_us: list[tuple[int, int]] = field(default_factory=list)  # answered messages only
    ack_us: list[tuple[int, int]] = field(default_factory=list)
    reply_by_turn_us: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # by line position
    think_lag_us: list[tuple[int, int]] = field(default_factory=list)  # how late a send was after thinking
    cpu_s: float = 0.0
    window_s: float = 0.0  # measured sending plus the drain
    drain_s: float = 0.0
    measure_start_unix: float = 0.0  # the server's wall clock: rows stored from then on are the window's
    reply_timeout_s: float = 0.0
    error: str | None = None


@dataclass
class _Buyer:
    """The message a buyer waits on: its client id, when it was sent, whether it counts, its id once the
    server acknowledged it, and its answer to come. An answer belongs to it only if the assistant wrote it
    after the message was stored (a higher message id): a late answer to an earlier message is stray."""

    index: int
    client_id: str = ""
    answer: asyncio.Future[int] | None = None
    sent_at: int = 0
    message_id: int | None = None  # from the ack
    measured: bool = False
    early: list[tuple[int, int]] = field(default_factory=list)  # (reply id, received µs) before the ack

    def start(self, client_id: str, answer: asyncio.Future[int], measured: bool) -> int:
        """A new message is on its way: what came for the previous one and was not matched is stray."""
        stray = len(self.early)
        self.client_id, self.answer, self.measured = client_id, answer, measured
        self.message_id, self.early = None, []
        self.sent_at = now_us()
        return stray


class Conversations:
    def __init__(self, config: ConversationConfig) -> None:
        self.config = config
        self.n = len(config.buyer_urls)
        self.result = ConversationResult()
        self.reply: Counter[int] = Counter()
        self.ack: Counter[int] = Counter()
        self.by_turn: dict[int, Counter[int]] = {}
        self.lag: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.closing = False
        self.measure_start = 0.0
        self.send_end = 0.0

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

    async def connect_all(self) -> tuple[list[ClientConnection], list[ClientConnection]]:
        gate = asyncio.Semaphore(self.config.connect_concurrency)
        errors: Counter[str] = Counter()

        async def one(url: str, *, buyer: bool) -> ClientConnection | None:
            async with gate:
                try:
                    return await self.open(url, await_ready=buyer, max_queue=64 if buyer else 4096)
                except Exception as error:
                    errors[f"{type(error).__name__}: {error}"[:200]] += 1
                    return None

        agents = await asyncio.gather(*(one(url, buyer=False) for url in self.config.agent_urls))
        buyers = await asyncio.gather(*(one(url, buyer=True) for url in self.config.buyer_urls))
        self.result.connect_errors = dict(errors)
        return [ws for ws in buyers if ws is not None], [ws for ws in agents if ws is not None]

    async def read_buyer(self, ws: ClientConnection, buyer: _Buyer) -> None:
        try:
            async for frame in ws:
                if not isinstance(frame, str):
                    continue
                if frame.startswith('{"type":"message"') and ANSWER in frame:
                    self.answered(buyer, int(json.loads(frame)["id"]), now_us())
                elif frame.startswith('{"type":"ack"'):
                    self.acked(buyer, json.loads(frame))
                elif frame.startswith('{"type":"error"'):
                    self.errors[str(json.loads(frame).get("code") or "error")] += 1
        except ConnectionClosed:
            pass
        self.note_closed(ws)

    def answered(self, buyer: _Buyer, reply_id: int, received: int) -> None:
        if buyer.answer is None or buyer.answer.done():
            self.result.stray_answers += 1
        elif buyer.message_id is None:
            buyer.early.append((reply_id, received))  # the ack is still on its way: decided when it comes
        elif reply_id > buyer.message_id:
            buyer.answer.set_result(received)
        else:
            self.result.stray_answers += 1

    def acked(self, buyer: _Buyer, ack: dict[str, Any]) -> None:
        if ack.get("client_id") != buyer.client_id or buyer.message_id is not None:
            self.result.late_acks += 1  # of a message the buyer gave up on
            return
        buyer.message_id = int(ack["id"])
        if buyer.measured:
            self.ack[now_us() - buyer.sent_at] += 1
        early, buyer.early = buyer.early, []
        for reply_id, received in early:
            self.answered(buyer, reply_id, received)

    async def read_agent(self, ws: ClientConnection) -> None:
        try:
            async for _frame in ws:
                self.result.console_frames += 1
        except ConnectionClosed:
            pass
        self.note_closed(ws)

    def note_closed(self, ws: ClientConnection) -> None:
        if not self.closing:
            self.dropped[f"{ws.close_code} {ws.close_reason or ''}".strip()] += 1

    async def converse(self, buyer: _Buyer, ws: ClientConnection, start: float) -> None:
        """Send, wait for the answer (or the timeout), think, again: until the measured window ends."""
        loop = asyncio.get_running_loop()
        lines = self.config.turns[buyer.index]
        pace = random.Random(buyer.index)
        jitter = self.config.think_jitter

        def think() -> float:
            return self.config.think_s * (1 + jitter * (2 * pace.random() - 1))

        due, seq = start, 0
        while True:
            delay = due - time.monotonic()
            while delay > 0:  # a coarse timer may wake a little early: sleep again
                await asyncio.sleep(delay)
                delay = due - time.monotonic()
            now = time.monotonic()
            if now >= self.send_end:
                return
            turn = seq % len(lines)
            answer: asyncio.Future[int] = loop.create_future()
            measured = now >= self.measure_start
            self.result.stray_answers += buyer.start(f"b{buyer.index}-{seq}", answer, measured)
            frame = {"type": "message", "body": lines[turn], "client_id": buyer.client_id}
            try:
                await ws.send(json.dumps(frame, ensure_ascii=False))
            except ConnectionClosed:  # closed by the server: the parent reports it
                self.result.send_failed += 1
                return
            if measured:
                self.result.sent += 1
                if seq:
                    self.lag[buyer.sent_at - round(due * 1e6)] += 1
            else:
                self.result.warmup_sent += 1
            try:
                answered_at = await asyncio.wait_for(answer, timeout=self.config.reply_timeout_s)
            except TimeoutError:  # the future is cancelled: a late answer counts as stray
                if measured:
                    self.result.unanswered += 1
                due, seq = time.monotonic() + think(), seq + 1
                continue
            if measured:
                latency = answered_at - buyer.sent_at
                self.reply[latency] += 1
                self.by_turn.setdefault(turn, Counter())[latency] += 1
                self.result.answered += 1
            due, seq = answered_at / 1e6 + think(), seq + 1

    async def run(self) -> ConversationResult:
        result = self.result
        loop = type(asyncio.get_running_loop())
        result.loop = f"{loop.__module__}.{loop.__qualname__}"
        try:
            buyer_sockets, agents = await asyncio.wait_for(self.connect_all(), self.config.connect_timeout_s)
        except TimeoutError:
            result.error = f"connecting took longer than {self.config.connect_timeout_s:.0f} s"
            return result
        result.buyers, result.agents = len(buyer_sockets), len(agents)
        if len(buyer_sockets) < self.n or len(agents) < len(self.config.agent_urls):
            result.error = (
                f"{self.n - len(buyer_sockets)} buyer and {len(self.config.agent_urls) - len(agents)} "
                "agent sockets failed to open"
            )
            await self.close(buyer_sockets + agents)
            return result
        buyers = [_Buyer(index) for index in range(self.n)]
        readers = [asyncio.create_task(self.read_agent(ws)) for ws in agents]
        readers += [
            asyncio.create_task(self.read_buyer(ws, buyer))
            for ws, buyer in zip(buyer_sockets, buyers, strict=True)
        ]
        gc.collect()
        gc.freeze()
        progress("connected")

        t0 = time.monotonic() + 0.2
        spread = self.config.think_s
        self.measure_start = t0 + max(self.config.warmup_s, spread)  # every buyer has started
        self.send_end = self.measure_start + self.config.seconds
        talkers = [
            asyncio.create_task(self.converse(buyer, ws, t0 + spread * buyer.index / self.n))
            for buyer, ws in zip(buyers, buyer_sockets, strict=True)
        ]
        await asyncio.sleep(max(0.0, self.measure_start - time.monotonic()))
        cpu_start, measure_start = time.process_time(), time.monotonic()
        result.measure_start_unix = time.time()
        progress("measuring")
        await asyncio.sleep(max(0.0, self.send_end - time.monotonic()))
        progress("sent")
        drain_start = time.monotonic()
        await asyncio.gather(*talkers)
        end = time.monotonic()
        result.cpu_s = time.process_time() - cpu_start
        result.window_s, result.drain_s = end - measure_start, end - drain_start
        progress("drained")

        result.reply_timeout_s = self.config.reply_timeout_s
        result.reply_us = sorted(self.reply.items())
        result.ack_us = sorted(self.ack.items())
        result.reply_by_turn_us = {str(turn): sorted(c.items()) for turn, c in sorted(self.by_turn.items())}
        result.think_lag_us = sorted(self.lag.items())
        result.error_frames = dict(self.errors)
        await asyncio.sleep(0.5)  # answers still on their way count as stray, not as a dropped socket
        await self.close(buyer_sockets + agents)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        # Sockets the server closed (an overloaded server misses its own keepalive pongs): their buyers'
        # messages count as unanswered; the parent reports them, the run still measured.
        result.dropped = dict(self.dropped)
        progress("closed")
        return result

    async def close(self, sockets: list[ClientConnection]) -> None:
        self.closing = True
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main() -> None:
    config_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    config = ConversationConfig(**json.loads(config_path.read_text()))
    raise_file_limit(len(config.buyer_urls) + len(config.agent_urls) + 256)
    finish(out_path, run_generator(Conversations(config).run()))


if __name__ == "__main__":
    main()
