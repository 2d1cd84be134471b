"""Carriers without webhooks: AfterSail asks for their parcels' events instead of waiting for them. A
`TrackingPoller` fetches normalized events for tracking numbers; `SeventeenTrackPoller` speaks 17TRACK's
pull API (`POST {base}/track/v2.2/gettrackinfo`, header `17token`, body `[{"number": …}]`, answer
`data.accepted[].track_info`) with the same parser as its webhook. `do_poll` asks for a tenant's parcels
that are not final, whose carrier the tenant polls and that have been silent for `poll_after_hours`; the
`shipping.poll` job (`poll_tasks.py`) runs it every `poll_after_hours` per tenant."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from pydantic import SecretStr
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.config import Settings
from aftersail.kit.errors import ServiceUnavailable
from aftersail.kit.outbox import schedule_job
from aftersail.shipping import dead_letters, service
from aftersail.shipping.models import Shipment
from aftersail.shipping.normalized import TrackingUpdate
from aftersail.shipping.rules import FINAL
from aftersail.shipping.sources import TrackingSources, UnreadablePayload, seventeen_track, tracking_sources
from aftersail.tenants import service as tenants

log = logging.getLogger(__name__)

POLL_TOPIC = "shipping.poll"
MAX_PER_RUN = 400  # parcels asked about per tenant and run (the most silent first)
GETTRACKINFO_PATH = "/track/v2.2/gettrackinfo"


class TrackingPoller(Protocol):
    """Fetches the events a tracking service knows for `numbers` (at most `batch_size` at once). Raises
    `UnreadablePayload` (with the answer in `body`) when an answer cannot be read, `ServiceUnavailable` when
    the service cannot be reached or refuses the key."""

    name: str
    batch_size: int

    async def fetch(self, numbers: Sequence[str]) -> list[TrackingUpdate]: ...


class SeventeenTrackPoller:
    """17TRACK's `gettrackinfo` (numbers must be registered with 17TRACK; unregistered ones come back in
    `data.rejected` and simply have no events)."""

    name = "17track"
    batch_size = 40  # 17TRACK's limit per request

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout_seconds: float = 20.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not api_key.get_secret_value():
            raise ValueError("the 17TRACK poller needs an API key (AFTERSAIL_TRACKING_POLL_API_KEY)")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))

    def __repr__(self) -> str:
        return f"SeventeenTrackPoller(base_url={self.base_url!r})"

    async def fetch(self, numbers: Sequence[str]) -> list[TrackingUpdate]:
        if len(numbers) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} numbers per request, got {len(numbers)}")
        if not numbers:
            return []
        try:
            response = await self._client.post(
                self.base_url + GETTRACKINFO_PATH,
                json=[{"number": number} for number in numbers],
                headers={"17token": self._api_key.get_secret_value(), "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"17TRACK is unreachable: {exc!r}", provider=self.name) from exc
        if response.status_code == 401:
            raise ServiceUnavailable("17TRACK refused the API key (401)", provider=self.name)
        if response.status_code != 200:
            raise ServiceUnavailable(f"17TRACK answered {response.status_code}", provider=self.name)
        try:
            return seventeen_track.parse_answer(response.content)
        except UnreadablePayload as exc:
            exc.body = response.text
            raise

    async def aclose(self) -> None:
        await self._client.aclose()


def polling_configured(settings: Settings) -> bool:
    return bool(settings.tracking_poll_base_url and settings.tracking_poll_api_key)


def poller_from_settings(settings: Settings) -> TrackingPoller | None:
    if not polling_configured(settings):
        return None
    assert settings.tracking_poll_api_key is not None
    return SeventeenTrackPoller(settings.tracking_poll_base_url, settings.tracking_poll_api_key)


@dataclass(slots=True)
class Polled:
    asked: int = 0
    ingested: service.Ingested = field(default_factory=service.Ingested)
    dead_letters: list[int] = field(default_factory=list)  # answers that could not be read


async def silent_parcels(
    session: AsyncSession, tenant_id: int, sources: TrackingSources, now: datetime
) -> list[str]:
    """Tracking numbers of the tenant's parcels that are not final, go with a polled carrier and have had no
    event for `poll_after_hours` (or none at all since they were shipped that long ago); most silent first."""
    if not sources.polled_carriers:
        return []
    silent_since = now - timedelta(hours=sources.poll_after_hours)
    last_heard = func.coalesce(Shipment.last_event_at, Shipment.shipped_at)
    rows = await session.scalars(
        select(Shipment.tracking_number)
        .where(
            Shipment.tenant_id == tenant_id,
            Shipment.status.not_in(sorted(FINAL)),
            Shipment.carrier.in_(sources.polled_carriers),
            or_(Shipment.last_event_at < silent_since, Shipment.last_event_at.is_(None)),
            Shipment.shipped_at < silent_since,
        )
        .order_by(last_heard, Shipment.id)
        .limit(MAX_PER_RUN)
    )
    return list(rows.all())


async def do_poll(session: AsyncSession, tenant_id: int, poller: TrackingPoller, now: datetime) -> Polled:
    """Ask `poller` about the tenant's silent parcels and ingest the answers, batch by batch. An answer that
    cannot be read is kept as a dead letter (replayable) and the next batch goes on; a service that cannot
    be reached raises `ServiceUnavailable` after the batches already ingested (the job retries)."""
    tenant = await tenants.access_tenant(session, tenant_id)
    numbers = await silent_parcels(session, tenant_id, tracking_sources(tenant), now)
    polled = Polled(asked=len(numbers))
    for start in range(0, len(numbers), poller.batch_size):
        batch = numbers[start : start + poller.batch_size]
        try:
            updates = await poller.fetch(batch)
        except UnreadablePayload as exc:
            letter = await dead_letters.do_store(
                session,
                tenant_id,
                source=seventeen_track.POLL_SOURCE,
                body=exc.body or "",
                error=exc.message,
                headers={"x-polled-numbers": ",".join(batch)[:500]},
                now=now,
            )
            polled.dead_letters.append(letter.id)
            continue
        polled.ingested.add(await service.do_ingest(session, tenant_id, updates, now=now))
    return polled


def next_poll_at(sources: TrackingSources, now: datetime) -> datetime:
    """The next run on the tenant's grid of `poll_after_hours` (so that any number of schedulers agree on it
    and the dedupe key makes one job of them)."""
    every = max(sources.poll_after_hours, 1.0) * 3600
    slot = math.floor(now.timestamp() / every) + 1
    return datetime.fromtimestamp(slot * every, tz=UTC)


def poll_job_key(tenant_id: int, due_at: datetime) -> str:
    return f"shipping.poll:{tenant_id}:{due_at.astimezone(UTC).isoformat()}"


async def schedule_poll(
    session: AsyncSession, tenant_id: int, sources: TrackingSources, *, now: datetime | None = None
) -> Any:
    """The tenant's next `shipping.poll` job (once, whoever asks): only while it polls some carrier."""
    if not sources.polled_carriers:
        return None
    due_at = next_poll_at(sources, now or datetime.now(UTC))
    return await schedule_job(
        session, POLL_TOPIC, {}, due_at, tenant_id, dedupe_key=poll_job_key(tenant_id, due_at)
    )
