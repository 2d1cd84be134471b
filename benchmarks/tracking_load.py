"""The tracking benchmark's deliveries and the client that sends them.

`build_corpus` writes every request before the run: each parcel's carrier story (label, hubs, out for
delivery, delivered; some still on their way), most of it pushed in carriers' bulk deliveries of 20–50 events
for different parcels (AfterSail's generic JSON, signed with `X-AfterSail-Signature`), the rest as AfterShip
`tracking_update` pushes of one parcel with every checkpoint so far (`aftership-hmac-sha256`). Requests are
shuffled, so a parcel's events arrive out of order, and a share of them is delivered twice, byte for byte,
later on (a sender retrying).

`send` is a small HTTP/1.1 keep-alive client on asyncio streams (requests pre-encoded, so the generator's
own CPU stays small next to the server's): `connections` closed-loop connections take the next request
until the corpus or the time runs out, and record per request its latency, status and the counts the
server answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aftersail.shipping.sources import aftership
from benchmarks.tracking_seed import TrackingWorld, number

BERLIN = ZoneInfo("Europe/Berlin")
# A parcel's scans: (status, AfterShip tag, subtag, the carrier's words, where).
STORY = (
    (
        "info_received",
        "InfoReceived",
        "InfoReceived_001",
        "Die Auftragsdaten wurden elektronisch übermittelt.",
        "Raunheim",
    ),
    ("in_transit", "InTransit", "InTransit_002", "Die Sendung wurde abgeholt.", "Raunheim"),
    (
        "in_transit",
        "InTransit",
        "InTransit_007",
        "Die Sendung wurde im Start-Paketzentrum bearbeitet.",
        "Obertshausen",
    ),
    (
        "in_transit",
        "InTransit",
        "InTransit_007",
        "Die Sendung wurde im Ziel-Paketzentrum bearbeitet.",
        "Hamburg",
    ),
    (
        "out_for_delivery",
        "OutForDelivery",
        "OutForDelivery_001",
        "Die Sendung wurde in das Zustellfahrzeug geladen.",
        "Hamburg",
    ),
    ("delivered", "Delivered", "Delivered_001", "Die Sendung wurde erfolgreich zugestellt.", "Hamburg"),
)
MAX_EVENTS = len(STORY)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request, ready to write, and the events it carries (`parcel * MAX_EVENTS + step`)."""

    kind: str  # "generic" | "aftership"
    payload: bytes
    events: tuple[int, ...]
    duplicate: bool = False


@dataclass
class Corpus:
    deliveries: list[Delivery]
    events: int  # distinct events in the corpus
    parcels: int
    aftership_parcels: int


