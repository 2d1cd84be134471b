"""The returns cost report: for whole days in the viewer's zone, what was sent back and what it cost, grouped
by SKU, batch, market, reason or receiving warehouse, set against the units sold in the same days.

Definitions:
- sold: units of the order lines of orders placed in the period (cancelled orders left out), from
  `orders.sales`;
- returned: eligible lines of returns requested in the period, rejected and cancelled returns left out
  (a request still under review counts; its money is 0 until something happens);
- return rate: units returned / units sold of the same group; a reason or a warehouse has no sales of its
  own, so its rate is over all units sold (its part of the overall rate);
- the money of a return (refunded, reverse freight, handling, restock value) is kept per return; it is
  shared among the return's lines (`split_by_weight`, exact to the minor unit): freight and handling by the
  units that travel, the refund by what each line refunds, the restock value by what each line was graded
  to be worth;
- refunded: money back, and for an exchange or replacement the value of the goods sent instead
  (`replaced_value`);
- loss: refunded + reverse freight + handling − restock value; cost share: loss / item value returned.

Money is in one currency at a time (a tenant selling in several picks one; the busiest is the default).
The pure helpers come first (tests/unit/test_returns_report_rules.py), then the reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.analytics import rules as periods
from aftersail.analytics.rules import Period
from aftersail.catalog.models import Batch, Sku, Warehouse
from aftersail.kit.i18n import N_
from aftersail.orders import sales
from aftersail.returns.economics import RESALE_SHARE
from aftersail.returns.models import Disposition, ReturnLine, ReturnRequest
from aftersail.returns.rules import Resolution, ReturnStatus

DIMENSIONS = ("sku", "batch", "market", "reason", "warehouse")
# Dimensions whose groups have sales of their own; the others are measured against all units sold.
SOLD_BY_GROUP = frozenset({"sku", "batch", "market"})
LEFT_OUT = frozenset({ReturnStatus.REJECTED, ReturnStatus.CANCELLED})
HIGH_RETURN_RATE = 0.10  # a tenth of the units sold coming back deserves a look
HIGH_COST_SHARE = 0.60  # losing more than 60% of the value of what came back
SORT_KEYS = (
    "name",
    "units_sold",
    "returns",
    "units_returned",
    "return_rate",
    "item_value_minor",
    "reverse_freight_minor",
    "handling_minor",
    "refunded_minor",
    "restock_value_minor",
    "loss_minor",
    "cost_share",
)
NO_BATCH = N_("No batch")
NO_WAREHOUSE = N_("No warehouse yet")

GroupKey = int | str | None


# --- pure helpers ------------------------------------------------------------------------------------------


def split_by_weight(total: int, weights: Sequence[int | float]) -> list[int]:
    """`total` shared in proportion to `weights`, in whole minor units that add up to `total` exactly (largest
    remainder; ties to the earlier entry). All-zero weights share equally."""
    if not weights:
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights cannot be negative")
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    shares = [int(x // 1) for x in exact]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def ratio(part: int, whole: int) -> float | None:
    """part / whole; None when there is nothing to divide by."""
    return None if whole <= 0 else part / whole


def loss(refunded_minor: int, freight_minor: int, handling_minor: int, restock_value_minor: int) -> int:
    return refunded_minor + freight_minor + handling_minor - restock_value_minor


def is_high(value: float | None, threshold: float) -> bool:
    return value is not None and value >= threshold


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    """One line of a return with its share of the return's money."""

    return_id: int
    sku_id: int
    batch_id: int | None
    market: str
    reason: str
    warehouse_id: int | None
    quantity: int
    item_value_minor: int
    refunded_minor: int = 0
    reverse_freight_minor: int = 0
    handling_minor: int = 0
    restock_value_minor: int = 0

    def key(self, dimension: str) -> GroupKey:
        return _key(self, dimension)


@dataclass(frozen=True, slots=True)
class SoldRow:
    sku_id: int
    batch_id: int | None
    market: str
    quantity: int

    def key(self, dimension: str) -> GroupKey:
        return _key(self, dimension)


