"""The five demo warehouses (海外仓) and their lanes: transit days and cost per destination country."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EU_COUNTRIES = ("DE", "FR", "IT", "ES", "NL", "PL", "AT", "BE", "LU", "DK", "SE", "IE", "PT", "CZ")
GULF_COUNTRIES = ("AE", "SA", "KW", "QA", "BH", "OM")


@dataclass(frozen=True, slots=True)
class WarehouseSpec:
    code: str
    name: str
    country: str
    time_zone: str
    regions_served: tuple[str, ...]
    address: dict[str, Any]
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LaneSpec:
    warehouse: str
    country: str
    carrier: str
    median_days: int
    p90_days: int
    cost_minor: int
    currency: str


WAREHOUSES: dict[str, WarehouseSpec] = {
    spec.code: spec
    for spec in (
        WarehouseSpec(
            "LAX",
            "Los Angeles (Ontario, CA)",
            "US",
            "America/Los_Angeles",
            ("US", "CA", "MX", "JP"),
            {
                "line1": "4120 E Airport Drive",
                "line2": "Dock 14-18",
                "city": "Ontario",
                "region": "CA",
                "postal_code": "91761",
                "country": "US",
            },
            ("fulfilment", "returns", "video_inspection", "refurbishment"),
        ),
        WarehouseSpec(
            "EWR",
            "New Jersey (Cranbury, NJ)",
            "US",
            "America/New_York",
            ("US", "CA"),
            {
                "line1": "755 Cranbury South River Road",
                "line2": "Building B",
                "city": "Cranbury",
                "region": "NJ",
                "postal_code": "08512",
                "country": "US",
            },
            ("fulfilment", "returns"),
        ),
        WarehouseSpec(
            "FRA",
            "Frankfurt (Raunheim)",
            "DE",
            "Europe/Berlin",
            EU_COUNTRIES,
            {
                "line1": "Kelsterbacher Straße 42",
                "line2": "Halle 3",
                "city": "Raunheim",
                "region": "Hessen",
                "postal_code": "65479",
                "country": "DE",
            },
            ("fulfilment", "returns", "video_inspection"),
        ),
        WarehouseSpec(
            "FXT",
            "Felixstowe (Suffolk)",
            "GB",
            "Europe/London",
            ("GB", "IE"),
            {
                "line1": "Unit 7, Dock Gate 2 Logistics Park",
                "line2": "Walton Avenue",
                "city": "Felixstowe",
                "region": "Suffolk",
                "postal_code": "IP11 3HG",
                "country": "GB",
            },
            ("fulfilment", "returns"),
        ),
        WarehouseSpec(
            "DXB",
            "Dubai (Jebel Ali Free Zone)",
            "AE",
            "Asia/Dubai",
            GULF_COUNTRIES,
            {
                "line1": "Plot S30512, JAFZA South",
                "line2": "Warehouse 9",
                "city": "Jebel Ali",
                "region": "Dubai",
                "postal_code": "",
                "country": "AE",
            },
            ("fulfilment", "returns", "video_inspection"),
        ),
    )
}


def _lanes(warehouse: str, currency: str, *rows: tuple[str, str, int, int, int]) -> list[LaneSpec]:
    return [
        LaneSpec(warehouse, country, carrier, median, p90, cost, currency)
        for country, carrier, median, p90, cost in rows
    ]


# Domestic and in-region lanes are fast and cheap; cross-region ones go by air with customs and cost more.
LANES: list[LaneSpec] = [
    *_lanes(
        "LAX",
        "USD",
        ("US", "UPS Ground", 3, 5, 795),
        ("CA", "UPS Standard", 6, 9, 1850),
        ("MX", "DHL Express", 5, 8, 2200),
        ("JP", "USPS Priority Mail International", 7, 11, 2450),
        ("GB", "USPS Priority Mail International", 8, 12, 2650),
        ("AE", "DHL Express", 6, 9, 3150),
    ),
    *_lanes(
        "EWR",
        "USD",
        ("US", "USPS Ground Advantage", 2, 4, 645),
        ("CA", "UPS Standard", 4, 7, 1450),
        ("GB", "DHL Express", 5, 8, 2250),
        ("DE", "DHL Express", 6, 9, 2350),
    ),
    *_lanes(
        "FRA",
        "EUR",
        ("DE", "DHL Paket", 1, 3, 495),
        ("FR", "Colissimo", 2, 4, 795),
        ("IT", "BRT", 3, 5, 895),
        ("ES", "SEUR", 3, 5, 895),
        ("NL", "PostNL", 2, 3, 695),
        ("PL", "DPD", 2, 4, 690),
        ("AT", "DHL Paket", 2, 3, 695),
        ("BE", "bpost", 2, 3, 695),
        ("LU", "DHL Paket", 2, 3, 695),
        ("DK", "GLS", 2, 4, 890),
        ("SE", "PostNord", 3, 5, 990),
        ("IE", "DPD", 3, 6, 1190),
        ("PT", "CTT", 4, 6, 990),
        ("CZ", "DPD", 2, 4, 690),
        ("GB", "DHL Parcel UK", 3, 6, 1290),
        ("AE", "DHL Express", 5, 8, 2190),
        ("US", "DHL Express", 6, 10, 2490),
    ),
    *_lanes(
        "FXT",
        "GBP",
        ("GB", "Royal Mail Tracked 48", 1, 2, 349),
        ("IE", "DPD", 2, 4, 890),
        ("DE", "DPD", 4, 7, 1190),
        ("FR", "DPD", 4, 7, 1190),
        ("NL", "DPD", 3, 6, 1090),
    ),
    *_lanes(
        "DXB",
        "AED",
        ("AE", "Aramex", 1, 2, 1500),
        ("SA", "SMSA Express", 2, 4, 3500),
        ("KW", "Aramex", 3, 5, 4000),
        ("QA", "Aramex", 2, 4, 3800),
        ("BH", "Aramex", 3, 5, 4000),
        ("OM", "Aramex", 3, 5, 4000),
        ("GB", "DHL Express", 6, 9, 9000),
    ),
]
