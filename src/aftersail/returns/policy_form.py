"""The return-policy form of the console (`/settings/returns`) in the API's terms: the form as typed is read
into `ReturnPolicyIn` (the API's own validation, so the page and `PUT /settings/returns` refuse the same
things) with a message per field, and a sample request into `SampleRequest` for the preview, which the API's
preview route decides (`returns.api.preview_return_decision`, with the policy as typed)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from aftersail.kit.i18n import N_
from aftersail.returns.rules import Evidence, Reason, Resolution, ReturnPolicy
from aftersail.returns.schemas import ReturnPolicyIn, SampleLine, SampleRequest

NUMBER_FIELDS = (
    "window_days",
    "repeat_returner_after",
    "restocking_fee_percent",
    "duties_lost_percent",
    "keep_partial_percent",
    "trusted_buyer_orders",
    "cycle_days",
)
AMOUNT_FIELDS = {"auto_approve_up_to": "auto_approve_up_to_minor", "handling": "handling_minor"}
FLAG_FIELDS = ("insured_reverse_freight", "offer_returnless")
ERRORS = {
    "window_days": N_("Enter a number of days from 1 to 730."),
    "market_days": N_("Write one market per line as a country code and days, such as DE 30."),
    "category_days": N_("Write one category per line with its days, such as apparel 60 (1 to 730 days)."),
    "non_returnable": N_("List categories separated by commas, each at most 40 characters."),
    "evidence": N_("Choose photo or video for each reason."),
    "auto_approve_up_to": N_("Enter an amount of 0 or more with at most two decimals, such as 200.00."),
    "repeat_returner_after": N_("Enter a whole number from 1 to 1000."),
    "restocking_fee_percent": N_("Enter a percentage from 0 to 50."),
    "handling": N_("Enter an amount of 0 or more with at most two decimals, such as 4.00."),
    "duties_lost_percent": N_("Enter a percentage from 0 to 100."),
    "keep_partial_percent": N_("Enter a percentage from 0 to 100."),
    "trusted_buyer_orders": N_("Enter a whole number from 1 to 1000."),
    "cycle_days": N_("Enter a number of days from 1 to 365."),
    "warehouse_categories": N_(
        "Write one warehouse per line as its code, a colon and categories, such as FRA: apparel, shoes."
    ),
}
SAMPLE_ERRORS = {
    "sample_market": N_("Use a two-letter country code, such as US or DE."),
    "sample_days": N_("Enter the days since delivery, from 0 to 3650."),
    "sample_reason": N_("Choose a reason from the list."),
    "sample_resolution": N_("Choose what the buyer wants from the list."),
    "sample_category": N_("Enter a category of at most 40 characters, such as apparel."),
    "sample_price": N_("Enter an amount of 0 or more with at most two decimals, such as 29.99."),
    "sample_quantity": N_("Enter a whole number from 1 to 10000."),
    "sample_returns_180": N_("Enter a whole number from 0 to 10000."),
}
SAMPLE_DEFAULTS: Mapping[str, Any] = {
    "sample_market": "DE",
    "sample_days": "10",
    "sample_reason": Reason.DOES_NOT_FIT.value,
    "sample_resolution": Resolution.REFUND.value,
    "sample_category": "apparel",
    "sample_price": "29.99",
    "sample_quantity": "1",
    "sample_evidence": [],
    "sample_returns_180": "0",
    "sample_reused_photo": False,
}
_AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,2})?", re.ASCII)
_SEPARATORS = re.compile(r"[,，、;\n]+")


def _fold(text: Any) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).strip()


def format_amount(minor: int) -> str:
    return f"{Decimal(minor).scaleb(-2):.2f}"


def parse_amount(text: Any) -> int | None:
    folded = _fold(text)
    return int(Decimal(folded).scaleb(2)) if _AMOUNT.fullmatch(folded) else None


def _pairs(text: Any) -> list[tuple[str, str]] | None:
    """'DE 30\\nFR=21' → [('DE', '30'), ('FR', '21')]; None when a line is not a name and a value."""
    pairs = []
    for line in _fold(text).splitlines():
        line = line.strip().strip(",;")
        if not line:
            continue
        found = re.fullmatch(r"(.+?)\s*(?:[=:]|\s)\s*(\S+)", line)
        if not found:
            return None
        pairs.append((found.group(1).strip(), found.group(2).strip()))
    return pairs


def _list(text: Any) -> list[str]:
    return [item.strip() for item in _SEPARATORS.split(_fold(text)) if item.strip()]


def policy_values(policy: ReturnPolicy) -> dict[str, Any]:
    """The form as a stored policy fills it."""
    values: dict[str, Any] = {name: str(getattr(policy, name)) for name in NUMBER_FIELDS}
    values["auto_approve_up_to"] = format_amount(policy.auto_approve_up_to_minor)
    values["handling"] = format_amount(policy.handling_minor)
    values.update({name: "on" if getattr(policy, name) else "" for name in FLAG_FIELDS})
    values["market_days"] = "\n".join(f"{k} {v}" for k, v in sorted(policy.market_days.items()))
    values["category_days"] = "\n".join(f"{k} {v}" for k, v in sorted(policy.category_days.items()))
    values["non_returnable"] = ", ".join(sorted(policy.non_returnable))
    values["warehouse_categories"] = "\n".join(
        f"{code}: {', '.join(sorted(kinds))}" for code, kinds in sorted(policy.warehouse_categories.items())
    )
    for reason in Reason:
        values[f"evidence_{reason.value}"] = sorted(policy.evidence.get(reason, frozenset()))
    return values


def check_policy_form(values: Mapping[str, Any]) -> tuple[ReturnPolicyIn | None, dict[str, str]]:
    """(the policy in the API's terms, or None; a message per bad field)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name in NUMBER_FIELDS:
        folded = _fold(values.get(name))
        if folded.isdigit() and len(folded) <= 9:
            body[name] = int(folded)
        else:
            errors[name] = ERRORS[name]
    for name, target in AMOUNT_FIELDS.items():
        amount = parse_amount(values.get(name))
        if amount is None:
            errors[name] = ERRORS[name]
        else:
            body[target] = amount
    for name in FLAG_FIELDS:
        body[name] = values.get(name) in {"on", True}
    for name in ("market_days", "category_days"):
        pairs = _pairs(values.get(name))
        if pairs is None or not all(days.isdigit() and len(days) <= 6 for _, days in pairs):
            errors[name] = ERRORS[name]
        else:
            body[name] = {key.upper() if name == "market_days" else key: int(days) for key, days in pairs}
    body["non_returnable"] = _list(values.get("non_returnable"))
    warehouses: dict[str, list[str]] = {}
    for line in _fold(values.get("warehouse_categories")).splitlines():
        if not line.strip():
            continue
        code, colon, kinds = line.partition(":")
        if not colon or not code.strip() or not _list(kinds):
            errors["warehouse_categories"] = ERRORS["warehouse_categories"]
            break
        warehouses[code.strip().upper()] = _list(kinds)
    body["warehouse_categories"] = warehouses
    evidence: dict[str, list[str]] = {}
    for reason in Reason:
        chosen = values.get(f"evidence_{reason.value}") or []
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        if any(kind not in {e.value for e in Evidence} for kind in chosen):
            errors["evidence"] = ERRORS["evidence"]
        elif chosen:
            evidence[reason.value] = sorted(set(chosen))
    body["evidence"] = evidence
    try:  # the API's own limits, checked also beside the fields already refused (all messages at once)
        checked = ReturnPolicyIn.model_validate(body)
    except ValidationError as exc:
        targets = {target: name for name, target in AMOUNT_FIELDS.items()}
        for error in exc.errors():
            field = str(error["loc"][0]) if error.get("loc") else "window_days"
            field = targets.get(field, field)
            errors.setdefault(field, ERRORS.get(field, ERRORS["window_days"]))
        return None, errors
    return (None, errors) if errors else (checked, {})


def check_sample_form(values: Mapping[str, Any]) -> tuple[SampleRequest | None, dict[str, str]]:
    errors: dict[str, str] = {}

    def number(name: str, low: int, high: int) -> int:
        folded = _fold(values.get(name))
        if folded.isdigit() and low <= int(folded[:9]) <= high and len(folded) <= 9:
            return int(folded)
        errors[name] = SAMPLE_ERRORS[name]
        return low

    market = _fold(values.get("sample_market")).upper()
    if not (len(market) == 2 and market.isascii() and market.isalpha()):
        errors["sample_market"] = SAMPLE_ERRORS["sample_market"]
    days = number("sample_days", 0, 3650)
    quantity = number("sample_quantity", 1, 10_000)
    history = number("sample_returns_180", 0, 10_000)
    reason = str(values.get("sample_reason") or "")
    if reason not in {r.value for r in Reason}:
        errors["sample_reason"] = SAMPLE_ERRORS["sample_reason"]
    resolution = str(values.get("sample_resolution") or "")
    if resolution not in {r.value for r in Resolution}:
        errors["sample_resolution"] = SAMPLE_ERRORS["sample_resolution"]
    category = _fold(values.get("sample_category"))
    if not category or len(category) > 40:
        errors["sample_category"] = SAMPLE_ERRORS["sample_category"]
    price = parse_amount(values.get("sample_price"))
    if price is None:
        errors["sample_price"] = SAMPLE_ERRORS["sample_price"]
    chosen = values.get("sample_evidence") or []
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    evidence = [Evidence(kind) for kind in sorted(set(chosen)) if kind in {e.value for e in Evidence}]
    if errors or price is None:
        return None, errors
    return SampleRequest(
        market=market,
        delivered_days_ago=days,
        reason=Reason(reason),
        resolution=Resolution(resolution),
        lines=[
            SampleLine(
                category=category, quantity=quantity, delivered_quantity=quantity, unit_price_minor=price
            )
        ],
        evidence=evidence,
        returns_last_180_days=history,
        reused_photo=bool(values.get("sample_reused_photo")),
    ), {}