def _key(row: ReturnedLine | SoldRow, dimension: str) -> GroupKey:
    if dimension == "sku":
        return row.sku_id
    if dimension == "batch":
        return row.batch_id
    if dimension == "market":
        return row.market
    if isinstance(row, ReturnedLine):
        if dimension == "reason":
            return row.reason
        if dimension == "warehouse":
            return row.warehouse_id
    raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")


@dataclass(frozen=True, slots=True)
class Figures:
    units_sold: int = 0
    returns: int = 0
    units_returned: int = 0
    item_value_minor: int = 0
    reverse_freight_minor: int = 0
    handling_minor: int = 0
    refunded_minor: int = 0
    restock_value_minor: int = 0

    @property
    def return_rate(self) -> float | None:
        return ratio(self.units_returned, self.units_sold)

    @property
    def loss_minor(self) -> int:
        return loss(
            self.refunded_minor, self.reverse_freight_minor, self.handling_minor, self.restock_value_minor
        )

    @property
    def cost_share(self) -> float | None:
        return ratio(self.loss_minor, self.item_value_minor)

    @property
    def high_return_rate(self) -> bool:
        return is_high(self.return_rate, HIGH_RETURN_RATE)

    @property
    def high_cost_share(self) -> bool:
        return is_high(self.cost_share, HIGH_COST_SHARE)


def measure(lines: Iterable[ReturnedLine], units_sold: int) -> Figures:
    chosen = list(lines)
    return Figures(
        units_sold=units_sold,
        returns=len({line.return_id for line in chosen}),
        units_returned=sum(line.quantity for line in chosen),
        item_value_minor=sum(line.item_value_minor for line in chosen),
        reverse_freight_minor=sum(line.reverse_freight_minor for line in chosen),
        handling_minor=sum(line.handling_minor for line in chosen),
        refunded_minor=sum(line.refunded_minor for line in chosen),
        restock_value_minor=sum(line.restock_value_minor for line in chosen),
    )


@dataclass(frozen=True, slots=True)
class Group:
    key: GroupKey
    figures: Figures
    name: str = ""  # filled by the service (a SKU's code, a warehouse's name…)


def measure_groups(sold: Sequence[SoldRow], returned: Sequence[ReturnedLine], dimension: str) -> list[Group]:
    """Every group with a return or (for SKU, batch and market) a sale, by units returned then key."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    by_sales = dimension in SOLD_BY_GROUP
    sold_in: dict[GroupKey, int] = {}
    if by_sales:
        for row in sold:
            sold_in[row.key(dimension)] = sold_in.get(row.key(dimension), 0) + row.quantity
    all_sold = sum(row.quantity for row in sold)
    lines_in: dict[GroupKey, list[ReturnedLine]] = {}
    for line in returned:
        lines_in.setdefault(line.key(dimension), []).append(line)
    keys = set(lines_in) | set(sold_in)
    groups = [
        Group(key, measure(lines_in.get(key, []), sold_in.get(key, 0) if by_sales else all_sold))
        for key in keys
    ]
    return sort_groups(groups, "units_returned")


def sort_value(group: Group, key: str) -> tuple[bool, float | str]:
    """What `key` sorts a group by; groups without a value (no sales for a rate) sort last either way."""
    if key == "name":
        return (False, group.name.casefold() if group.name else str(group.key))
    value = getattr(group.figures, key)
    return (value is None, value if value is not None else 0.0)


def sort_groups(
    groups: Iterable[Group], key: str = "units_returned", *, descending: bool = True
) -> list[Group]:
    """Sorted by `key` (one of SORT_KEYS), ties by name or key; missing values last in both directions."""
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r}")
    tie_broken = sorted(groups, key=lambda g: (g.name.casefold(), str(g.key)))
    present = [g for g in tie_broken if not sort_value(g, key)[0]]
    missing = [g for g in tie_broken if sort_value(g, key)[0]]
    present.sort(key=lambda g: sort_value(g, key)[1], reverse=descending)
    return present + missing


def share_return_money(
    lines: Sequence[tuple[int, int, float]],
    *,
    refunded_minor: int,
    freight_minor: int,
    handling_minor: int,
    restock_value_minor: int,
) -> list[tuple[int, int, int, int]]:
    """A return's money shared among its lines, each given as (units that travel, refund due, graded worth).
    Returns (refunded, freight, handling, restock value) per line; each column adds up to the return's."""
    travelling = [line[0] for line in lines]
    refunds = split_by_weight(refunded_minor, [line[1] for line in lines])
    freight = split_by_weight(freight_minor, travelling)
    handling = split_by_weight(handling_minor, travelling)
    restock = split_by_weight(restock_value_minor, [line[2] for line in lines])
    return list(zip(refunds, freight, handling, restock, strict=True))


