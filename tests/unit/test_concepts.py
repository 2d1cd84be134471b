"""The concept lexicon: how forms match messages, and the shipped files' shape."""

from __future__ import annotations

import json
from importlib import resources

from aftersail.assistant.concepts import ConceptLexicon, fold, load_lexicon
from aftersail.assistant.intents import NLU_LANGUAGES


def _lexicon(*entries: tuple[str, str]) -> ConceptLexicon:
    return ConceptLexicon(entries)


def test_word_forms_are_prefixes_and_short_forms_whole_words() -> None:
    lexicon = _lexicon(("kaputt", "broken"), ("tax", "tax_duty"), ("zepsu", "broken"))
    assert lexicon.find("Der Mixer ist KAPUTTE angekommen") == ["broken"]
    assert lexicon.find("mikser zepsuł się") == ["broken"]
    assert lexicon.find("import tax?") == ["tax_duty"]
    assert lexicon.find("a taxi took it") == []  # "tax" is too short to be a prefix


def test_several_words_match_word_by_word_as_prefixes() -> None:
    lexicon = _lexicon(("send back", "return"), ("geld zurück", "refund"))
    assert lexicon.find("can I sending backwards it") == ["return"]
    assert lexicon.find("wann bekomme ich mein Geld zurueck") == []  # the form's ü is not ue
    assert lexicon.find("wann bekomme ich mein GELD ZURÜCK") == ["refund"]
    assert lexicon.find("send it back") == []


def test_accents_and_width_are_folded_but_japanese_voicing_is_kept() -> None:
    lexicon = _lexicon(("reembolso", "refund"), ("が", "x"), ("返金", "refund"))
    assert lexicon.find("REEMBÓLSO ya") == ["refund"]
    assert fold("ＡＢＣ１２３") == "abc123"
    assert fold("が") == "が" and fold("か") == "か"
    assert _lexicon(("がない", "missing")).find("部品かない") == []
    assert _lexicon(("がない", "missing")).find("部品がない") == ["missing"]


def test_cjk_and_arabic_forms_match_anywhere_each_concept_once_in_order() -> None:
    lexicon = _lexicon(
        ("没收到", "not_received"), ("退款", "refund"), ("مكسور", "broken"), ("환불", "refund")
    )
    assert lexicon.find("显示签收了但是我没 收到，要退款，退款！") == ["not_received", "refund"]
    assert lexicon.find("وصل المنتج والمكسور") == ["broken"]
    assert lexicon.find("환불해주세요") == ["refund"]


def test_every_shipped_language_file_has_exactly_the_concepts() -> None:
    root = resources.files("aftersail.assistant") / "data" / "concepts"
    concepts = set(json.loads((root / "concepts.json").read_text(encoding="utf-8")))
    written = [lang for lang in NLU_LANGUAGES if (root / f"{lang}.json").is_file()]
    assert "en" in written
    for lang in written:
        forms = json.loads((root / f"{lang}.json").read_text(encoding="utf-8"))
        assert set(forms) == concepts, lang
        assert all(isinstance(form, str) and form.strip() for values in forms.values() for form in values), (
            lang
        )


def test_the_shipped_lexicon_reads_real_messages() -> None:
    lexicon = load_lexicon(("en", "zh"))
    assert "not_received" in lexicon.find("tracking says delivered but I never received it")
    assert "refund" in lexicon.find("我要退款")
