"""Locale negotiation, text direction, formatting, and the completeness of the .po catalogs.

The catalog tests extract the strings from the code and templates the same way `pybabel extract` does (with
babel.cfg), so a string added to a page without a translation fails here, not in front of a buyer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from aftersail.kit.config import CONSOLE_LOCALES, SUPPORTED_LOCALES
from aftersail.kit.i18n import (
    LOCALES_DIR,
    catalog_paths,
    format_money,
    format_when,
    language_name,
    load_catalogs,
    match_locale,
    negotiate_locale,
    parse_accept_language,
    text_direction,
)
from aftersail.web.pages import BUYER_MESSAGES
from aftersail.web.rendering import TEMPLATES_DIR

REPO = Path(__file__).resolve().parents[2]
PACKAGE = LOCALES_DIR.parent
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n"}


def read_catalog(code: str) -> Catalog:
    """All of one language's .po files as one catalog (an msgid in two files is a mistake)."""
    merged = Catalog(locale=code)
    for path in catalog_paths(code):
        with path.open("rb") as po_file:
            part = read_po(po_file, locale=code)
        for message in part:
            if not message.id:
                continue
            assert message.id not in merged, f"{path.name}: {message.id!r} is also in another file"
            merged[message.id] = message
    return merged


def extracted_msgids() -> set[str]:
    """Every string `pybabel extract -F babel.cfg src/aftersail` would find."""
    with (REPO / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    return {
        message
        for _, _, message, *_ in extract_from_dir(PACKAGE, method_map, options_map)
        if isinstance(message, str)
    }


def buyer_msgids() -> set[str]:
    """The strings a buyer can see: the buyer templates, the base layout, and the buyer pages' messages."""
    templates = [TEMPLATES_DIR / "base.html", *sorted((TEMPLATES_DIR / "buyer").glob("*.html"))]
    found = {
        message
        for path in templates
        for _, message, *_ in extract_from_file("jinja2", path, options=JINJA_OPTIONS)
        if isinstance(message, str)
    }
    return found | set(BUYER_MESSAGES)


def test_accept_language_is_ordered_by_quality() -> None:
    assert parse_accept_language("da, en-GB;q=0.8, en;q=0.7") == ["da", "en-GB", "en"]
    assert parse_accept_language("en;q=0.2, ja;q=0.9, *;q=0.1") == ["ja", "en"]
    assert parse_accept_language("fr;q=0, de") == ["de"]  # q=0 means "not this one"
    assert parse_accept_language("ko;q=banana, it") == ["it"]
    assert parse_accept_language("") == [] and parse_accept_language(None) == []


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-Hans-CN", "zh"),
        ("pt_BR", "pt"),
        ("AR", "ar"),
        ("xx", None),
        ("", None),
        ("en;drop table", None),
        ("-", None),
    ],
)
def test_tags_match_on_the_primary_language(tag: str, expected: str | None) -> None:
    assert match_locale(tag, SUPPORTED_LOCALES) == expected


def test_negotiation_order_for_buyers() -> None:
    header = "de-CH, de;q=0.9, en;q=0.5"
    assert negotiate_locale("ja", accept_language=header, after=["ar"]) == "ja"  # ?lang= first
    assert negotiate_locale(None, accept_language=header, after=["ar"]) == "de"  # then Accept-Language
    assert negotiate_locale(None, accept_language="sv, nl;q=0.5", after=["ar"]) == "ar"  # then the profile
    assert (
        negotiate_locale("xx", accept_language=None, after=[None], default="es") == "es"
    )  # then the default


def test_console_negotiation_stays_within_console_locales() -> None:
    assert (
        negotiate_locale(None, accept_language="fr, en;q=0.5", allowed=CONSOLE_LOCALES, default="zh") == "en"
    )
    assert negotiate_locale(None, accept_language="fr", allowed=CONSOLE_LOCALES, default="zh") == "zh"
    assert negotiate_locale("de", allowed=CONSOLE_LOCALES, default="fr") == "zh"  # a bad default falls back


def test_direction_and_names() -> None:
    assert text_direction("ar") == "rtl"
    assert {text_direction(code) for code in SUPPORTED_LOCALES if code != "ar"} == {"ltr"}
    assert (
        language_name("ar") == "العربية"
        and language_name("zh") == "中文"
        and language_name("fr") == "Français"
    )


def test_dates_in_the_viewers_zone_and_money_in_their_language() -> None:
    moment = datetime(2024, 5, 31, 18, 5, tzinfo=UTC)
    assert format_when(moment, "Asia/Shanghai", "zh", "short") == "2024/6/1 02:05"
    assert format_when(moment, "America/New_York", "en", "short").startswith("5/31/24, 2:05")
    assert format_when(moment, "Not/AZone", "en", "short").startswith("5/31/24, 6:05")  # unknown zone → UTC
    assert format_when(None, "UTC", "en") == ""
    assert format_money(123456, "EUR", "de") == "1.234,56\xa0€"
    assert format_money(5000, "JPY", "ja") == "￥5,000"


def test_catalogs_compile_in_memory() -> None:
    catalogs = load_catalogs()
    assert set(catalogs) == set(SUPPORTED_LOCALES)
    assert catalogs["ar"].gettext("Find your order") == "ابحث عن طلبك"
    assert catalogs["zh"].gettext("Orders") == "订单"
    assert catalogs["es"].gettext("a string nobody translated") == "a string nobody translated"
    assert not list(LOCALES_DIR.rglob("*.mo")), "catalogs are compiled at startup; no .mo files in the tree"


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_every_catalog_knows_every_extracted_string(code: str) -> None:
    catalog = read_catalog(code)
    missing = extracted_msgids() - {message.id for message in catalog if message.id}
    assert not missing, f"{code}: add these to the catalog (pybabel update): {sorted(missing)}"


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_buyer_strings_are_translated_in_every_language(code: str) -> None:
    catalog = read_catalog(code)
    untranslated = sorted(
        msgid
        for msgid in buyer_msgids()
        if not (catalog.get(msgid) and catalog.get(msgid).string and not catalog.get(msgid).fuzzy)
    )
    assert not untranslated, f"{code}: buyer strings without a translation: {untranslated}"
    problems = [(message.id, errors) for message, errors in catalog.check() if errors]
    assert not problems, f"{code}: placeholders do not match: {problems}"


def test_the_chinese_console_catalog_is_complete() -> None:
    catalog = read_catalog("zh")
    untranslated = sorted(
        msgid for msgid in extracted_msgids() if not (catalog.get(msgid) and catalog.get(msgid).string)
    )
    assert not untranslated, f"zh: console strings without a translation: {untranslated}"


def test_buyer_strings_are_actually_translated_not_copied() -> None:
    """Guards against an English msgstr pasted into another language (brand names and codes aside)."""
    same_everywhere = {"Secure page · AfterSail", "Total", "Order %(number)s"}
    for code in SUPPORTED_LOCALES:
        if code == "en":
            continue
        catalog = read_catalog(code)
        copied = sorted(
            m for m in buyer_msgids() - same_everywhere if catalog.get(m) and catalog.get(m).string == m
        )
        assert not copied, f"{code}: msgstr equals the English msgid: {copied}"
