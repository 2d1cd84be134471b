"""Language detection of buyer messages: real sentences, short texts falling back to a hint, mixed scripts."""

from __future__ import annotations

import pytest

from aftersail.assistant.language import Detection, detect_language
from aftersail.kit.config import SUPPORTED_LOCALES

SENTENCES = {
    "en": "Hello, my order arrived yesterday but the blender does not turn on. Can you help me?",
    "zh": "你好，我昨天收到了订单，但是搅拌机打不开，请帮我看看怎么办。",
    "es": "Hola, mi pedido llegó ayer pero la batidora no enciende. ¿Me pueden ayudar, por favor?",
    "fr": "Bonjour, ma commande est arrivée hier mais le mixeur ne s'allume pas. Pouvez-vous m'aider ?",
    "de": "Hallo, meine Bestellung ist gestern angekommen, aber der Mixer lässt sich nicht einschalten.",
    "it": "Buongiorno, il mio ordine è arrivato ieri ma il frullatore non si accende. Potete aiutarmi?",
    "pt": "Olá, a minha encomenda chegou ontem mas a liquidificadora não liga. Podem ajudar-me?",
    "ja": "こんにちは、昨日注文した商品が届きましたが、ミキサーの電源が入りません。",
    "ko": "안녕하세요, 어제 주문한 상품이 도착했는데 믹서기가 켜지지 않습니다.",
    "ar": "مرحبا، وصل طلبي أمس لكن الخلاط لا يعمل. هل يمكنكم مساعدتي؟",
}

# Shorter messages as buyers write them, including the close pairs es/pt and it/es.
SHORT_MESSAGES = [
    ("en", "The item is broken, I want a refund"),
    ("de", "Wo ist mein Paket?"),
    ("de", "Ich möchte mein Geld zurück"),
    ("fr", "Le colis n'est jamais arrivé"),
    ("es", "¿Dónde está mi paquete?"),
    ("pt", "Onde está a minha encomenda?"),
    ("it", "Il pacco è arrivato rotto"),
    ("zh", "我要退货"),
    ("ja", "返品したいです"),
    ("ko", "환불해 주세요"),
    ("ar", "أريد استرداد أموالي"),
]


def test_every_supported_language_has_a_sentence() -> None:
    assert set(SENTENCES) == set(SUPPORTED_LOCALES)


@pytest.mark.parametrize("language", SUPPORTED_LOCALES)
def test_detects_a_real_sentence_in_each_supported_language(language: str) -> None:
    detection = detect_language(SENTENCES[language])

    assert detection.language == language
    assert detection.confidence >= 0.8


@pytest.mark.parametrize(("language", "text"), SHORT_MESSAGES)
def test_detects_short_buyer_messages(language: str, text: str) -> None:
    assert detect_language(text).language == language


@pytest.mark.parametrize("language", SUPPORTED_LOCALES)
def test_a_clear_sentence_beats_a_different_hint(language: str) -> None:
    other = "ja" if language != "ja" else "de"

    assert detect_language(SENTENCES[language], hint=other).language == language


@pytest.mark.parametrize("text", ["ok", "OK!", "👍", "🙏🙏", "12345", "#A1001", "  ", "", "?!", "hi", "yes"])
def test_text_that_cannot_tell_falls_back_to_the_hint(text: str) -> None:
    detection = detect_language(text, hint="de")

    assert detection == Detection("de", detection.confidence, "hint")
    assert detection.confidence < 0.75


@pytest.mark.parametrize("text", ["ok", "👍", "#A1001", "hello"])
def test_without_a_hint_an_undecidable_text_has_no_language(text: str) -> None:
    assert detect_language(text).language is None


def test_a_confident_short_word_wins_over_the_hint() -> None:
    assert detect_language("Dankeschön", hint="en").language == "de"
    assert detect_language("thanks").language == "en"


def test_order_numbers_links_and_emails_do_not_count() -> None:
    text = "Bestellung #A1001 https://shop.example/track?id=XY12 max@example.de 😡 ist noch nicht da"

    assert detect_language(text).language == "de"


def test_an_unknown_hint_is_ignored() -> None:
    assert detect_language("ok", hint="nl").language is None


def test_a_language_outside_the_supported_ones_is_not_forced_into_the_hint() -> None:
    assert detect_language("Здравствуйте, где мой заказ?", hint="en") == Detection(None, 1.0, "none")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单 #A1001 还没有到，请帮我查一下", "zh"),
        ("Hello, 我的包裹坏了，怎么办", "zh"),
        ("My order from the live show still hasn't arrived, 谢谢", "en"),
        ("iPhoneケースがまだ届きません", "ja"),
        ("Galaxy S24 케이스가 아직 도착하지 않았어요", "ko"),
        ("طلبي رقم 1234 من Amazon لم يصل بعد", "ar"),
        ("小王の店で買いました", "ja"),
    ],
)
def test_mixed_scripts_follow_the_dominant_one(text: str, language: str) -> None:
    assert detect_language(text).language == language


def test_script_shortcuts_are_marked_as_such() -> None:
    assert detect_language("배송이 아직 안 왔어요") == Detection("ko", 1.0, "script")


def test_short_kanji_from_a_japanese_buyer_stays_japanese() -> None:
    assert detect_language("了解", hint="ja").language == "ja"
    assert detect_language("了解").language == "zh"
    assert detect_language("我昨天收到了包裹但是里面是空的", hint="ja").language == "zh"


def test_a_very_long_message_is_detected() -> None:
    assert detect_language(SENTENCES["fr"] * 200).language == "fr"
