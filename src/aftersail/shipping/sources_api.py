"""The tenant's tracking sources (the secrets webhook senders sign with, the carriers AfterSail polls) and
the dead letters of payloads that could not be read, for admins: inspect them and replay them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr

from aftersail.kit.http import error_body
from aftersail.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aftersail.kit.validation import Out, Paged, PathId, Strict
from aftersail.shipping import dead_letters, polling
from aftersail.shipping.models import DeadLetter
from aftersail.shipping.sources import (
    MAX_POLLED_CARRIERS,
    MAX_SECRET,
    UNCHANGED,
    TrackingSources,
    do_set_tracking_sources,
    formats,
    tracking_sources,
)
from aftersail.shipping.webhooks import IngestedOut
from aftersail.tenants import service as tenants
from aftersail.web.deps import ServicesDep, SessionDep, TenantAdmin

router = APIRouter(tags=["tracking"])
PREVIEW = 2000


class SourceOut(Out):
    secret_set: bool
    secret_hint: str | None = Field(description="The secret's last four characters; never the secret")
    webhook_path: str
    signature_header: str


class TrackingSourcesOut(Out):
    aftership: SourceOut
    seventeen_track: SourceOut
    generic: SourceOut
    polled_carriers: list[str]
    poll_after_hours: float
    polling_available: bool = Field(
        description="Whether this server has a pull API set (AFTERSAIL_TRACKING_POLL_*)"
    )


class TrackingSourcesIn(Strict):
    """Secrets: left out (or null) keeps the current one, "" removes it. `polled_carriers` replaces the
    list when given."""

    aftership_secret: SecretStr | None = Field(default=None, max_length=MAX_SECRET)
    seventeen_track_key: SecretStr | None = Field(default=None, max_length=MAX_SECRET)
    generic_secret: SecretStr | None = Field(default=None, max_length=MAX_SECRET)
    polled_carriers: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=MAX_POLLED_CARRIERS
    )
    poll_after_hours: float | None = Field(default=None, ge=1, le=24 * 14)


def _source(slug: str, segment: str, secret: str | None) -> SourceOut:
    fmt = formats()[segment]
    return SourceOut(
        secret_set=bool(secret),
        secret_hint="…" + secret[-4:] if secret and len(secret) >= 12 else None,
        webhook_path=f"/webhooks/tracking/{slug}/{segment}",
        signature_header=fmt.signature_header,
    )


def _out(slug: str, sources: TrackingSources, polling_available: bool) -> TrackingSourcesOut:
    return TrackingSourcesOut(
        aftership=_source(slug, "aftership", sources.aftership_secret),
        seventeen_track=_source(slug, "17track", sources.seventeen_track_key),
        generic=_source(slug, "generic", sources.generic_secret),
        polled_carriers=list(sources.polled_carriers),
        poll_after_hours=sources.poll_after_hours,
        polling_available=polling_available,
    )


@router.get("/settings/tracking-sources", response_model=TrackingSourcesOut)
async def get_tracking_sources(
    session: SessionDep, principal: TenantAdmin, services: ServicesDep
) -> TrackingSourcesOut:
    """Which webhook sources are set up (never their secrets), where to point them, and what is polled."""
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return _out(tenant.slug, tracking_sources(tenant), polling.polling_configured(services.settings))


@router.put("/settings/tracking-sources", response_model=TrackingSourcesOut)
async def set_tracking_sources(
    body: TrackingSourcesIn, session: SessionDep, principal: TenantAdmin, services: ServicesDep
) -> TrackingSourcesOut:
    """Set the secrets webhook senders sign with (AfterShip's webhook secret, 17TRACK's security key, the
    secret of AfterSail's own format) and the carriers without webhooks that AfterSail polls when their
    parcels have been silent for `poll_after_hours`. Secrets are not shown again."""

    def secret(value: SecretStr | None) -> Any:
        return UNCHANGED if value is None else value.get_secret_value()

    sources = await do_set_tracking_sources(
        session,
        principal.tenant_id,
        aftership_secret=secret(body.aftership_secret),
        seventeen_track_key=secret(body.seventeen_track_key),
        generic_secret=secret(body.generic_secret),
        polled_carriers=UNCHANGED if body.polled_carriers is None else body.polled_carriers,
        poll_after_hours=UNCHANGED if body.poll_after_hours is None else body.poll_after_hours,
    )
    available = polling.polling_configured(services.settings)
    if available and sources.polled_carriers:
        await polling.schedule_poll(session, principal.tenant_id, sources)
    tenant = await tenants.access_tenant(session, principal.tenant_id)
    return _out(tenant.slug, sources, available)


# --- dead letters ------------------------------------------------------------------------------------------


class DeadLetterOut(Out):
    id: int
    source: str
    error: str
    received_at: datetime
    replayed_at: datetime | None
    replay_result: str
    headers: dict[str, Any]
    body_bytes: int
    body: str = Field(description="The body as received (cut at 2,000 characters in lists)")


def _letter(letter: DeadLetter, *, whole: bool) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        source=letter.source,
        error=letter.error,
        received_at=letter.received_at,
        replayed_at=letter.replayed_at,
        replay_result=letter.replay_result,
        headers=dict(letter.headers or {}),
        body_bytes=len(letter.body.encode()),
        body=letter.body if whole else letter.body[:PREVIEW],
    )


@router.get("/tracking/dead-letters", response_model=Paged[DeadLetterOut])
async def list_dead_letters(
    session: SessionDep,
    principal: TenantAdmin,
    source: Annotated[str | None, Query(max_length=16)] = None,
    pending: Annotated[bool | None, Query(description="true: not yet ingested by a replay")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Paged[DeadLetterOut]:
    """Tracking payloads that could not be read, newest first, with why."""
    page = await dead_letters.list_dead_letters(
        session, principal.tenant_id, source=source, pending=pending, cursor=cursor, limit=limit
    )
    return Paged(items=[_letter(letter, whole=False) for letter in page.items], next_cursor=page.next_cursor)


@router.get("/tracking/dead-letters/{dead_letter_id}", response_model=DeadLetterOut)
async def get_dead_letter(
    dead_letter_id: PathId, session: SessionDep, principal: TenantAdmin
) -> DeadLetterOut:
    """One dead letter with its whole body."""
    return _letter(
        await dead_letters.access_dead_letter(session, principal.tenant_id, dead_letter_id), whole=True
    )


class ReplayOut(Out):
    dead_letter: DeadLetterOut
    ingested: IngestedOut


@router.post(
    "/tracking/dead-letters/{dead_letter_id}/replay",
    response_model=ReplayOut,
    responses={422: {"description": "Still unreadable: `replay_result` records why"}},
)
async def replay_dead_letter(
    dead_letter_id: PathId, session: SessionDep, principal: TenantAdmin
) -> ReplayOut | JSONResponse:
    """Read the stored payload again with today's parser and ingest its events (as a new delivery would:
    events already stored count as duplicates). Still unreadable: 422, and the attempt is recorded."""
    replayed = await dead_letters.do_replay(session, principal.tenant_id, dead_letter_id)
    if replayed.ingested is None:
        error = replayed.error
        message = error.message if error else replayed.letter.replay_result
        return JSONResponse(
            error_body("unreadable_payload", message, dead_letter_id=replayed.letter.id), status_code=422
        )
    ingested = replayed.ingested
    return ReplayOut(
        dead_letter=_letter(replayed.letter, whole=False),
        ingested=IngestedOut(
            applied=ingested.applied, duplicates=ingested.duplicates, parked=ingested.parked
        ),
    )
