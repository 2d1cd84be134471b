"""The two demo sellers: who they are, who logs in, their teams, warehouses, markets and live sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aftersail.demo.products import (
    LUMIERE_BUNDLES,
    LUMIERE_PRODUCTS,
    SHENZHEN_BUNDLES,
    SHENZHEN_PRODUCTS,
    BundleSpec,
    ProductSpec,
)
from aftersail.tenants.models import Role

# The demo's "now": orders cover the 90 days before it. Never the wall clock, so every run is identical.
DEMO_NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
ORDER_WINDOW = timedelta(days=90)
# When the sellers "signed up" (created_at of tenants, users and catalog rows).
DEMO_ONBOARDED = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class UserSpec:
    email: str
    name: str
    role: Role
    locale: str
    time_zone: str
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TeamSpec:
    name: str
    languages: tuple[str, ...]
    members: tuple[str, ...]  # user emails


@dataclass(frozen=True, slots=True)
class LiveSessionSpec:
    title: str
    host: str
    market: str
    platform: str
    starts_at: datetime
    duration: timedelta
    order_share: float  # fraction of all demo orders placed during this session
    featured: tuple[str, ...]  # SKU codes without the tenant prefix
    discount_percent: int
    other_markets: tuple[str, ...] = ()  # viewers from neighbouring markets order too


@dataclass(frozen=True, slots=True)
class SellerSpec:
    slug: str
    name: str
    prefix: str  # of SKU codes and order numbers
    default_locale: str
    time_zone: str
    order_share: float
    users: tuple[UserSpec, ...]
    teams: tuple[TeamSpec, ...]
    warehouses: tuple[str, ...]
    market_weights: dict[str, int]
    products: tuple[ProductSpec, ...]
    bundles: tuple[BundleSpec, ...]
    live_sessions: tuple[LiveSessionSpec, ...]


SZG = "shenzhen-gadgets.demo"
LUM = "lumiere-beauty.demo"

SHENZHEN = SellerSpec(
    slug="shenzhen-gadgets",
    name="Shenzhen Gadgets & Apparel",
    prefix="SZG",
    default_locale="zh",
    time_zone="Asia/Shanghai",
    order_share=0.72,
    users=(
        UserSpec(f"admin@{SZG}", "陈静", Role.ADMIN, "zh", "Asia/Shanghai", ("zh", "en")),
        UserSpec(f"agent@{SZG}", "李伟", Role.AGENT, "zh", "Asia/Shanghai", ("zh", "en", "ja")),
        UserSpec(
            f"warehouse@{SZG}", "Marcus Johnson", Role.WAREHOUSE, "en", "America/Los_Angeles", ("en", "es")
        ),
        UserSpec(f"viewer@{SZG}", "张敏", Role.VIEWER, "zh", "Asia/Shanghai", ("zh",)),
    ),
    teams=(
        TeamSpec("Returns", ("en", "de", "fr", "es", "it", "nl"), (f"admin@{SZG}", f"agent@{SZG}")),
        TeamSpec("Complaints", ("en", "ar", "ja", "zh"), (f"admin@{SZG}", f"agent@{SZG}")),
        TeamSpec("Inquiries", ("en", "es", "ja", "ar"), (f"agent@{SZG}",)),
    ),
    warehouses=("LAX", "EWR", "FRA", "FXT", "DXB"),
    market_weights={
        "US": 30,
        "DE": 14,
        "GB": 12,
        "FR": 8,
        "AE": 8,
        "SA": 7,
        "JP": 7,
        "ES": 5,
        "IT": 5,
        "NL": 4,
    },
    products=SHENZHEN_PRODUCTS,
    bundles=SHENZHEN_BUNDLES,
    live_sessions=(
        LiveSessionSpec(
            "11.11 flash sale: AuraBuds & hoodies",
            "Mia Zhang",
            "US",
            "TikTok Shop",
            datetime(2026, 11, 11, 1, 0, tzinfo=UTC),
            timedelta(hours=2),
            0.07,
            ("EB-BLA", "EB-WHI", "HOOD-M-BLA", "HOOD-L-BLA", "GAN65-US-WHI"),
            25,
        ),
        LiveSessionSpec(
            "White Friday live — الجمعة البيضاء",
            "Layla Haddad",
            "SA",
            "TikTok Live",
            datetime(2026, 11, 13, 16, 30, tzinfo=UTC),
            timedelta(minutes=90),
            0.05,
            ("ABAYA-M-BLA", "ABAYA-L-BLA", "ABAYA-M-NAV", "PB20-BLA", "GAN65-UK-WHI"),
            30,
            ("AE",),
        ),
    ),
)

LUMIERE = SellerSpec(
    slug="lumiere-beauty",
    name="Lumière Beauty",
    prefix="LUM",
    default_locale="en",
    time_zone="Europe/Paris",
    order_share=0.28,
    users=(UserSpec(f"admin@{LUM}", "Claire Dubois", Role.ADMIN, "en", "Europe/Paris", ("en", "fr")),),
    teams=(
        TeamSpec("Returns", ("en", "fr", "de"), (f"admin@{LUM}",)),
        TeamSpec("Complaints", ("en", "fr", "ar"), (f"admin@{LUM}",)),
        TeamSpec("Inquiries", ("en", "fr", "es", "it", "nl"), (f"admin@{LUM}",)),
    ),
    warehouses=("EWR", "FRA", "FXT", "DXB"),
    market_weights={"US": 22, "GB": 18, "FR": 14, "DE": 12, "AE": 12, "SA": 8, "IT": 5, "ES": 5, "NL": 4},
    products=LUMIERE_PRODUCTS,
    bundles=LUMIERE_BUNDLES,
    live_sessions=(
        LiveSessionSpec(
            "Skin Tint shade-match live",
            "Chloé Laurent",
            "GB",
            "Instagram Live",
            datetime(2026, 10, 8, 18, 0, tzinfo=UTC),
            timedelta(minutes=90),
            0.04,
            ("TINT-03L", "TINT-04S", "TINT-05W", "TINT-06H", "LIP-ROSP", "SET-GLOW"),
            20,
            ("DE", "FR"),
        ),
    ),
)

SELLERS: tuple[SellerSpec, ...] = (SHENZHEN, LUMIERE)
DEMO_SLUGS: tuple[str, ...] = tuple(seller.slug for seller in SELLERS)
