"""How products and orders lie in a flat CSV file, one SKU or one order line per row: the column names,
the nested API shape a row (or an order's rows) stands for, and the way back from a field path of that
shape to the CSV line and column to blame."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aftersail.kit.csvio import Record

SKU_COLUMNS = {
    "code": "sku_code",
    "title": "sku_title",
    "category": "sku_category",
    "attributes": "attributes",
    "declared_value_minor": "declared_value_minor",
    "currency": "currency",
    "weight_grams": "weight_grams",
    "hs_code": "hs_code",
    "barcode": "barcode",
}
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
CUSTOMER_COLUMNS = {
    "email": "customer_email",
    "name": "customer_name",
    "country": "customer_country",
    "preferred_language": "customer_language",
}
LINE_COLUMNS = ("sku_code", "quantity", "unit_price_minor")


def attributes_from_text(text: str) -> Any:
    """`{"size": "M"}` (JSON) or `size=M; color=red`."""
    if text.startswith("{"):
        return json.loads(text)
    pairs = [part.split("=", 1) for part in text.split(";") if part.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError("use JSON or key=value pairs separated by ';'")
    return {k.strip(): v.strip() for k, v in pairs}


def product_from_csv(cells: dict[str, str]) -> dict[str, Any]:
    product: dict[str, Any] = {
        k: cells[k] for k in ("handle", "title", "category", "brand", "description") if k in cells
    }
    sku = {name: cells[column] for name, column in SKU_COLUMNS.items() if column in cells}
    if "attributes" in sku:
        sku["attributes"] = attributes_from_text(sku["attributes"])
    if sku:
        sku.setdefault("title", product.get("title", ""))
    product["skus"] = [sku] if sku else []
    return product


def csv_product_field(line: int) -> Callable[[str], tuple[int, str]]:
    by_name = dict(SKU_COLUMNS)

    def rename(path: str) -> tuple[int, str]:
        parts = path.split(".")
        if parts[0] == "skus" and len(parts) > 2:
            return line, by_name.get(parts[2], parts[2])
        return line, path

    return rename


def order_from_csv(rows: list[Record]) -> dict[str, Any]:
    first = rows[0].data
    order: dict[str, Any] = {
        k: first[k] for k in ("number", "placed_at", "channel", "currency", "external_ref") if k in first
    }
    address = {f: first[f"ship_{f}"] for f in ADDRESS_FIELDS if f"ship_{f}" in first}
    customer = {name: first[column] for name, column in CUSTOMER_COLUMNS.items() if column in first}
    customer.setdefault("name", address.get("name", ""))
    if "country" in address:
        customer.setdefault("country", address["country"])
    order |= {
        "customer": customer,
        "shipping_address": address,
        "lines": [{c: r.data[c] for c in LINE_COLUMNS if c in r.data} for r in rows],
    }
    return order


def csv_order_field(rows: list[Record]) -> Callable[[str], tuple[int, str]]:
    customer = dict(CUSTOMER_COLUMNS)

    def rename(path: str) -> tuple[int, str]:
        parts = path.split(".")
        if parts[0] == "lines" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
            return rows[int(parts[1])].line, parts[2] if len(parts) > 2 else "sku_code"
        if parts[0] == "customer" and len(parts) > 1:
            return rows[0].line, customer.get(parts[1], parts[1])
        if parts[0] == "shipping_address" and len(parts) > 1:
            return rows[0].line, f"ship_{parts[1]}"
        return rows[0].line, path

    return rename
