"""The `shipping.poll` job: every `poll_after_hours` per tenant, ask the pull API about the tenant's silent
parcels of polled carriers (`polling.do_poll`), then schedule the next run. Active only in processes with
`AFTERSAIL_TRACKING_POLL_BASE_URL` and `…_API_KEY` set; the first run is scheduled when an admin sets polled
carriers (PUT /api/v1/settings/tracking-sources). Imported by `shipping.tasks` so that workers load it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Handler, Publisher
from aftersail.kit.realtime import RealtimeBus
from aftersail.shipping.polling import (
    POLL_TOPIC,
    TrackingPoller,
    do_poll,
    poller_from_settings,
    schedule_poll,
)
from aftersail.shipping.sources import tracking_sources
from aftersail.tenants import service as tenants

log = logging.getLogger(__name__)


def poll_handler(poller: TrackingPoller) -> Handler:
    async def poll(session: AsyncSession, delivery: Delivery) -> None:
        if delivery.tenant_id is None:
            return
        now = utcnow()
        polled = await do_poll(session, delivery.tenant_id, poller, now)
        log.info(
            "polled %d parcels of tenant %d: %d new events, %d unreadable answers",
            polled.asked,
            delivery.tenant_id,
            polled.ingested.applied,
            len(polled.dead_letters),
        )
        tenant = await tenants.access_tenant(session, delivery.tenant_id)
        await schedule_poll(session, delivery.tenant_id, tracking_sources(tenant), now=now)

    return Handler(name="shipping.poll", topics=(POLL_TOPIC,), fn=poll)


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    poller = poller_from_settings(settings)
    return [poll_handler(poller)] if poller is not None else []
