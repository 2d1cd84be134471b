"""API shapes of the catalog domain, plus the code types (country, currency, time zone) other domains reuse.

Money is `*_minor` integer units plus an ISO 4217 `currency`; ids are integers.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.numbers import is_currency
from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from aftersail.catalog.models import WarehouseCapability

T = TypeVar("T")

# Regions babel knows that are not countries a parcel can go to.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


@cache
def _countries() -> frozenset[str]:
    codes = {str(c) for c in Locale("en").territories}
    return frozenset(c for c in codes if len(c) == 2 and c.isalpha()) - _NOT_COUNTRIES


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in _countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not is_currency(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


CountryCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_country)]
CurrencyCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_currency)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(check_time_zone)]
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# Ids are 64-bit; a bigger number is bad input, not a database overflow.
MAX_ID = 2**63 - 1
MAX_MINOR = 10**13  # minor units: far above any real price, far below 64-bit overflow
IdIn = Annotated[int, Field(gt=0, le=MAX_ID)]
PathId = Annotated[int, Path(gt=0, le=MAX_ID)]
QueryId = Annotated[int | None, Query(gt=0, le=MAX_ID)]
_NO_NUL = r"^[^\x00]*$"


def query_text(max_length: int = 200, description: str | None = None) -> Any:
    """A free-text query parameter: bounded, and never a NUL byte (PostgreSQL text cannot hold one)."""
    return Query(max_length=max_length, pattern=_NO_NUL, description=description)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, so a typo never silently drops data; NUL bytes are refused
    field by field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_bytes(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("contains a NUL character")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SkuCreate(Strict):
    code: Code
    title: Annotated[Text, Field(max_length=300)]
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Variant attributes, e.g. color, size"
    )
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = Field(
        default=None, description="Defaults to the product's category"
    )
    declared_value_minor: int = Field(
        ge=0, le=MAX_MINOR, description="Customs value in minor units of `currency`"
    )
    currency: CurrencyCode
    weight_grams: int = Field(default=0, ge=0, le=1_000_000)
    hs_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=16, pattern=r"^[0-9.]*$")] = (
        ""
    )
    barcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""


class ProductCreate(Strict):
    handle: Code
    title: Annotated[Text, Field(max_length=300)]
    category: Annotated[Text, Field(max_length=80)]
    brand: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    skus: list[SkuCreate] = Field(default_factory=list, max_length=500)


class SkuOut(Out):
    id: int
    product_id: int
    code: str
    title: str
    attributes: dict[str, Any]
    category: str
    declared_value_minor: int
    currency: str
    weight_grams: int
    hs_code: str
    barcode: str
    is_bundle: bool
    created_at: datetime


class ProductOut(Out):
    id: int
    handle: str
    title: str
    category: str
    brand: str
    description: str
    created_at: datetime
    skus: list[SkuOut] = Field(default_factory=list)


class BundleComponentIn(Strict):
    sku_id: IdIn
    quantity: int = Field(gt=0, le=1000)


class BundleSet(Strict):
    components: list[BundleComponentIn] = Field(min_length=1, max_length=50)


class BundleComponentOut(Out):
    sku_id: int
    code: str
    title: str
    quantity: int


class BatchCreate(Strict):
    code: Code
    manufactured_on: date | None = None
    expires_on: date | None = None
    received_at: AwareDatetime | None = None


class BatchOut(Out):
    id: int
    sku_id: int
    code: str
    manufactured_on: date | None
    expires_on: date | None
    received_at: datetime | None


class Address(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    line1: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    line2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    country: CountryCode
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""


class WarehouseCreate(Strict):
    code: Annotated[Code, Field(max_length=32)]
    name: Annotated[Text, Field(max_length=200)]
    country: CountryCode
    regions_served: list[CountryCode] = Field(default_factory=list, max_length=300)
    time_zone: TimeZoneName
    address: Address | None = None
    capabilities: list[WarehouseCapability] = Field(default_factory=list)


class WarehouseOut(Out):
    id: int
    code: str
    name: str
    country: str
    regions_served: list[str]
    time_zone: str
    address: dict[str, Any]
    capabilities: list[WarehouseCapability]
    is_active: bool
    created_at: datetime


class LaneCreate(Strict):
    warehouse_id: IdIn
    country: CountryCode
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    transit_days_median: int = Field(gt=0, le=365)
    transit_days_p90: int = Field(gt=0, le=365)
    cost_minor: int = Field(ge=0, le=MAX_MINOR)
    currency: CurrencyCode


class LaneOut(Out):
    id: int
    warehouse_id: int
    country: str
    carrier: str
    transit_days_median: int
    transit_days_p90: int
    cost_minor: int
    currency: str


class StockSet(Strict):
    warehouse_id: IdIn
    sku_id: IdIn
    batch_id: IdIn | None = None
    on_hand: int = Field(ge=0, le=100_000_000)
    low_stock_threshold: int | None = Field(default=None, ge=0, le=100_000_000)


class StockOut(Out):
    id: int
    warehouse_id: int
    sku_id: int
    batch_id: int | None
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int
    updated_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> StockOut:
        return cls(
            id=row.id,
            warehouse_id=row.warehouse_id,
            sku_id=row.sku_id,
            batch_id=row.batch_id,
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.on_hand - row.reserved,
            low_stock_threshold=row.low_stock_threshold,
            updated_at=row.updated_at,
        )


class Paged(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None
