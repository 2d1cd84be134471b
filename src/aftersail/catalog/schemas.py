"""API shapes of the catalog domain: products, SKUs, bundles, batches, warehouses, lanes and stock levels.

Money is `*_minor` integer units plus an ISO 4217 `currency`; ids are integers. The code types other domains
share (country, currency, time zone, ids) live in `aftersail.kit.validation`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aftersail.catalog.models import StockMovementKind, WarehouseCapability
from aftersail.kit.validation import (
    MAX_MINOR,
    Address,
    Code,
    CountryCode,
    CurrencyCode,
    IdIn,
    Out,
    Strict,
    Text,
    TimeZoneName,
)


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


# --- counts and adjustments from warehouses ----------------------------------------------------------------

Units = Annotated[int, Field(ge=0, le=100_000_000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class SnapshotLineIn(Strict):
    """One counted slot: a SKU by id or code, optionally one batch (lot) of it by id or code."""

    sku_id: IdIn | None = None
    sku_code: Code | None = None
    batch_id: IdIn | None = None
    batch_code: Annotated[Code, Field(max_length=64)] | None = Field(
        default=None, description="A batch code the SKU does not have yet is created"
    )
    on_hand: Units = Field(description="Units physically counted in the warehouse")
    low_stock_threshold: Units | None = Field(default=None, description="Unchanged when absent")

    @model_validator(mode="after")
    def _references(self) -> SnapshotLineIn:
        if (self.sku_id is None) == (self.sku_code is None):
            raise ValueError("give exactly one of sku_id or sku_code")
        if self.batch_id is not None and self.batch_code is not None:
            raise ValueError("give at most one of batch_id or batch_code")
        return self


class StockSnapshotIn(Strict):
    """A warehouse's full counts of some SKUs/batches (a cycle count or a stock report)."""

    warehouse_id: IdIn | None = None
    warehouse_code: Annotated[Code, Field(max_length=32)] | None = None
    note: Note = ""
    lines: list[SnapshotLineIn] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_warehouse(self) -> StockSnapshotIn:
        if (self.warehouse_id is None) == (self.warehouse_code is None):
            raise ValueError("give exactly one of warehouse_id or warehouse_code")
        return self


class CountOutcome(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class SnapshotLineOut(BaseModel):
    line: int = Field(description="Index of the line in the request")
    outcome: CountOutcome
    message: str
    stock_level_id: int | None
    sku_id: int
    batch_id: int | None
    counted: int
    on_hand_before: int | None
    on_hand: int
    reserved: int
    available: int
    delta: int = Field(description="Change of on-hand units this line made (0 when rejected)")


class StockSnapshotOut(BaseModel):
    warehouse_id: int
    applied: int
    rejected: int
    lines: list[SnapshotLineOut]


class AdjustmentReason(StrEnum):
    DAMAGED = "damaged"
    FOUND = "found"
    RETURNED = "returned"
    CORRECTION = "correction"


# The sign each reason allows: damaged goods leave stock, found and returned goods join it.
REASON_SIGN = {
    AdjustmentReason.DAMAGED: -1,
    AdjustmentReason.FOUND: 1,
    AdjustmentReason.RETURNED: 1,
    AdjustmentReason.CORRECTION: 0,
}


class StockAdjustmentIn(Strict):
    """Add or remove on-hand units of one slot, by `stock_level_id` or by warehouse, SKU and batch."""

    stock_level_id: IdIn | None = None
    warehouse_id: IdIn | None = None
    sku_id: IdIn | None = None
    batch_id: IdIn | None = None
    reason: AdjustmentReason
    delta: int = Field(ge=-100_000_000, le=100_000_000, description="Units added (+) or removed (−)")
    note: Note = ""

    @field_validator("delta")
    @classmethod
    def _delta_fits_reason(cls, delta: int, info: ValidationInfo) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        reason = info.data.get("reason")
        sign = REASON_SIGN.get(reason, 0) if reason is not None else 0
        if sign and (delta > 0) != (sign > 0):
            raise ValueError(f"a {reason} adjustment must {'remove' if sign < 0 else 'add'} units")
        return delta

    @model_validator(mode="after")
    def _one_slot(self) -> StockAdjustmentIn:
        by_level = self.stock_level_id is not None
        by_slot = self.warehouse_id is not None or self.sku_id is not None or self.batch_id is not None
        if by_level == by_slot:
            raise ValueError("give either stock_level_id, or warehouse_id and sku_id (and batch_id)")
        if by_slot and (self.warehouse_id is None or self.sku_id is None):
            raise ValueError("give both warehouse_id and sku_id")
        return self


class StockMovementOut(Out):
    id: int
    stock_level_id: int
    kind: StockMovementKind
    on_hand_delta: int
    reserved_delta: int
    on_hand_after: int
    reserved_after: int
    reason: str
    source: str
    created_at: datetime


class StockAdjustmentOut(BaseModel):
    stock: StockOut
    movement: StockMovementOut
