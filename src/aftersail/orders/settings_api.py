"""The tenant's order settings: what a shortage does, how long the cooling-off window lasts, how long
parcels wait for a buyer's next order (GET/PUT /api/v1/settings/orders)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from aftersail.kit.validation import Out, Strict
from aftersail.orders import allocation
from aftersail.orders.rules import OrderPolicy, ShortagePolicy
from aftersail.web.deps import Reader, SessionDep, TenantAdmin

router = APIRouter(tags=["tenant"])


class OrderSettings(Strict):
    on_shortage: ShortagePolicy = Field(
        default=ShortagePolicy.BACKORDER,
        description="`backorder`: allocate what exists and backorder the rest; `reject`: refuse the order",
    )
    release_after_minutes: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 60,
        description="Cooling-off window after placing; null: until the warehouse starts picking",
    )
    merge_window_minutes: int = Field(
        default=120,
        ge=0,
        le=7 * 24 * 60,
        description="Orders of one buyer to one address within it share a parcel",
    )
    low_stock_default: int = Field(default=5, ge=0, le=1_000_000)


class OrderSettingsOut(Out, OrderSettings):
    pass


def _out(policy: OrderPolicy) -> OrderSettingsOut:
    return OrderSettingsOut(
        on_shortage=policy.on_shortage,
        release_after_minutes=policy.release_after_minutes,
        merge_window_minutes=policy.merge_window_minutes,
        low_stock_default=policy.low_stock_default,
    )


@router.get("/settings/orders", response_model=OrderSettingsOut)
async def get_order_settings(session: SessionDep, principal: Reader) -> OrderSettingsOut:
    """The order settings in force for this tenant (defaults where none were set)."""
    return _out(await allocation.order_policy(session, principal.tenant_id))


@router.put("/settings/orders", response_model=OrderSettingsOut)
async def set_order_settings(
    body: OrderSettings, session: SessionDep, principal: TenantAdmin
) -> OrderSettingsOut:
    """Replace the order settings. They apply to orders placed and changed from now on."""
    policy = await allocation.do_set_order_policy(
        session,
        principal.tenant_id,
        OrderPolicy(
            on_shortage=body.on_shortage,
            release_after_minutes=body.release_after_minutes,
            merge_window_minutes=body.merge_window_minutes,
            low_stock_default=body.low_stock_default,
        ),
    )
    return _out(policy)
