"""Locales: the Babel catalogs (read from .po and compiled in memory), negotiation, direction, formatting.

The catalogs live in `aftersail/locales/<code>/LC_MESSAGES/messages.po`; no .mo file is ever committed or
written to disk. See docs/subsystems/i18n.md for how a locale is chosen and how to add a string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from aftersail.kit.config import SUPPORTED_LOCALES
from aftersail.kit.money import Money

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
BUYER_LOCALES = SUPPORTED_LOCALES

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def N_(message: str) -> str:
    """Marks a string for extraction without translating it here (it is translated where shown)."""
    return message


def catalog_path(code: str, locales_dir: Path = LOCALES_DIR) -> Path:
    return locales_dir / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog_paths(code: str, locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Every .po file of one language: `messages.po` and one file per later area (`support.po`, …), so that
    people working on different areas never edit the same file. They form one catalog."""
    directory = locales_dir / code / "LC_MESSAGES"
    return sorted(directory.glob("*.po")) if directory.is_dir() else []


def compile_catalog(po_path: Path, code: str) -> Translations:
    """Reads one .po file and compiles it to a gettext catalog in memory (fuzzy entries are left out)."""
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=code, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.cache
def load_catalogs(locales_dir: Path = LOCALES_DIR) -> Mapping[str, NullTranslations]:
    """Every supported locale's translations, compiled once per process (call at startup to warm)."""
    catalogs: dict[str, NullTranslations] = {}
    for code in SUPPORTED_LOCALES:
        merged: Translations | None = None
        for path in catalog_paths(code, locales_dir):
            compiled = compile_catalog(path, code)
            merged = compiled if merged is None else merged.merge(compiled)
        catalogs[code] = merged if merged is not None else NullTranslations()
    return catalogs


def translations(code: str) -> NullTranslations:
    return load_catalogs().get(code) or NullTranslations()


def match_locale(tag: str | None, allowed: Iterable[str]) -> str | None:
    """'zh-Hans-CN' → 'zh', 'pt_BR' → 'pt', 'xx' → None: the primary language subtag, when supported."""
    if not tag or not _TAG.match(tag.strip()):
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in set(allowed) else None


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, best first (q-values honoured, q=0 dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate_locale(
    *candidates: str | None,
    accept_language: str | None = None,
    allowed: Iterable[str] = SUPPORTED_LOCALES,
    default: str = "en",
    after: Iterable[str | None] = (),
) -> str:
    """The first supported locale among `candidates`, then the Accept-Language header, then `after`.

    Buyer pages: `negotiate_locale(query_lang, accept_language=header, after=[customer_language])`.
    """
    allowed = tuple(allowed)
    for tag in (*candidates, *parse_accept_language(accept_language), *after):
        found = match_locale(tag, allowed)
        if found:
            return found
    return default if default in allowed else allowed[0]


@functools.cache
def text_direction(code: str) -> str:
    return "rtl" if Locale.parse(code).character_order == "right-to-left" else "ltr"


@functools.cache
def language_name(code: str) -> str:
    """The language's own name for itself: 'العربية', '中文', 'Deutsch'."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:] if code not in {"zh", "ja", "ko", "ar"} else name


def zone(time_zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_when(value: datetime | None, time_zone: str | None, locale: str, fmt: str = "medium") -> str:
    """A UTC datetime shown in the viewer's zone and language; empty for None."""
    if value is None:
        return ""
    return str(format_datetime(value, fmt, tzinfo=zone(time_zone), locale=locale))


def format_day(value: datetime | date | None, time_zone: str | None, locale: str, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(zone(time_zone)).date()
    return str(format_date(value, fmt, locale=locale))


def format_money(amount_minor: int, currency: str, locale: str) -> str:
    return Money(amount_minor, currency).format(locale)
