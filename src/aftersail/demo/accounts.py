"""The demo logins printed by `make run` (all share DEMO_PASSWORD)."""

DEMO_PASSWORD = "demo-pass-2026"  # demo data, printed on purpose

DEMO_LOGINS: list[tuple[str, str]] = [
    ("admin@shenzhen-gadgets.demo", "Shenzhen Gadgets & Apparel — admin (中文)"),
    ("agent@shenzhen-gadgets.demo", "Shenzhen Gadgets & Apparel — agent (中文)"),
    ("warehouse@shenzhen-gadgets.demo", "Shenzhen Gadgets & Apparel — warehouse (English)"),
    ("viewer@shenzhen-gadgets.demo", "Shenzhen Gadgets & Apparel — viewer"),
    ("admin@lumiere-beauty.demo", "Lumière Beauty — admin (English)"),
]

DEMO_TENANT_SLUGS = ("shenzhen-gadgets", "lumiere-beauty")
