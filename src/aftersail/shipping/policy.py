"""The tenant's tracking rules (`tenant.settings["tracking"]`), read and written in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import InvalidInput
from aftersail.shipping.rules import (
    DEFAULT_PRIORITIES,
    ClaimOutcome,
    ExceptionKind,
    LaneLimits,
    TrackingRules,
)
from aftersail.tenants import service as tenants

PRIORITIES = ("p1", "p2", "p3", "p4")


def _positive(raw: Mapping[str, Any], name: str, default: float) -> float:
    value = raw.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name}: a number of days, got {value!r}.", field=name) from exc
    if not 0 < number <= 365:
        raise InvalidInput(f"{name}: between 0 and 365 days, got {value!r}.", field=name)
    return number


def _lane(raw: Mapping[str, Any], key: str) -> LaneLimits:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"lanes.{key}: an object of day limits.", field="lanes")
    limits = {}
    for name in ("stalled_days", "customs_hold_days", "eta_slip_days"):
        if raw.get(name) is not None:
            limits[name] = _positive(raw, name, 1)
    return LaneLimits(**limits)


def rules_from_settings(settings: Mapping[str, Any] | None) -> TrackingRules:
    """The rules as stored, checked: a bad value is an `InvalidInput` naming its field."""
    raw = dict((settings or {}).get("tracking") or {})
    default = TrackingRules()
    try:
        outcome = ClaimOutcome(raw.get("claim_outcome", default.claim_outcome.value))
    except ValueError as exc:
        raise InvalidInput("claim_outcome: `reship` or `refund`.", field="claim_outcome") from exc
    priorities = dict(DEFAULT_PRIORITIES)
    for kind, priority in dict(raw.get("priorities") or {}).items():
        try:
            priorities[ExceptionKind(kind)] = priority
        except ValueError as exc:
            raise InvalidInput(f"priorities: unknown exception {kind!r}.", field="priorities") from exc
        if priority not in PRIORITIES:
            raise InvalidInput(f"priorities.{kind}: one of {', '.join(PRIORITIES)}.", field="priorities")
    failed = raw.get("failed_attempts", default.failed_attempts)
    if not isinstance(failed, int) or not 1 <= failed <= 10:
        raise InvalidInput("failed_attempts: a whole number from 1 to 10.", field="failed_attempts")
    auto = raw.get("claim_auto_up_to_minor", default.claim_auto_up_to_minor)
    if not isinstance(auto, int) or auto < 0:
        raise InvalidInput(
            "claim_auto_up_to_minor: an amount in minor units, 0 or more.", field="claim_auto_up_to_minor"
        )
    return TrackingRules(
        stalled_days=_positive(raw, "stalled_days", default.stalled_days),
        customs_hold_days=_positive(raw, "customs_hold_days", default.customs_hold_days),
        failed_attempts=failed,
        eta_slip_days=_positive(raw, "eta_slip_days", default.eta_slip_days),
        claim_wait_days=_positive(raw, "claim_wait_days", default.claim_wait_days),
        claim_outcome=outcome,
        claim_auto_up_to_minor=auto,
        priorities=priorities,
        lanes={
            str(key).upper(): _lane(value, str(key)) for key, value in dict(raw.get("lanes") or {}).items()
        },
        notify_webhook_url=_url(raw.get("notify_webhook_url")),
        notify_webhook_secret=str(raw.get("notify_webhook_secret") or "")[:200],
    )


def _url(value: Any) -> str:
    url = str(value or "").strip()
    if url and not (url.startswith(("https://", "http://")) and len(url) <= 500):
        raise InvalidInput(
            "notify_webhook_url: an http(s) address of at most 500 characters.", field="notify_webhook_url"
        )
    return url


def rules_as_settings(rules: TrackingRules) -> dict[str, Any]:
    return {
        "stalled_days": rules.stalled_days,
        "customs_hold_days": rules.customs_hold_days,
        "failed_attempts": rules.failed_attempts,
        "eta_slip_days": rules.eta_slip_days,
        "claim_wait_days": rules.claim_wait_days,
        "claim_outcome": rules.claim_outcome.value,
        "claim_auto_up_to_minor": rules.claim_auto_up_to_minor,
        "priorities": {kind.value: priority for kind, priority in sorted(rules.priorities.items())},
        "lanes": {
            key: {name: value for name, value in _limits(limits).items() if value is not None}
            for key, limits in sorted(rules.lanes.items())
        },
        "notify_webhook_url": rules.notify_webhook_url,
        "notify_webhook_secret": rules.notify_webhook_secret,
    }


def _limits(limits: LaneLimits) -> dict[str, float | None]:
    return {
        "stalled_days": limits.stalled_days,
        "customs_hold_days": limits.customs_hold_days,
        "eta_slip_days": limits.eta_slip_days,
    }


async def tracking_rules(session: AsyncSession, tenant_id: int) -> TrackingRules:
    return rules_from_settings((await tenants.access_tenant(session, tenant_id)).settings)


async def do_set_tracking_rules(
    session: AsyncSession, tenant_id: int, raw: Mapping[str, Any]
) -> TrackingRules:
    """Check `raw` as a whole and store it (a new dict: the JSON column sees the change)."""
    rules = rules_from_settings({"tracking": raw})
    tenant = await tenants.access_tenant(session, tenant_id)
    tenant.settings = {**(tenant.settings or {}), "tracking": rules_as_settings(rules)}
    await session.flush()
    return rules
