"""A seller sets its return policy and tries it on sample requests before buyers meet it: the decision, the
rule that made it, and the figures, as the returns service will decide."""

from __future__ import annotations

from typing import Any

import httpx

from aftersail.tenants.models import Role
from tests.factories import make_tenant

API = "/api/v1"


async def test_the_policy_defaults_and_is_replaced_by_an_admin_only(
    client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    shown = await client.get(f"{API}/settings/returns", headers=tenant.headers(Role.VIEWER))
    assert shown.status_code == 200
    assert shown.json()["window_days"] == 30 and "hygiene" in shown.json()["non_returnable"]
    assert shown.json()["evidence"]["damaged"] == ["photo"]

    policy = {
        "window_days": 7,
        "market_days": {"us": 30},
        "category_days": {"electronics": 20},
        "non_returnable": ["hygiene"],
        "evidence": {"damaged": ["photo", "video"]},
        "restocking_fee_percent": 10,
    }
    saved = await client.put(f"{API}/settings/returns", headers=tenant.headers(), json=policy)
    assert saved.status_code == 200, saved.text
    assert saved.json()["market_days"] == {"US": 30} and saved.json()["evidence"] == {
        "damaged": ["photo", "video"]
    }
    again = await client.get(f"{API}/settings/returns", headers=tenant.headers(Role.VIEWER))
    assert again.json() == saved.json()

    agent = await client.put(f"{API}/settings/returns", headers=tenant.headers(Role.AGENT), json=policy)
    assert agent.status_code == 403
    for bad in (
        {"window_days": 0},
        {"market_days": {"Germany": 14}},
        {"evidence": {"broken": ["photo"]}},
        {"restocking_fee_percent": 80},
        {"window_dayz": 10},
    ):
        refused = await client.put(f"{API}/settings/returns", headers=tenant.headers(), json=bad)
        assert refused.status_code == 422, (bad, refused.text)
    unchanged = await client.get(f"{API}/settings/returns", headers=tenant.headers(Role.VIEWER))
    assert unchanged.json() == saved.json()


async def test_a_sample_request_is_decided_with_its_rule(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    await client.put(
        f"{API}/settings/returns",
        headers=tenant.headers(),
        json={"window_days": 7, "restocking_fee_percent": 10},
    )

    async def preview(**sample: Any) -> dict[str, Any]:
        answer = await client.post(
            f"{API}/settings/returns/preview", headers=tenant.headers(Role.VIEWER), json=sample
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    german = await preview(market="DE", delivered_days_ago=10, reason="changed_mind")
    assert (german["outcome"], german["rule"]) == ("auto_approved", "auto_approve")  # EU: 14 days, not 7
    assert german["freight_payer"] == "buyer" and german["refund_minor"] == 2_999 - 299
    emirati = await preview(market="AE", delivered_days_ago=10, reason="changed_mind")
    assert emirati["outcome"] == "rejected" and "window ended" in emirati["reason"]
    damaged = await preview(market="AE", delivered_days_ago=10, reason="damaged")
    assert (damaged["outcome"], damaged["missing_evidence"]) == ("manual_review", ["photo"])
    assert damaged["freight_payer"] == "seller"
    trial = await preview(
        market="AE", delivered_days_ago=10, reason="changed_mind", policy={"window_days": 30}
    )
    assert trial["outcome"] == "auto_approved", "a policy tried before saving"
    too_many = await preview(lines=[{"quantity": 3, "delivered_quantity": 2}])
    assert too_many["outcome"] == "rejected" and "quantity 3 of 2" in too_many["lines"][0]["why"]

    bad = await client.post(
        f"{API}/settings/returns/preview", headers=tenant.headers(Role.VIEWER), json={"reason": "bored"}
    )
    assert bad.status_code == 422 and "reason" in bad.text
