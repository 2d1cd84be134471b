"""What the assistant's answers say about an order and when, as plain functions of plain values: shared by
the service (one turn through the ORM) and the fast lane (a batch of turns on the driver)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from aftersail.kit.clock import as_utc

HANDLING_DAYS = 1  # from release to the carrier, for the arrival estimate
ORDER_EXAMPLE = "#A10023"


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_when(at: datetime, *, zone: str | None, lang: str, date_only: bool = True) -> str:
    """`at` in the buyer's time zone and language ("14 maja 2026", "2026年5月14日 17:00")."""
    tz = zone_of(zone)
    local = as_utc(at).astimezone(tz)
    day = format_date(local.date(), format="long", locale=lang)
    if date_only:
        return day
    return f"{day} {format_time(local, format='short', tzinfo=tz, locale=lang)}"


def order_status_answer(
    *,
    status: str,
    placed_at: datetime,
    released_at: datetime | None,
    updated_at: datetime,
    warehouse: str,
    transit_days: int,
    when: Callable[[datetime], str],
    tracked_eta: datetime | None = None,
    tracked_shipped_at: datetime | None = None,
) -> tuple[str, dict[str, str], dict[str, Any]] | None:
    """The reply situation, its values and the audited result for an order in `status` (an OrderStatus
    value); None for a delivered order (where and when it was left is a person's question). `when` formats a
    date for the buyer. A tracked parcel's ETA and hand-over time win over the lane's plan."""
    if status == "delivered":
        return None
    start = as_utc(released_at or placed_at)
    eta = as_utc(tracked_eta) if tracked_eta else start + timedelta(days=HANDLING_DAYS + transit_days)
    values = {
        "warehouse": warehouse or "—",
        "eta": when(eta),
        "ship_by": when(start + timedelta(days=HANDLING_DAYS)),
        "shipped_at": when(as_utc(tracked_shipped_at or updated_at)),
    }
    situation = "order_status.shipped" if status == "shipped" else "order_status.not_shipped"
    return situation, values, {"status": status, "warehouse": warehouse, "eta": eta.date().isoformat()}


def common_values(*, shop_name: str, order_number: str | None, body: str) -> dict[str, Any]:
    """The values every reply may use."""
    return {
        "shop_name": shop_name,
        "order_number": order_number or "",
        "order_example": ORDER_EXAMPLE,
        "question": body.strip()[:200],
        "problem_text": f"“{body.strip()[:160]}”",
        "contact_email": "",
    }
