"""The text rules of knowledge-base search, without a database: a buyer's message becomes plain terms
(never operators), Chinese/Japanese/Korean become character pairs, and excerpts sit around the match."""

from __future__ import annotations

import random

from aftersail.assistant.knowledge_text import (
    EXCERPT_CHARS,
    MAX_TERMS,
    SearchTerm,
    cjk_index_text,
    excerpt,
    postgres_tsquery,
    query_terms,
    sqlite_match,
)


def texts(message: str) -> list[str]:
    return [term.text for term in query_terms(message)]


def test_a_message_becomes_its_meaningful_words() -> None:
    assert texts("Hi! Where is my order #AS-100234? Tracking 1Z999AA10123456784, thanks") == [
        "order",
        "tracking",
    ]
    assert texts("Wie hoch sind die Zollgebühren für meine Bestellung?") == [
        "hoch",
        "zollgebühren",
        "bestellung",
    ]
    assert texts("Do I pay customs duties on returns? customs!") == ["pay", "custom", "dut", "return"]
    assert query_terms("tv") == [SearchTerm("tv")] and query_terms("usb")[0].prefix
    assert texts("30 days, 2 weeks") == ["30", "day", "week"]  # short numbers stay, plurals lose their s
    assert texts("batteries deliveries news") == ["batter", "deliver", "new"]
    assert texts("ＣＵＳＴＯＭＳ") == ["custom"]  # full-width letters are letters


def test_operators_quotes_and_brackets_are_only_separators() -> None:
    message = '"customs" OR duties* AND NOT (refund) NEAR(a b, 3) {title}: ^x -y +z \\ \' ; --'
    assert texts(message) == ["custom", "dut", "refund", "title"]
    match = sqlite_match(query_terms(message))
    assert match == '"custom"* OR "dut"* OR "refund"* OR "title"*'
    assert postgres_tsquery(query_terms(message)) == "'custom':* | 'dut':* | 'refund':* | 'title':*"
    for term in query_terms(message):
        assert term.text.isalnum()
    assert (
        query_terms("") == [] and query_terms("?!… — () \"\" ''") == [] and query_terms("OR AND NEAR") == []
    )


def test_chinese_japanese_and_korean_become_pairs() -> None:
    assert texts("关税") == ["关税"]
    assert texts("我的包裹要交关税吗？") == ["包裹", "裹要", "要交", "交关", "关税"]  # 的, 吗: particles
    assert texts("関税はいくらですか") == ["関税", "税は"]  # hiragana-only pairs (いく, です) dropped
    assert texts("ありがとう") == ["あり", "りが", "がと", "とう"]  # unless the message is all hiragana
    assert texts("관세는 얼마예요") == ["관세", "세는", "얼마", "마예", "예요"]
    assert texts("税") == ["税"]
    assert texts("iPhone充电器坏了") == ["iphone", "充电", "电器", "器坏", "坏了"]
    assert not any(term.prefix for term in query_terms("关税关税"))


def test_the_index_holds_every_cjk_character_and_pair() -> None:
    assert cjk_index_text("进口关税", "English only") == "进 口 关 税 进口 口关 关税"
    assert cjk_index_text("No CJK here at all") == ""
    assert cjk_index_text("iPhone充电器") == "iphone 充 电 器 充电 电器"
    assert cjk_index_text("ｶﾀｶﾅ") == "カ タ カ ナ カタ タカ カナ"  # half-width katakana, normalized
    assert set(cjk_index_text("关税")).isdisjoint('"*():^')


def test_at_most_thirty_terms_from_any_amount_of_text() -> None:
    words = " ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(5_000))
    assert len(query_terms(words)) == MAX_TERMS
    assert len(query_terms("退货" * 100_000)) <= 2
    assert query_terms("x" * 100_000) == []  # one 100 kB "word" is noise, not a term


def test_random_text_never_raises() -> None:
    rng = random.Random(20261203)
    alphabet = [chr(c) for c in (*range(32, 0x250), *range(0x3000, 0x3100), *range(0x4E00, 0x4F00))]
    alphabet += ['"', "*", "(", ")", ":", "^", "\x00", "\u200b", "\ufeff", "\U0001f600", "\u0301"]
    for _ in range(200):
        message = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        terms = query_terms(message)
        assert len(terms) <= MAX_TERMS
        assert all('"' not in t.text and "'" not in t.text and t.text for t in terms)
        sqlite_match(terms), postgres_tsquery(terms), cjk_index_text(message)
        assert len(excerpt(message * 3, terms)) <= EXCERPT_CHARS


def test_the_excerpt_is_around_the_best_match() -> None:
    body = "Filler about shipping times. " * 30
    body += "Customs duties for Germany are paid by the carrier and collected on delivery. "
    body += "More filler about warranty terms. " * 30
    found = excerpt(body, query_terms("customs duties germany"))
    assert "Customs duties for Germany" in found
    assert len(found) <= EXCERPT_CHARS and found.startswith("…") and found.endswith("…")
    assert excerpt("Short text.", query_terms("text")) == "Short text."
    assert excerpt("  Spaced\n\n out   text ", []) == "Spaced out text"
    # Without any match the excerpt is the start of the text.
    assert excerpt(body, query_terms("lithium")).startswith("Filler about shipping times.")
    # Accents and case do not matter; the best window holds the most different terms.
    german = "Zölle. " + "x " * 200 + "Die Zölle und die Einfuhrumsatzsteuer zahlt der Käufer. " + "y " * 200
    assert "Einfuhrumsatzsteuer" in excerpt(german, query_terms("zolle einfuhrumsatzsteuer"))


def test_the_excerpt_of_chinese_text() -> None:
    body = "物流说明。" * 60 + "美国买家在签收时需要支付关税。" + "售后服务。" * 60
    found = excerpt(body, query_terms("我要交关税吗"))
    assert "支付关税" in found and len(found) <= EXCERPT_CHARS
