"""What the two demo sellers sell: products with their variant axes, and the kits built from them.

Prices are US-dollar cents (retail list price and customs declared value); HS codes are the six-digit
headings that fit the goods. Each product expands into one SKU per combination of its axes.
"""

from __future__ import annotations

from dataclasses import dataclass

# Which markets a plug type suits (Japan uses the US type A plug; the Gulf uses the British type G).
PLUG_MARKETS: dict[str, tuple[str, ...]] = {
    "US": ("US", "JP", "CA", "MX"),
    "EU": ("DE", "FR", "IT", "ES", "NL", "PL", "AT", "BE", "LU", "DK", "SE", "PT", "CZ"),
    "UK": ("GB", "IE", "AE", "SA", "KW", "QA", "BH", "OM"),
}
GULF = ("AE", "SA", "KW", "QA", "BH", "OM")


@dataclass(frozen=True, slots=True)
class ProductSpec:
    code: str
    title: str
    category: str
    brand: str
    retail_usd: int
    declared_usd: int
    weight_grams: int
    hs_code: str
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    popularity: int
    lot_tracked: bool = False
    shelf_life_months: int | None = None
    main_markets: tuple[str, ...] = ()  # sold only there when set (besides plug rules)


@dataclass(frozen=True, slots=True)
class BundleSpec:
    code: str
    title: str
    category: str
    retail_usd: int
    components: tuple[tuple[str, int], ...]  # (component SKU code without the tenant prefix, quantity)
    popularity: int


def _axes(**axes: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(value.strip() for value in values.split(","))) for name, values in axes.items())


P = ProductSpec

