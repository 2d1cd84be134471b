"""Console pages of the catalog domain: warehouses and the stock each one holds."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aftersail.catalog import service as catalog
from aftersail.catalog import stock
from aftersail.catalog.models import Sku, StockLevel, Warehouse, WarehouseCapability
from aftersail.kit.clock import utcnow
from aftersail.kit.errors import NotFound
from aftersail.kit.i18n import N_
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.live_status import connection_labels
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

PAGE_SIZE = 50
CAPABILITY_LABELS = {
    WarehouseCapability.FULFILMENT: N_("Fulfilment"),
    WarehouseCapability.RETURNS: N_("Returns"),
    WarehouseCapability.VIDEO_INSPECTION: N_("Video inspection"),
    WarehouseCapability.REFURBISHMENT: N_("Refurbishment"),
}


@dataclass(frozen=True, slots=True)
class StockRow:
    level: StockLevel
    sku: Sku

    @property
    def available(self) -> int:
        return self.level.on_hand - self.level.reserved

    @property
    def is_low(self) -> bool:
        """Out of stock, or at or under the row's low-stock threshold."""
        return self.available <= 0 or self.available <= self.level.low_stock_threshold


def _chosen_warehouse(warehouses: list[Warehouse], raw: str) -> Warehouse | None:
    if not raw:
        return warehouses[0] if warehouses else None
    found = next((w for w in warehouses if raw.isdigit() and w.id == int(raw)), None)
    if found is None:
        raise NotFound("warehouse not found", field="warehouse")
    return found


@router.get("/warehouses")
async def warehouses_page(
    request: Request, console: ConsoleDep, session: SessionDep, warehouse: str = "", cursor: str = ""
) -> HTMLResponse:
    tenant_id = console.tenant.id
    warehouses = await catalog.list_warehouses(session, tenant_id)
    chosen = _chosen_warehouse(warehouses, warehouse.strip())
    rows: list[StockRow] = []
    next_cursor = None
    if chosen is not None:
        page = await stock.list_stock(
            session, tenant_id, warehouse_id=chosen.id, cursor=cursor or None, limit=PAGE_SIZE
        )
        next_cursor = page.next_cursor
        skus: dict[int, Sku] = {}
        for level in page.items:
            if level.sku_id not in skus:
                skus[level.sku_id] = await catalog.access_sku(session, tenant_id, level.sku_id)
            rows.append(StockRow(level, skus[level.sku_id]))
        rows.sort(key=lambda row: (row.sku.code, row.level.id))
    context = {
        "request": request,
        "console": console,
        "nav": "warehouses",
        "warehouses": warehouses,
        "chosen": chosen,
        "rows": rows,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "now": utcnow(),
        "capabilities": CAPABILITY_LABELS,
        "low_count": sum(1 for row in rows if row.is_low),
        "live_messages": {"connection": connection_labels(console.locale)},
    }
    return render("console/warehouses.html", context, locale=console.locale)
