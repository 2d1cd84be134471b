"""API shapes of the orders domain: customers, orders with their lines, live sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from aftersail.kit.validation import Address, CountryCode, CurrencyCode, IdIn, Out, Strict, TimeZoneName
from aftersail.orders.models import AllocationStatus, OrderChannel, OrderStatus

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
Language = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,4})?$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OrderNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._#/-]*$"
    ),
]


class CustomerCreate(Strict):
    name: Name
    email: Email
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    country: CountryCode
    preferred_language: Language = "en"
    time_zone: TimeZoneName = "UTC"


class CustomerOut(Out):
    id: int
    name: str
    email: str
    phone: str
    country: str
    preferred_language: str
    time_zone: str
    created_at: datetime


class LiveSessionCreate(Strict):
    title: Name
    host: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    market: CountryCode
    platform: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None


class LiveSessionOut(Out):
    id: int
    title: str
    host: str
    market: str
    platform: str
    starts_at: datetime
    ends_at: datetime | None


class OrderLineIn(Strict):
    sku_id: IdIn | None = None
    sku_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = (
        None
    )
    quantity: int = Field(gt=0, le=10_000)
    unit_price_minor: int = Field(
        ge=0, le=10**12, description="Price of one unit in minor units of the currency"
    )
    currency: CurrencyCode | None = Field(
        default=None, description="The line's price currency; when given it must be the order currency"
    )

    @model_validator(mode="after")
    def _one_sku_reference(self) -> OrderLineIn:
        if (self.sku_id is None) == (self.sku_code is None):
            raise ValueError("give exactly one of sku_id or sku_code")
        return self


class OrderCreate(Strict):
    number: OrderNumber | None = Field(default=None, description="Generated when absent; unique per tenant")
    customer_id: IdIn | None = None
    customer: CustomerCreate | None = Field(default=None, description="Matched by email, created when new")
    channel: OrderChannel = OrderChannel.API
    currency: CurrencyCode
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    shipping_address: Address
    live_session_id: IdIn | None = None
    external_ref: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    placed_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_customer_reference(self) -> OrderCreate:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        return self


class OrderLineOut(Out):
    id: int
    sku_id: int
    sku_code: str
    sku_title: str
    quantity: int
    backordered_quantity: int = Field(description="Units no warehouse could reserve yet")
    unit_price_minor: int
    currency: str
    total_minor: int


class AllocationLineOut(Out):
    """Units of one SKU (and batch) reserved for one order line; a bundle line has one per component."""

    order_line_id: int
    sku_id: int
    sku_code: str
    batch_id: int | None
    batch_code: str | None
    quantity: int


class AllocationOut(Out):
    """The part of the order one warehouse ships, and why that warehouse was chosen."""

    id: int
    warehouse_id: int
    warehouse_code: str
    warehouse_name: str
    status: AllocationStatus
    reason: str
    transit_days: int | None
    shipment_group_id: int | None
    created_at: datetime
    lines: list[AllocationLineOut]


class OrderEventOut(Out):
    """One entry of the order's audit trail: who did what, and the before/after in `details`."""

    id: int
    actor: str
    action: str
    details: dict[str, Any]
    created_at: datetime


class OrderOut(Out):
    id: int
    number: str
    customer_id: int
    channel: OrderChannel
    status: OrderStatus
    currency: str
    total_minor: int
    shipping_address: dict[str, Any]
    country: str
    live_session_id: int | None
    host: str
    external_ref: str
    placed_at: datetime
    released_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime


class OrderDetailOut(OrderOut):
    customer: CustomerOut
    lines: list[OrderLineOut]
    allocations: list[AllocationOut] = Field(
        description="Where the order ships from, oldest first; cancelled allocations are left out "
        "(the audit trail at /orders/{id}/events keeps them)"
    )