# --- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnsReport:
    period: Period
    group_by: str
    currency: str
    currencies: list[str]  # those with sales or returns in the period, busiest first
    totals: Figures
    groups: list[Group] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.totals.units_sold == 0 and self.totals.returns == 0


def _graded_worth(line: ReturnLine) -> float:
    if line.grade is None or line.disposition in {Disposition.DESTROY, Disposition.RETURN_TO_SUPPLIER}:
        return 0.0
    return line.unit_price_minor * line.received_quantity * RESALE_SHARE.get(line.grade, 0.0)


def replaced_value(ret: ReturnRequest, lines: Sequence[ReturnLine]) -> int:
    """What an exchange (or replacement) gave the buyer instead of money: the goods sent out, at the price of
    the lines they replace, once the replacement order is placed. Without it an exchange would show the
    returned item's restock value as a gain."""
    if ret.replacement_order_id is None or ret.resolution not in {
        Resolution.EXCHANGE,
        Resolution.REPLACEMENT,
    }:
        return 0
    return sum(line.unit_price_minor * line.quantity for line in lines if line.eligible and not line.keep)


async def returned_lines(
    session: AsyncSession, tenant_id: int, period: Period, currency: str
) -> list[ReturnedLine]:
    """The eligible lines of returns requested in the period in `currency`, each with its share of money."""
    rows = (
        await session.execute(
            select(ReturnRequest, ReturnLine)
            .join(
                ReturnLine, and_(ReturnLine.return_id == ReturnRequest.id, ReturnLine.tenant_id == tenant_id)
            )
            .where(
                ReturnRequest.tenant_id == tenant_id,
                ReturnRequest.requested_at >= period.start,
                ReturnRequest.requested_at < period.end,
                ReturnRequest.currency == currency,
                ReturnRequest.status.not_in([s.value for s in LEFT_OUT]),
                ReturnLine.eligible.is_(True),
            )
            .order_by(ReturnRequest.id, ReturnLine.id)
        )
    ).all()
    by_return: dict[int, tuple[ReturnRequest, list[ReturnLine]]] = {}
    for ret, line in rows:
        by_return.setdefault(ret.id, (ret, []))[1].append(line)
    found = []
    for ret, lines in by_return.values():
        shares = share_return_money(
            [
                (
                    0 if line.keep else line.quantity,
                    line.refund_minor - line.restocking_fee_minor,
                    _graded_worth(line),
                )
                for line in lines
            ],
            refunded_minor=ret.refunded_minor + replaced_value(ret, lines),
            freight_minor=ret.reverse_freight_minor,
            handling_minor=ret.handling_minor,
            restock_value_minor=ret.restock_value_minor,
        )
        for line, (refunded, freight, handling, restock) in zip(lines, shares, strict=True):
            found.append(
                ReturnedLine(
                    return_id=ret.id,
                    sku_id=line.sku_id,
                    batch_id=line.batch_id,
                    market=ret.market,
                    reason=ret.reason.value,
                    warehouse_id=ret.warehouse_id,
                    quantity=line.quantity,
                    item_value_minor=line.unit_price_minor * line.quantity,
                    refunded_minor=refunded,
                    reverse_freight_minor=freight,
                    handling_minor=handling,
                    restock_value_minor=restock,
                )
            )
    return found