@dataclass
class Sent:
    """What the client saw: per delivery index its status, latency and the server's counts."""

    started: float = 0.0
    finished: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    # (completed at, index, status, applied, duplicates, parked) per answered request
    answers: list[tuple[float, int, int, int, int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_s: float = 0.0


def _steps(rng: random.Random) -> int:
    """How far a parcel got: most are delivered, some still on their way."""
    return MAX_EVENTS if rng.random() < 0.7 else rng.randint(2, MAX_EVENTS - 1)


def _times(rng: random.Random, shipped: datetime, steps: int) -> list[datetime]:
    at, times = shipped + timedelta(minutes=rng.uniform(5, 50)), []
    for _ in range(steps):
        times.append(at.replace(microsecond=0))
        at += timedelta(minutes=rng.uniform(60, 220))
    return times


def _request(path: str, host: str, body: bytes, header: str, signature: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{header}: {signature}\r\n\r\n"
    )
    return head.encode() + body


def build_corpus(
    world: TrackingWorld,
    *,
    host: str,
    shipped: datetime,
    seed: int,
    batch: tuple[int, int] = (20, 50),
    aftership_share: float = 0.05,
    duplicate_share: float = 0.15,
) -> Corpus:
    rng = random.Random(seed)
    generic_path = f"/webhooks/tracking/{world.slug}/generic"
    aftership_path = f"/webhooks/tracking/{world.slug}/aftership"
    loose: list[tuple[int, dict[str, object]]] = []  # generic events, before they are batched
    deliveries: list[Delivery] = []
    aftership_parcels = events = 0
    for parcel in range(world.parcels):
        steps = _steps(rng)
        times = _times(rng, shipped, steps)
        events += steps
        tracking = number(parcel)
        if rng.random() < aftership_share:
            aftership_parcels += 1
            checkpoints = []
            for step, at in enumerate(times):
                status, tag, subtag, message, city = STORY[step]
                checkpoints.append(
                    {
                        "slug": "dhl-germany",
                        "checkpoint_time": at.astimezone(BERLIN).isoformat(),
                        "tag": tag,
                        "subtag": subtag,
                        "message": message,
                        "location": f"{city}, DE",
                        "city": city,
                        "country_region": "DEU",
                    }
                )
                body = json.dumps(
                    {
                        "event": "tracking_update",
                        "event_id": f"{tracking}-{step}",
                        "is_tracking_first_tag": step == 0,
                        "msg": {
                            "tracking_number": tracking,
                            "slug": "dhl-germany",
                            "tag": tag,
                            "subtag": subtag,
                            "checkpoints": list(checkpoints),
                        },
                        "ts": int(at.timestamp()),
                    },
                    ensure_ascii=False,
                ).encode()
                deliveries.append(
                    Delivery(
                        "aftership",
                        _request(
                            aftership_path,
                            host,
                            body,
                            aftership.SIGNATURE_HEADER,
                            aftership.sign(world.aftership_secret, body),
                        ),
                        tuple(parcel * MAX_EVENTS + k for k in range(step + 1)),
                    )
                )
            continue
        for step, at in enumerate(times):
            status, _, _, message, city = STORY[step]
            loose.append(
                (
                    parcel * MAX_EVENTS + step,
                    {
                        "tracking_number": tracking,
                        "carrier": "dhl-germany",
                        "occurred_at": at.astimezone(BERLIN).isoformat(),
                        "status": status,
                        "description": message,
                        "location": f"{city}, DE",
                        "raw": {
                            "timestamp": at.astimezone(BERLIN).isoformat(),
                            "status": message,
                            "code": step,
                        },
                    },
                )
            )
    rng.shuffle(loose)
    start = 0
    while start < len(loose):
        size = rng.randint(*batch)
        chunk = loose[start : start + size]
        start += size
        body = json.dumps({"events": [event for _, event in chunk]}, ensure_ascii=False).encode()
        signature = "sha256=" + hmac.new(world.generic_secret.encode(), body, hashlib.sha256).hexdigest()
        deliveries.append(
            Delivery(
                "generic",
                _request(generic_path, host, body, "X-AfterSail-Signature", signature),
                tuple(key for key, _ in chunk),
            )
        )
    rng.shuffle(deliveries)
    # Retries: an exact copy of some deliveries, a little later (the sender did not see the first answer).
    for index in sorted(
        rng.sample(range(len(deliveries)), int(len(deliveries) * duplicate_share)), reverse=True
    ):
        original = deliveries[index]
        later = min(len(deliveries), index + rng.randint(1, 400))
        deliveries.insert(later, Delivery(original.kind, original.payload, original.events, duplicate=True))
    return Corpus(deliveries, events, world.parcels, aftership_parcels)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def send(corpus: Corpus, *, host: str, port: int, connections: int, seconds: float) -> Sent:
    """Send the corpus in order over `connections` keep-alive connections until it is sent or `seconds`
    have passed (requests already on the wire are answered)."""
    sent = Sent()
    position = 0
    deadline = 0.0

    async def connection() -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while position < len(corpus.deliveries) and time.monotonic() < deadline:
                index = position
                position += 1
                began = time.monotonic()
                writer.write(corpus.deliveries[index].payload)
                try:
                    status, body = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    sent.errors.append(f"request {index}: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                done = time.monotonic()
                sent.statuses[status] += 1
                sent.latencies_us.append(int((done - began) * 1e6))
                counts = {"applied": 0, "duplicates": 0, "parked": 0}
                if status == 202:
                    counts |= json.loads(body)
                elif len(sent.errors) < 20:
                    sent.errors.append(f"request {index}: {status} {body[:300]!r}")
                sent.answers.append(
                    (done, index, status, counts["applied"], counts["duplicates"], counts["parked"])
                )
        finally:
            writer.close()

    cpu = time.process_time()
    sent.started = time.monotonic()
    deadline = sent.started + seconds
    await asyncio.gather(*(connection() for _ in range(connections)))
    sent.finished = time.monotonic()
    sent.cpu_s = time.process_time() - cpu
    return sent
