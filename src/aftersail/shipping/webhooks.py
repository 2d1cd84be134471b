"""Tracking webhooks: carrier events pushed by AfterShip, 17TRACK or any sender of AfterSail's JSON format,
outside `/api/v1` because they carry the sender's signature instead of an API key (tenant by slug, as the
Shopify webhook). They acknowledge fast: check the signature, read the payload, store the events
(`service.do_ingest`, one transaction) and answer 202; the rules run later in the `shipping.evaluate` jobs
the ingest queued. See docs/tracking-webhooks.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aftersail.kit.errors import TooLarge, Unauthenticated
from aftersail.kit.http import error_body
from aftersail.shipping import dead_letters, service
from aftersail.shipping.sources import Format, UnreadablePayload, formats, tracking_sources
from aftersail.tenants import service as tenants
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant

router = APIRouter(prefix="/webhooks/tracking", tags=["webhooks"])
MAX_BODY_BYTES = (
    1_048_576  # also the server-wide default (AFTERSAIL_MAX_BODY_BYTES); this holds if that grows
)

Slug = Annotated[str, Path(max_length=64)]


class IngestedOut(BaseModel):
    applied: int
    duplicates: int
    parked: int


RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Unsigned, wrongly signed, or the tenant has not set this source's secret"},
    404: {"description": "No tenant with this slug"},
    413: {"description": "Body over 1 MB"},
    422: {"description": "Unreadable payload: kept as a dead letter (`dead_letter_id`), nothing ingested"},
}


async def _receive(
    fmt: Format, tenant_slug: str, request: Request, session: SessionDep, services: ServicesDep
) -> IngestedOut | JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"Request body is over the {MAX_BODY_BYTES:,}-byte limit.")
    await as_system(session, services)
    tenant = await tenants.find_tenant_by_slug(session, tenant_slug)
    await scope_to_tenant(session, services, tenant.id)
    secret = fmt.secret_of(tracking_sources(tenant))
    if not secret:
        raise Unauthenticated(
            f"{fmt.label} webhooks are not set up for this tenant: an admin sets `{fmt.settings_field}` "
            "first (PUT /api/v1/settings/tracking-sources)."
        )
    fmt.check_signature(secret, body, request.headers.get(fmt.signature_header))
    try:
        updates = fmt.parse(body)
    except UnreadablePayload as exc:
        # Answered 422 but returned, not raised: the request's transaction commits the dead letter.
        letter = await dead_letters.do_store(
            session,
            tenant.id,
            source=fmt.name,
            body=dead_letters.body_text(body),
            error=exc.message,
            headers=dead_letters.kept_headers(request.headers),
        )
        fields = [{"path": exc.field, "message": exc.message}] if exc.field else None
        return JSONResponse(
            error_body(exc.code, exc.message, fields, dead_letter_id=letter.id), status_code=422
        )
    ingested = await service.do_ingest(session, tenant.id, updates)
    return IngestedOut(applied=ingested.applied, duplicates=ingested.duplicates, parked=ingested.parked)


@router.post("/{tenant_slug}/aftership", status_code=202, response_model=IngestedOut, responses=RESPONSES)
async def aftership_webhook(
    tenant_slug: Slug, request: Request, session: SessionDep, services: ServicesDep
) -> IngestedOut | JSONResponse:
    """AfterShip Tracking webhook (`tracking_update`, `edd_revise`, `tracking_pending_time`) for the tenant
    `tenant_slug`: each checkpoint of `msg` is one event. Signed: `aftership-hmac-sha256` =
    base64(HMAC-SHA256(webhook secret, raw body)), the secret set as `aftership_secret` at
    PUT /api/v1/settings/tracking-sources.
    Answers 202 with how many events were new, repeats, or parked for numbers no parcel has yet."""
    return await _receive(formats()["aftership"], tenant_slug, request, session, services)


@router.post("/{tenant_slug}/17track", status_code=202, response_model=IngestedOut, responses=RESPONSES)
async def seventeen_track_webhook(
    tenant_slug: Slug, request: Request, session: SessionDep, services: ServicesDep
) -> IngestedOut | JSONResponse:
    """17TRACK API v2 push (`TRACKING_UPDATED`; `TRACKING_STOPPED` is acknowledged with nothing to store):
    each event of each provider of `data.track_info` is one event. Signed: `sign` = SHA-256 hex of (raw body
    + "/" + security key), the key set as `seventeen_track_key`."""
    return await _receive(formats()["17track"], tenant_slug, request, session, services)


@router.post("/{tenant_slug}/generic", status_code=202, response_model=IngestedOut, responses=RESPONSES)
async def generic_webhook(
    tenant_slug: Slug, request: Request, session: SessionDep, services: ServicesDep
) -> IngestedOut | JSONResponse:
    """AfterSail's tracking JSON: `{"events": [{"tracking_number", "carrier", "occurred_at", "status",
    "sub_status", "description", "location", "raw"}]}` (1 to 1000 events, statuses in AfterSail's taxonomy;
    docs/tracking-webhooks.md). Signed: `X-AfterSail-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`,
    the secret set as `generic_secret`."""
    return await _receive(formats()["generic"], tenant_slug, request, session, services)