async def _return_currencies(session: AsyncSession, tenant_id: int, period: Period) -> dict[str, int]:
    rows = await session.execute(
        select(ReturnRequest.currency, ReturnRequest.id).where(
            ReturnRequest.tenant_id == tenant_id,
            ReturnRequest.requested_at >= period.start,
            ReturnRequest.requested_at < period.end,
            ReturnRequest.status.not_in([s.value for s in LEFT_OUT]),
        )
    )
    counted: dict[str, int] = {}
    for currency, _ in rows.all():
        counted[currency] = counted.get(currency, 0) + 1
    return counted


async def _names(
    session: AsyncSession, tenant_id: int, dimension: str, keys: Iterable[GroupKey]
) -> Callable[[GroupKey], str]:
    ids = [key for key in keys if isinstance(key, int)]
    if dimension == "sku" and ids:
        rows = await session.execute(
            select(Sku.id, Sku.code).where(Sku.tenant_id == tenant_id, Sku.id.in_(ids))
        )
        names = {row_id: code for row_id, code in rows.all()}
        return lambda key: names.get(key, str(key)) if isinstance(key, int) else ""
    if dimension == "batch" and ids:
        batches = await session.execute(
            select(Batch.id, Batch.code, Sku.code)
            .join(Sku, and_(Sku.id == Batch.sku_id, Sku.tenant_id == tenant_id))
            .where(Batch.tenant_id == tenant_id, Batch.id.in_(ids))
        )
        names = {row_id: f"{sku} · {code}" for row_id, code, sku in batches.all()}
        return lambda key: names.get(key, str(key)) if isinstance(key, int) else ""
    if dimension == "warehouse" and ids:
        warehouses = await session.execute(
            select(Warehouse.id, Warehouse.code, Warehouse.name).where(
                Warehouse.tenant_id == tenant_id, Warehouse.id.in_(ids)
            )
        )
        names = {row_id: f"{code} · {name}" for row_id, code, name in warehouses.all()}
        return lambda key: names.get(key, str(key)) if isinstance(key, int) else ""
    return lambda key: key if isinstance(key, str) else ""


async def returns_report(
    session: AsyncSession,
    tenant_id: int,
    *,
    first_day: date,
    last_day: date,
    time_zone: ZoneInfo,
    group_by: str = "sku",
    currency: str | None = None,
) -> ReturnsReport:
    """Raises InvalidInput for a period that ends before it starts or is longer than 366 days. Groups without
    a name (no batch, no warehouse yet) have an empty `name`; the caller says so in the viewer's language."""
    if group_by not in DIMENSIONS:
        raise ValueError(f"unknown dimension {group_by!r}")
    period = periods.check_period(first_day, last_day, time_zone)
    sold_units = await sales.sale_currencies(session, tenant_id, period.start, period.end)
    returned_counts = await _return_currencies(session, tenant_id, period)
    known = sorted(
        set(sold_units) | set(returned_counts),
        key=lambda c: (-sold_units.get(c, 0), -returned_counts.get(c, 0), c),
    )
    chosen = (currency or "").upper() or (known[0] if known else "")
    sold = [
        SoldRow(row.sku_id, row.batch_id, row.market, row.quantity)
        for row in await sales.units_sold(session, tenant_id, period.start, period.end, chosen)
    ]
    returned = await returned_lines(session, tenant_id, period, chosen)
    groups = measure_groups(sold, returned, group_by)
    name_of = await _names(session, tenant_id, group_by, [g.key for g in groups])
    named = sort_groups([Group(g.key, g.figures, name_of(g.key)) for g in groups], "units_returned")
    return ReturnsReport(
        period=period,
        group_by=group_by,
        currency=chosen,
        currencies=known,
        totals=measure(returned, sum(row.quantity for row in sold)),
        groups=named,
    )
