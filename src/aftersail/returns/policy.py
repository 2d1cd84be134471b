"""The tenant's return policy (`tenant.settings["returns"]`), read and written in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.returns.rules import Evidence, Reason, ReturnPolicy
from aftersail.tenants import service as tenants


def policy_from_settings(settings: Mapping[str, Any] | None) -> ReturnPolicy:
    raw = dict((settings or {}).get("returns") or {})
    default = ReturnPolicy()
    return ReturnPolicy(
        window_days=int(raw.get("window_days", default.window_days)),
        market_days={str(k).upper(): int(v) for k, v in dict(raw.get("market_days") or {}).items()},
        category_days={str(k): int(v) for k, v in dict(raw.get("category_days") or {}).items()},
        non_returnable=frozenset(raw.get("non_returnable", default.non_returnable)),
        evidence=(
            {Reason(k): frozenset(Evidence(e) for e in v) for k, v in dict(raw["evidence"]).items()}
            if "evidence" in raw
            else default.evidence
        ),
        auto_approve_up_to_minor=int(raw.get("auto_approve_up_to_minor", default.auto_approve_up_to_minor)),
        repeat_returner_after=int(raw.get("repeat_returner_after", default.repeat_returner_after)),
        restocking_fee_percent=int(raw.get("restocking_fee_percent", default.restocking_fee_percent)),
        insured_reverse_freight=bool(raw.get("insured_reverse_freight", default.insured_reverse_freight)),
        handling_minor=int(raw.get("handling_minor", default.handling_minor)),
        duties_lost_percent=int(raw.get("duties_lost_percent", default.duties_lost_percent)),
        offer_returnless=bool(raw.get("offer_returnless", default.offer_returnless)),
        keep_partial_percent=int(raw.get("keep_partial_percent", default.keep_partial_percent)),
        trusted_buyer_orders=int(raw.get("trusted_buyer_orders", default.trusted_buyer_orders)),
        cycle_days=int(raw.get("cycle_days", default.cycle_days)),
        warehouse_categories={
            str(k): frozenset(str(c) for c in v)
            for k, v in dict(raw.get("warehouse_categories") or {}).items()
        },
    )


def policy_as_settings(policy: ReturnPolicy) -> dict[str, Any]:
    """JSON for the settings row (and the API): sets as sorted lists, enums as their values."""
    shown: dict[str, Any] = {}
    for item in fields(policy):
        value = getattr(policy, item.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif item.name == "evidence":
            value = {reason.value: sorted(kinds) for reason, kinds in sorted(value.items())}
        elif item.name == "warehouse_categories":
            value = {code: sorted(categories) for code, categories in sorted(value.items())}
        elif isinstance(value, Mapping):
            value = dict(sorted(value.items()))
        shown[item.name] = value
    return shown


async def return_policy(session: AsyncSession, tenant_id: int) -> ReturnPolicy:
    return policy_from_settings((await tenants.access_tenant(session, tenant_id)).settings)


async def do_set_return_policy(session: AsyncSession, tenant_id: int, policy: ReturnPolicy) -> ReturnPolicy:
    tenant = await tenants.access_tenant(session, tenant_id)
    tenant.settings = {
        **(tenant.settings or {}),
        "returns": policy_as_settings(policy),
    }  # a new dict: tracked
    await session.flush()
    return policy
