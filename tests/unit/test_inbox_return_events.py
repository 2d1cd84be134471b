"""Every return step the returns code writes on a ticket reads as a translated label and one line naming the
RMA and its key fact; amounts only where the return's currency is known."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from aftersail.kit.i18n import format_money
from aftersail.support.inbox_pages import EVENT_LABELS, actor_text, event_detail
from aftersail.web.rendering import gettext_for

RMA = "RMA0000012"
KINDS = {
    "return.requested": {"reason": "does_not_fit", "resolution": "refund"},
    "return.decided": {
        "outcome": "auto_approved",
        "rule": "auto_approve",
        "reason": "ok",
        "refund_minor": 1999,
    },
    "return.status": {"before": "approved", "after": "in_transit"},
    "return.routed": {"warehouse": "FRA", "carrier": "self_managed", "tracking_number": "SM123"},
    "return.reviewed": {"approve": False, "note": "Photo shows wear."},
    "return.exchange_reserved": {"order": "AS-1-X", "status": "allocated"},
    "return.exchange_released": {"order": "AS-1-X"},
    "return.graded": {"lines": [{"received": 2, "grade": "A"}], "restock_value_minor": 3000},
    "return.discrepancy": {"differences": ["LAMP: expected 2, received 1"]},
    "return.refund_requested": {"refund_kind": "refund", "amount_minor": 1999},
    "return.refunded": {"refund_kind": "refund", "amount_minor": 1999, "status": "succeeded"},
    "return.refund_failed": {"refund_id": 4},
    "return.cycle_breached": {"due_at": "2024-01-01T00:00:00+00:00"},
}


@dataclass
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = "policy"


def detail(kind: str, locale: str, currencies: dict[int, str] | None = None) -> str:
    event = Event(kind, {"return_id": 7, "rma": RMA, **KINDS[kind]})
    return event_detail(event, gettext_for(locale), {}, currencies=currencies, locale=locale)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_return_step_has_a_label_and_names_its_rma(kind: str) -> None:
    zh = gettext_for("zh")
    assert kind in EVENT_LABELS
    assert zh(EVENT_LABELS[kind]) != EVENT_LABELS[kind], "translated into Chinese"
    assert detail(kind, "zh").startswith(RMA)


def test_the_key_facts_in_the_viewers_language() -> None:
    assert detail("return.status", "zh") == f"{RMA} · 已批准，面单已发 → 退回途中"
    assert detail("return.status", "en") == f"{RMA} · Approved, label sent → On its way back"
    assert detail("return.routed", "en") == f"{RMA} · FRA · SM123"
    assert detail("return.requested", "en") == f"{RMA} · Does not fit · Refund"
    assert detail("return.reviewed", "en") == f"{RMA} · Rejected · Photo shows wear."
    assert detail("return.exchange_reserved", "en") == f"{RMA} · Order AS-1-X · Allocated"
    assert detail("return.discrepancy", "en") == f"{RMA} · LAMP: expected 2, received 1"


def test_amounts_only_with_the_returns_currency() -> None:
    assert detail("return.decided", "en") == f"{RMA} · Approved by the policy · auto_approve"
    euros = {7: "EUR"}
    assert detail("return.decided", "zh", euros).endswith(f"auto_approve · {format_money(1999, 'EUR', 'zh')}")
    assert format_money(3000, "EUR", "en") in detail("return.graded", "en", euros)
    assert detail("return.refunded", "en", euros) == (
        f"{RMA} · Refund to the payment · {format_money(1999, 'EUR', 'en')} · Paid"
    )
    assert detail("return.refunded", "en", {8: "EUR"}) == f"{RMA} · Refund to the payment · Paid"


def test_return_actors_read_as_people() -> None:
    zh = gettext_for("zh")
    assert actor_text("policy", zh, {}) == "退货政策"
    assert actor_text("payments", zh, {}) == "支付服务商"
    assert actor_text("buyer:123", zh, {}) == "买家"
    assert actor_text("sla", gettext_for("en"), {}) == "SLA clock"