# fmt: off
SHENZHEN_PRODUCTS: tuple[ProductSpec, ...] = (
    P("EB", "AuraBuds Pro ANC wireless earbuds", "electronics/audio", "AuraBuds", 5999, 2200, 62,
      "8518.30", _axes(colour="Black,White,Sage"), 90, lot_tracked=True),
    P("SPK", "BassCube portable Bluetooth speaker", "electronics/audio", "BassCube", 3999, 1500, 540,
      "8518.22", _axes(colour="Black,Ocean Blue,Coral Red,Sand"), 45, lot_tracked=True),
    P("HP", "StudioArc over-ear headphones", "electronics/audio", "StudioArc", 8999, 3400, 265,
      "8518.30", _axes(colour="Black,Silver"), 25, lot_tracked=True),
    P("OE", "Open-ear sport earphones", "electronics/audio", "AuraBuds", 4499, 1600, 48,
      "8518.30", _axes(colour="Black,Orange"), 15, lot_tracked=True),
    P("GAN65", "VoltMini 65 W GaN charger", "electronics/charging", "VoltMini", 3499, 1100, 112,
      "8504.40", _axes(plug="US,EU,UK", colour="White,Black"), 70, lot_tracked=True),
    P("PB20", "PowerSlab 20,000 mAh power bank", "electronics/charging", "PowerSlab", 3999, 1300, 355,
      "8507.60", _axes(colour="Black,White,Lavender"), 60, lot_tracked=True),
    P("WCS", "3-in-1 magnetic wireless charging stand", "electronics/charging", "VoltMini", 4999, 1700, 410,
      "8504.40", _axes(plug="US,EU,UK"), 30, lot_tracked=True),
    P("CBL", "Braided USB-C cable", "electronics/charging", "VoltMini", 1299, 250, 45,
      "8544.42", _axes(length="1 m,2 m", colour="Black,White,Red,Blue"), 55),
    P("SW", "PulseFit smartwatch", "electronics/wearables", "PulseFit", 12999, 4800, 48,
      "8517.62", _axes(case="41 mm,45 mm", colour="Midnight,Silver,Rose"), 40, lot_tracked=True),
    P("KW", "Kids GPS watch", "electronics/wearables", "PulseFit", 5999, 2100, 42,
      "8517.62", _axes(colour="Blue,Pink"), 10, lot_tracked=True),
    P("PLUG", "Mini smart plug", "electronics/smart-home", "HomeLink", 1999, 600, 85,
      "8536.69", _axes(plug="US,EU,UK"), 25),
    P("LED", "LED strip lights 5 m", "electronics/smart-home", "HomeLink", 2499, 800, 320,
      "9405.42", _axes(plug="US,EU,UK"), 30),
    P("RING", "10-inch ring light with tripod", "electronics/smart-home", "HomeLink", 3499, 1200, 980,
      "9405.42", _axes(plug="US,EU,UK"), 35),
    P("CASE", "MagSafe phone case", "electronics/phone-accessories", "ShellGuard", 2499, 400, 38,
      "3926.90", _axes(model="iPhone 15,iPhone 15 Pro,iPhone 16,iPhone 16 Pro", colour="Clear,Black"), 50),
    P("GLASS", "Tempered glass screen protector 2-pack", "electronics/phone-accessories", "ShellGuard",
      1499, 200, 40, "7007.19", _axes(model="iPhone 15,iPhone 15 Pro,iPhone 16,iPhone 16 Pro"), 35),
    P("MOUNT", "Magnetic car phone mount", "electronics/phone-accessories", "ShellGuard", 1999, 500, 95,
      "3926.90", _axes(colour="Black"), 15),
    P("HOOD", "Oversized cotton hoodie", "apparel/tops", "Nord&Loom", 4999, 1400, 620,
      "6110.20", _axes(size="S,M,L,XL", colour="Black,Heather Grey,Sage"), 60),
    P("TEE", "Essential crew-neck T-shirt", "apparel/tops", "Nord&Loom", 1999, 450, 180,
      "6109.10", _axes(size="XS,S,M,L,XL", colour="White,Black,Navy"), 55),
    P("CROP", "Ribbed crop top", "apparel/tops", "Nord&Loom", 2299, 500, 140,
      "6109.10", _axes(size="S,M,L", colour="Black,Cream"), 25),
    P("WRAP", "Floral midi wrap dress", "apparel/dresses", "Nord&Loom", 5499, 1500, 310,
      "6204.43", _axes(size="XS,S,M,L", colour="Blue Floral,Red Floral"), 35),
    P("SLIP", "Satin slip dress", "apparel/dresses", "Nord&Loom", 4999, 1300, 240,
      "6204.43", _axes(size="S,M,L", colour="Champagne,Black"), 25),
    P("ABAYA", "Modest maxi dress with kimono sleeves", "apparel/dresses", "Nord&Loom", 6999, 1900, 520,
      "6204.43", _axes(size="S,M,L", colour="Black,Navy"), 45, main_markets=(*GULF, "GB")),
    P("LEG", "High-waist yoga leggings", "apparel/bottoms", "Nord&Loom", 3499, 800, 230,
      "6104.63", _axes(size="XS,S,M,L,XL", colour="Black,Navy"), 40),
    P("JOG", "Cargo joggers", "apparel/bottoms", "Nord&Loom", 4499, 1200, 480,
      "6103.42", _axes(size="S,M,L,XL", colour="Khaki,Black"), 25),
    P("PUFF", "Lightweight puffer jacket", "apparel/outerwear", "Nord&Loom", 8999, 2600, 690,
      "6201.40", _axes(size="S,M,L,XL", colour="Black,Olive"), 30),
    P("BEANIE", "Rib-knit beanie", "apparel/accessories", "Nord&Loom", 1799, 350, 90,
      "6505.00", _axes(colour="Black,Oatmeal,Rust"), 15),
)

SHENZHEN_BUNDLES: tuple[BundleSpec, ...] = (
    BundleSpec("KIT-TRAVEL-US", "Travel charging kit (US plug)", "electronics/charging", 7499,
               (("GAN65-US-WHI", 1), ("PB20-BLA", 1), ("CBL-2M-BLA", 2),), 12),
    BundleSpec("KIT-TRAVEL-EU", "Travel charging kit (EU plug)", "electronics/charging", 7499,
               (("GAN65-EU-WHI", 1), ("PB20-BLA", 1), ("CBL-2M-BLA", 2),), 10),
    BundleSpec("KIT-TRAVEL-UK", "Travel charging kit (UK plug)", "electronics/charging", 7499,
               (("GAN65-UK-WHI", 1), ("PB20-BLA", 1), ("CBL-2M-BLA", 2),), 8),
    BundleSpec("KIT-CREATOR-US", "Creator starter kit (US plug)", "electronics/smart-home", 6999,
               (("RING-US", 1), ("SPK-BLA", 1), ("CBL-1M-BLA", 1),), 8),
    BundleSpec("KIT-GIFT", "Earbuds gift set", "electronics/audio", 6499,
               (("EB-WHI", 1), ("CBL-1M-WHI", 1),), 10),
)

