"""The buyer notices of tracking care and delivery claims exist in every buyer language, and every translation
takes exactly the placeholders of its English text (a lost or renamed `{date}` would fail only when sent)."""

from __future__ import annotations

import string
from collections import Counter

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from aftersail.kit.config import SUPPORTED_LOCALES
from aftersail.kit.i18n import catalog_paths, translations
from aftersail.shipping.care import TEXTS as CARE_TEXTS
from aftersail.shipping.claims import TEXTS as CLAIM_TEXTS

NOTICES = [*CARE_TEXTS.values(), *CLAIM_TEXTS.values()]


def placeholders(text: str) -> Counter[str]:
    """The names of the `{name}` fields of a str.format text, counted; positional or formatted fields are
    refused because the senders pass names only."""
    found: Counter[str] = Counter()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        assert name.isidentifier(), f"unnamed or indexed field {{{name}}} in {text!r}"
        assert not spec and not conversion, f"{{{name}}} must not carry a format spec in {text!r}"
        found[name] += 1
    return found


def read_catalog(code: str) -> Catalog:
    merged = Catalog(locale=code)
    for path in catalog_paths(code):
        with path.open("rb") as po_file:
            for message in read_po(po_file, locale=code):
                if message.id:
                    merged[message.id] = message
    return merged


def test_the_notices_are_the_ones_the_senders_use() -> None:
    assert len(CARE_TEXTS) == 9 and len(CLAIM_TEXTS) == 5
    assert len(set(NOTICES)) == len(NOTICES)


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_every_notice_is_translated_with_the_english_placeholders(code: str) -> None:
    catalog = read_catalog(code)
    gettext = translations(code).gettext
    for english in NOTICES:
        message = catalog.get(english)
        assert message is not None, f"{code}: no entry for {english!r}"
        assert not message.fuzzy, f"{code}: fuzzy entry for {english!r}"
        translated = gettext(english)
        if code == "en":
            assert message.string in ("", english)
        else:
            assert message.string, f"{code}: empty msgstr for {english!r}"
            assert translated != english, f"{code}: the English text is used for {english!r}"
        expected = placeholders(english)
        assert placeholders(translated) == expected, f"{code}: placeholders differ in {translated!r}"
        dummies = {name: f"<{name}>" for name in expected}
        sent = translated.format(**dummies)
        assert "{" not in sent and "}" not in sent, f"{code}: stray brace in {translated!r}"
        for name, count in expected.items():
            assert sent.count(f"<{name}>") == count, f"{code}: {{{name}}} lost in {translated!r}"
