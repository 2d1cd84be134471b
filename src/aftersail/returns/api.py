"""Returns API: the tenant's return policy (`GET/PUT /settings/returns`) and a preview of how it decides a
sample request (`POST /settings/returns/preview`), with the rule that decided."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from aftersail.kit.clock import utcnow
from aftersail.returns import policy as policies
from aftersail.returns.rules import Evidence, Reason, ReturnFacts, ReturnLine, ReturnPolicy, decide_return
from aftersail.returns.schemas import (
    DecisionOut,
    ReturnPolicyIn,
    ReturnPolicyOut,
    SampleRequest,
)
from aftersail.web.deps import Reader, SessionDep, TenantAdmin

router = APIRouter(tags=["returns"])


def _policy(body: ReturnPolicyIn) -> ReturnPolicy:
    return ReturnPolicy(
        window_days=body.window_days,
        market_days=dict(body.market_days),
        category_days=dict(body.category_days),
        non_returnable=frozenset(body.non_returnable),
        evidence={Reason(k): frozenset(Evidence(e) for e in v) for k, v in body.evidence.items()},
        auto_approve_up_to_minor=body.auto_approve_up_to_minor,
        repeat_returner_after=body.repeat_returner_after,
        restocking_fee_percent=body.restocking_fee_percent,
        insured_reverse_freight=body.insured_reverse_freight,
        handling_minor=body.handling_minor,
        duties_lost_percent=body.duties_lost_percent,
        offer_returnless=body.offer_returnless,
        keep_partial_percent=body.keep_partial_percent,
        trusted_buyer_orders=body.trusted_buyer_orders,
        cycle_days=body.cycle_days,
        warehouse_categories={code: frozenset(v) for code, v in body.warehouse_categories.items()},
    )


def _out(policy: ReturnPolicy) -> ReturnPolicyOut:
    return ReturnPolicyOut(**policies.policy_as_settings(policy))


@router.get("/settings/returns", response_model=ReturnPolicyOut)
async def get_return_policy(session: SessionDep, principal: Reader) -> ReturnPolicyOut:
    return _out(await policies.return_policy(session, principal.tenant_id))


@router.put("/settings/returns", response_model=ReturnPolicyOut)
async def set_return_policy(
    body: ReturnPolicyIn, session: SessionDep, principal: TenantAdmin
) -> ReturnPolicyOut:
    """Replace the return policy (every field; omitted ones take their defaults)."""
    return _out(await policies.do_set_return_policy(session, principal.tenant_id, _policy(body)))


@router.post("/settings/returns/preview", response_model=DecisionOut)
async def preview_return_decision(body: SampleRequest, session: SessionDep, principal: Reader) -> DecisionOut:
    """How the saved policy (or `policy`, to try one before saving) decides this sample request."""
    policy = (
        _policy(body.policy) if body.policy else await policies.return_policy(session, principal.tenant_id)
    )
    now = utcnow()
    facts = ReturnFacts(
        market=body.market,
        delivered_at=None
        if body.delivered_days_ago is None
        else now - timedelta(days=body.delivered_days_ago),
        requested_at=now,
        reason=body.reason,
        resolution=body.resolution,
        lines=[
            ReturnLine(
                index,
                f"sample-{index}",
                line.category,
                line.quantity,
                line.delivered_quantity,
                line.unit_price_minor,
            )
            for index, line in enumerate(body.lines, 1)
        ],
        evidence=frozenset(body.evidence),
        returns_last_180_days=body.returns_last_180_days,
        reused_photo=body.reused_photo,
        keep_offer_accepted=body.keep_offer_accepted,
    )
    return DecisionOut.model_validate(decide_return(policy, facts))