SHADES = ("01 Porcelain,02 Ivory,03 Light Beige,04 Sand,05 Warm Beige,06 Honey,07 Golden,08 Caramel,"
          "09 Chestnut,10 Mocha,11 Espresso,12 Ebony")

LUMIERE_PRODUCTS: tuple[ProductSpec, ...] = (
    P("SER", "Hydra Glow vitamin C serum", "beauty/skincare", "Lumière", 3800, 900, 95,
      "3304.99", _axes(size="30 ml,50 ml"), 70, lot_tracked=True, shelf_life_months=24),
    P("MOI", "Barrier repair moisturiser 50 ml", "beauty/skincare", "Lumière", 3200, 750, 120,
      "3304.99", _axes(skin="Dry,Normal to Oily"), 55, lot_tracked=True, shelf_life_months=30),
    P("CLN", "Gentle foaming cleanser 150 ml", "beauty/skincare", "Lumière", 1900, 400, 190,
      "3401.30", _axes(size="150 ml"), 40, lot_tracked=True, shelf_life_months=36),
    P("SPF", "Daily fluid SPF 50", "beauty/skincare", "Lumière", 2600, 600, 70,
      "3304.99", _axes(finish="Invisible,Tinted"), 45, lot_tracked=True, shelf_life_months=24),
    P("RET", "Retinol night cream", "beauty/skincare", "Lumière", 4400, 1000, 110,
      "3304.99", _axes(size="50 ml"), 30, lot_tracked=True, shelf_life_months=18),
    P("MASK", "Sheet mask 5-pack", "beauty/skincare", "Lumière", 1800, 350, 150,
      "3304.99", _axes(type="Hydrating,Brightening,Calming"), 30, lot_tracked=True, shelf_life_months=24),
    P("TINT", "Skin Tint foundation 30 ml", "beauty/cosmetics", "Lumière", 3600, 800, 85,
      "3304.99", _axes(shade=SHADES), 80, lot_tracked=True, shelf_life_months=30),
    P("LIP", "Velvet matte lipstick", "beauty/cosmetics", "Lumière", 2400, 450, 25,
      "3304.10", _axes(shade="Nude Silk,Rose Petal,Ruby,Berry,Coral,Mauve,Brick,Plum"), 60, lot_tracked=True,
      shelf_life_months=36),
    P("CONC", "Cushion concealer", "beauty/cosmetics", "Lumière", 2600, 500, 30,
      "3304.99", _axes(shade="01 Fair,02 Light,03 Medium,04 Tan,05 Deep,06 Rich"), 35, lot_tracked=True,
      shelf_life_months=30),
    P("MASC", "Volume mascara", "beauty/cosmetics", "Lumière", 2200, 400, 30,
      "3304.20", _axes(colour="Black,Brown"), 40, lot_tracked=True, shelf_life_months=24),
    P("PAL", "Eyeshadow palette", "beauty/cosmetics", "Lumière", 3900, 800, 160,
      "3304.20", _axes(edition="Nude,Smoky,Sunset"), 25, lot_tracked=True, shelf_life_months=36),
    P("EDP", "Eau de parfum 50 ml", "beauty/fragrance", "Lumière", 7900, 1800, 340,
      "3303.00", _axes(scent="Rose Oud,Neroli,Amber"), 30, lot_tracked=True, shelf_life_months=48),
    P("BRUSH", "Silicone cleansing brush", "beauty/hygiene", "Lumière", 3400, 900, 140,
      "9603.29", _axes(colour="Blush Pink,Mint"), 20),
    P("SPONGE", "Blending sponge 3-pack", "beauty/hygiene", "Lumière", 1400, 200, 40,
      "9616.20", _axes(colour="Peach"), 25),
)

LUMIERE_BUNDLES: tuple[BundleSpec, ...] = (
    BundleSpec("SET-GLOW", "Glow routine set", "beauty/skincare", 7900,
               (("SER-30M", 1), ("MOI-NORTO", 1), ("SPF-INV", 1),), 20),
    BundleSpec("SET-DATE", "Date night set", "beauty/cosmetics", 5400,
               (("LIP-RUB", 1), ("MASC-BLA", 1),), 12),
    BundleSpec("SET-MINI", "Cleanse and mask duo", "beauty/skincare", 3200,
               (("CLN-150M", 1), ("MASK-HYD", 1),), 10),
)
# fmt: on
