"""Where carrier events come from: the providers' payloads turned into `TrackingUpdate`s (one module per
format: `aftership`, `seventeen_track`, `generic`), the helpers they share, and the tenant's settings that
check them (`tenant.settings["tracking_sources"]`: the secrets each sender signs with, the carriers polled).

A parser either returns every event of a payload or raises `UnreadablePayload` naming the first thing it
could not read (not JSON, a field missing, a status code not in AfterSail's tables). It never guesses: the
payload is then kept as a dead letter (`dead_letters.py`) and replayed once the cause is fixed.
See docs/tracking-webhooks.md."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import InvalidInput
from aftersail.shipping.normalized import TrackingUpdate
from aftersail.shipping.service import MAX_UPDATES, check_number
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant

SETTINGS_KEY = "tracking_sources"
MAX_SECRET = 200
MAX_POLLED_CARRIERS = 50
DEFAULT_POLL_AFTER_HOURS = 6.0


class UnreadablePayload(InvalidInput):
    """A payload that cannot be turned into events (HTTP 422; kept as a dead letter). `body` is set when
    the text to keep is not the request's own (an answer of a polled API)."""

    code = "unreadable_payload"

    def __init__(self, message: str, *, field: str | None = None, body: str | None = None) -> None:
        super().__init__(message, field=field)
        self.body = body


# --- reading payloads --------------------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadablePayload(f"body: not a JSON document ({exc})", field="body") from exc


def need_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnreadablePayload(f"{where}: an object is required, got {_kind(value)}", field=where)
    return value


def need_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnreadablePayload(f"{where}: a list is required, got {_kind(value)}", field=where)
    return value


def need_text(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise UnreadablePayload(f"{where}: a non-empty string is required, got {_kind(value)}", field=where)
    return value.strip()


def optional_text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UnreadablePayload(f"{where}: a string is required, got {_kind(value)}", field=where)
    return " ".join(value.split())


def tracking_number(value: Any, where: str) -> str:
    """The number as the sender wrote it, after the same check `do_ingest` makes (so that a bad number is
    a dead letter of the payload, not a failed request)."""
    number = need_text(value, where)
    try:
        check_number(number)
    except InvalidInput as exc:
        raise UnreadablePayload(f"{where}: {exc.message}", field=where) from exc
    return number


def parse_time(value: Any, where: str, *, naive_is_utc: bool) -> datetime:
    """An ISO 8601 date and time, as UTC. A time without an offset is refused unless `naive_is_utc` (the
    provider documents local times without a zone: they are read as UTC, the raw string stays in `raw`)."""
    text = need_text(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UnreadablePayload(
            f"{where}: {text[:40]!r} is not an ISO 8601 date and time", field=where
        ) from exc
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise UnreadablePayload(
                f"{where}: {text[:40]!r} has no UTC offset (write it like 2025-03-01T14:05:00+01:00)",
                field=where,
            )
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_count(updates: Sequence[TrackingUpdate]) -> list[TrackingUpdate]:
    if len(updates) > MAX_UPDATES:
        raise UnreadablePayload(
            f"events: at most {MAX_UPDATES} events per delivery, got {len(updates)}", field="events"
        )
    return list(updates)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# --- the formats -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Format:
    """One way in: the header its signature travels in, how it is checked, how the body is read."""

    name: str  # the source name stored with each event and dead letter
    label: str
    signature_header: str
    secret_of: Callable[[TrackingSources], str | None]
    check_signature: Callable[[str, bytes, str | None], None]
    parse: Callable[[bytes], list[TrackingUpdate]]
    settings_field: str  # where the secret is set (PUT /api/v1/settings/tracking-sources)


def formats() -> Mapping[str, Format]:
    """The webhook formats by URL segment (`/webhooks/tracking/{slug}/{segment}`) and the polled answers
    by source name (dead letters replay through these)."""
    from aftersail.shipping.sources import aftership, generic, seventeen_track

    return {
        "aftership": aftership.FORMAT,
        "17track": seventeen_track.FORMAT,
        "generic": generic.FORMAT,
        seventeen_track.POLL_SOURCE: seventeen_track.POLL_FORMAT,
    }


# --- the tenant's settings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackingSources:
    """`tenant.settings["tracking_sources"]`. Secrets are kept as they are (an HMAC needs them) and never
    shown again once set."""

    aftership_secret: str | None = None
    seventeen_track_key: str | None = None
    generic_secret: str | None = None
    polled_carriers: tuple[str, ...] = field(default_factory=tuple)
    poll_after_hours: float = DEFAULT_POLL_AFTER_HOURS

    def as_settings(self) -> dict[str, Any]:
        return {
            "aftership_secret": self.aftership_secret,
            "seventeen_track_key": self.seventeen_track_key,
            "generic_secret": self.generic_secret,
            "polled_carriers": list(self.polled_carriers),
            "poll_after_hours": self.poll_after_hours,
        }


def _secret(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) and value else None


def tracking_sources(tenant: Tenant) -> TrackingSources:
    section = (tenant.settings or {}).get(SETTINGS_KEY)
    if not isinstance(section, dict):
        return TrackingSources()
    carriers = section.get("polled_carriers")
    hours = section.get("poll_after_hours")
    return TrackingSources(
        aftership_secret=_secret(section, "aftership_secret"),
        seventeen_track_key=_secret(section, "seventeen_track_key"),
        generic_secret=_secret(section, "generic_secret"),
        polled_carriers=tuple(c for c in carriers if isinstance(c, str))
        if isinstance(carriers, list)
        else (),
        poll_after_hours=float(hours)
        if isinstance(hours, int | float) and hours > 0
        else DEFAULT_POLL_AFTER_HOURS,
    )


UNCHANGED: Any = object()


def normalize_carrier(carrier: str) -> str:
    """Carriers compare as `do_record_shipment` stores them: trimmed, lower case."""
    return carrier.strip().lower()[:64]


async def do_set_tracking_sources(
    session: AsyncSession,
    tenant_id: int,
    *,
    aftership_secret: str | None = UNCHANGED,
    seventeen_track_key: str | None = UNCHANGED,
    generic_secret: str | None = UNCHANGED,
    polled_carriers: Sequence[str] | None = UNCHANGED,
    poll_after_hours: float | None = UNCHANGED,
) -> TrackingSources:
    """Change what is given: a secret set to "" (or None) is removed, one left out is kept as it is."""
    tenant = await tenants.access_tenant(session, tenant_id)
    current = tracking_sources(tenant)
    changes: dict[str, Any] = {}
    for name, value in (
        ("aftership_secret", aftership_secret),
        ("seventeen_track_key", seventeen_track_key),
        ("generic_secret", generic_secret),
    ):
        if value is not UNCHANGED:
            if value and len(value) > MAX_SECRET:
                raise InvalidInput(f"{name}: at most {MAX_SECRET} characters", field=name)
            changes[name] = value or None
    if polled_carriers is not UNCHANGED:
        carriers = sorted({normalize_carrier(c) for c in polled_carriers or () if c.strip()})
        if len(carriers) > MAX_POLLED_CARRIERS:
            raise InvalidInput(
                f"polled_carriers: at most {MAX_POLLED_CARRIERS} carriers", field="polled_carriers"
            )
        changes["polled_carriers"] = tuple(carriers)
    if poll_after_hours is not UNCHANGED:
        changes["poll_after_hours"] = poll_after_hours or DEFAULT_POLL_AFTER_HOURS
    updated = replace(current, **changes)
    tenant.settings = {**(tenant.settings or {}), SETTINGS_KEY: updated.as_settings()}  # a new dict
    await session.flush()
    return updated
