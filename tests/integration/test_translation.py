"""The translators against a local server speaking LibreTranslate's and OpenAI's wire formats."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from aftersail.assistant.translation import (
    MAX_TEXT_CHARS,
    LibreTranslateTranslator,
    NoTranslator,
    OpenAICompatibleTranslator,
    TextTooLong,
    Translated,
    TranslationUnavailable,
    Translator,
    create_translator,
    parse_code_map,
    translate_for,
)
from tests.e2e.servers import free_port
from tests.translation_server import TranslationServer, serve_in_subprocess, serve_in_thread

DAMAGED = {"de": "Mein Paket ist beschädigt angekommen.", "zh": "我的包裹到达时已损坏。"}
REPLACEMENT = {"de": "Wir senden Ihnen sofort einen Ersatz.", "zh": "我们会立即为您补发。"}


@pytest.fixture(scope="session")
def translation_server() -> Iterator[TranslationServer]:
    with serve_in_thread() as server:
        yield server


@pytest.fixture
def server(translation_server: TranslationServer) -> Iterator[TranslationServer]:
    yield translation_server
    translation_server.reset()


@pytest.fixture
async def libre(server: TranslationServer) -> AsyncIterator[LibreTranslateTranslator]:
    translator = LibreTranslateTranslator(server.url, None, 2.0)
    yield translator
    await translator.aclose()


@pytest.fixture
async def chat(server: TranslationServer) -> AsyncIterator[OpenAICompatibleTranslator]:
    translator = OpenAICompatibleTranslator(f"{server.url}/v1", "sk-test", "test-model", 2.0)
    yield translator
    await translator.aclose()


@pytest.fixture(params=["libretranslate", "openai"])
async def translator(request: pytest.FixtureRequest, server: TranslationServer) -> AsyncIterator[Translator]:
    url = server.url if request.param == "libretranslate" else f"{server.url}/v1"
    created = create_translator(request.param, url, None, "test-model")
    yield created
    await created.aclose()


async def reason_of_failure(translator: Translator, text: str, source: str | None, target: str) -> str:
    with pytest.raises(TranslationUnavailable) as failure:
        await translator.translate(text, source=source, target=target)
    assert failure.value.message == str(failure.value)
    return failure.value.reason


async def test_libretranslate_translates_buyer_and_agent_phrases_both_ways(
    libre: LibreTranslateTranslator, server: TranslationServer
) -> None:
    buyer = await libre.translate(DAMAGED["de"], source="de", target="zh")
    agent = await libre.translate(REPLACEMENT["zh"], source="zh", target="de")

    assert buyer == Translated(DAMAGED["zh"], "de", "zh", "libretranslate")
    assert agent == Translated(REPLACEMENT["de"], "zh", "de", "libretranslate")
    assert server.behaviour.received[0] == {
        "q": DAMAGED["de"],
        "source": "de",
        "target": "zh",
        "format": "text",
    }


async def test_libretranslate_detects_the_source_when_not_given(
    libre: LibreTranslateTranslator, server: TranslationServer
) -> None:
    result = await libre.translate(DAMAGED["de"], source=None, target="en")

    assert (result.text, result.source) == ("My parcel arrived damaged.", "de")
    assert server.behaviour.received[0]["source"] == "auto"


async def test_unknown_text_comes_back_marked(translator: Translator) -> None:
    result = await translator.translate("Das Kabel fehlt.", source="de", target="zh")

    assert result.text == "[de→zh] Das Kabel fehlt."


async def test_region_codes_are_reduced_to_the_language(translator: Translator) -> None:
    result = await translator.translate(DAMAGED["de"], source="de-AT", target="zh_CN")

    assert (result.text, result.source, result.target) == (DAMAGED["zh"], "de", "zh")


async def test_a_server_that_calls_chinese_zh_hans_needs_a_code_map() -> None:
    with serve_in_thread(chinese_code="zh-Hans") as server:
        plain = LibreTranslateTranslator(server.url)
        mapped = LibreTranslateTranslator(server.url, code_map=parse_code_map("zh=zh-Hans"))
        try:
            assert await reason_of_failure(plain, DAMAGED["de"], "de", "zh") == "unsupported"
            assert (await mapped.translate(DAMAGED["de"], source="de", target="zh")).text == DAMAGED["zh"]
            detected = await mapped.translate(REPLACEMENT["zh"], source=None, target="de")
            assert (detected.text, detected.source) == (REPLACEMENT["de"], "zh")
        finally:
            await plain.aclose()
            await mapped.aclose()


async def test_a_rejected_api_key_is_unavailable(server: TranslationServer) -> None:
    server.behaviour.api_key = "right-key"
    wrong = create_translator("libretranslate", server.url, "wrong-key", None)
    right = create_translator("libretranslate", server.url, SecretStr("right-key"), None)
    wrong_chat = create_translator("openai", f"{server.url}/v1", "wrong-key", "test-model")
    right_chat = create_translator("openai", f"{server.url}/v1", SecretStr("right-key"), "test-model")
    try:
        assert await reason_of_failure(wrong, DAMAGED["de"], "de", "zh") == "unauthorized"
        assert await reason_of_failure(wrong_chat, DAMAGED["de"], "de", "zh") == "unauthorized"
        assert (await right.translate(DAMAGED["de"], source="de", target="zh")).text == DAMAGED["zh"]
        assert (await right_chat.translate(DAMAGED["de"], source="de", target="zh")).text == DAMAGED["zh"]
        assert server.behaviour.received[-2]["api_key"] == "right-key"
    finally:
        for created in (wrong, right, wrong_chat, right_chat):
            await created.aclose()


async def test_a_failing_server_is_unavailable_with_a_readable_message(
    translator: Translator, server: TranslationServer
) -> None:
    server.behaviour.fail_status = 500

    with pytest.raises(TranslationUnavailable, match="failed with HTTP 500") as failure:
        await translator.translate(DAMAGED["de"], source="de", target="zh")
    assert failure.value.reason == "provider_error"


async def test_rate_limiting_is_unavailable(translator: Translator, server: TranslationServer) -> None:
    server.behaviour.fail_status = 429

    assert await reason_of_failure(translator, DAMAGED["de"], "de", "zh") == "rate_limited"


async def test_a_slow_server_times_out(server: TranslationServer) -> None:
    server.behaviour.delay_seconds = 1.5
    slow_libre = LibreTranslateTranslator(server.url, None, 0.3)
    slow_chat = OpenAICompatibleTranslator(f"{server.url}/v1", None, "test-model", 0.3)
    try:
        for slow in (slow_libre, slow_chat):
            started = time.monotonic()
            with pytest.raises(TranslationUnavailable, match=r"did not answer within 0\.3 s") as failure:
                await slow.translate(DAMAGED["de"], source="de", target="zh")
            assert failure.value.reason == "timeout"
            assert time.monotonic() - started < 1.0
    finally:
        await slow_libre.aclose()
        await slow_chat.aclose()


async def test_an_answer_of_the_wrong_shape_is_unavailable(
    translator: Translator, server: TranslationServer
) -> None:
    server.behaviour.garbled = True

    assert await reason_of_failure(translator, DAMAGED["de"], "de", "zh") == "bad_answer"


async def test_an_unreachable_server_is_unavailable() -> None:
    nowhere = LibreTranslateTranslator(f"http://127.0.0.1:{free_port()}", None, 2.0)
    try:
        assert await reason_of_failure(nowhere, DAMAGED["de"], "de", "zh") == "unreachable"
    finally:
        await nowhere.aclose()


async def test_an_unsupported_language_fails_before_any_request(
    translator: Translator, server: TranslationServer
) -> None:
    assert await reason_of_failure(translator, DAMAGED["de"], "de", "nl") == "unsupported"
    assert await reason_of_failure(translator, DAMAGED["de"], "xx", "zh") == "unsupported"
    assert server.behaviour.received == []


async def test_openai_compatible_translates_with_a_translation_only_prompt(
    chat: OpenAICompatibleTranslator, server: TranslationServer
) -> None:
    buyer = await chat.translate(DAMAGED["de"], source="de", target="zh")
    agent = await chat.translate(REPLACEMENT["zh"], source="zh", target="de")

    assert buyer == Translated(DAMAGED["zh"], "de", "zh", "openai")
    assert agent.text == REPLACEMENT["de"]
    request = server.behaviour.received[0]
    assert request["model"] == "test-model"
    system, user = request["messages"]
    assert system["role"] == "system"
    assert "from German (de) into Simplified Chinese (zh)" in system["content"]
    assert "translation only" in system["content"]
    assert user == {"role": "user", "content": DAMAGED["de"]}


async def test_same_language_needs_no_translation(translator: Translator, server: TranslationServer) -> None:
    assert await translate_for(translator, DAMAGED["de"], source="de", target="de") is None
    assert await translate_for(translator, DAMAGED["de"], source="de-CH", target="de") is None
    assert await translate_for(translator, "   ", source="fr", target="zh") is None
    assert await translate_for(NoTranslator(), "Bonjour", source="fr", target="fr") is None
    assert server.behaviour.received == []


async def test_a_detected_source_equal_to_the_target_needs_no_translation(
    libre: LibreTranslateTranslator,
) -> None:
    assert await translate_for(libre, DAMAGED["zh"], source=None, target="zh") is None


async def test_translate_for_returns_the_translation(translator: Translator) -> None:
    result = await translate_for(translator, DAMAGED["de"], source="de", target="zh")

    assert result is not None and result.text == DAMAGED["zh"]


async def test_too_long_a_text_is_refused_with_a_clear_error(
    translator: Translator, server: TranslationServer
) -> None:
    text = "Das Paket ist nicht angekommen. " * 200

    with pytest.raises(TextTooLong, match=f"6,400 characters long; at most {MAX_TEXT_CHARS:,}") as failure:
        await translate_for(translator, text, source="de", target="zh")
    assert failure.value.reason == "too_long"
    assert server.behaviour.received == []
    longest = await translate_for(translator, "a" * MAX_TEXT_CHARS, source="en", target="zh")
    assert longest is not None and longest.text.endswith("a" * MAX_TEXT_CHARS)


async def test_no_translator_is_always_unavailable() -> None:
    translator = create_translator("", "", None, None)

    assert isinstance(translator, NoTranslator)
    with pytest.raises(TranslationUnavailable, match="no translation provider is configured"):
        await translate_for(translator, DAMAGED["de"], source="de", target="zh")
    await translator.aclose()


def test_create_translator_refuses_an_incomplete_configuration() -> None:
    with pytest.raises(ValueError, match="unknown translation provider 'deepl'"):
        create_translator("deepl", "http://127.0.0.1:1", None, None)
    with pytest.raises(ValueError, match="needs a URL"):
        create_translator("libretranslate", "", None, None)
    with pytest.raises(ValueError, match="needs a model name"):
        create_translator("openai", "http://127.0.0.1:1/v1", "sk", None)


def test_parse_code_map() -> None:
    assert parse_code_map(" zh=zh-Hans, pt=pb ,") == {"zh": "zh-Hans", "pt": "pb"}
    assert parse_code_map("") == {}
    with pytest.raises(ValueError, match="bad language code mapping 'chinese=zh'"):
        parse_code_map("chinese=zh")


@pytest.fixture(scope="module")
def server_process() -> Iterator[str]:
    with serve_in_subprocess(api_key="k") as url:
        yield url


async def test_the_server_runs_as_its_own_process_for_browser_tests(server_process: str) -> None:
    translator = LibreTranslateTranslator(server_process, "k", 2.0)
    try:
        assert (await translator.translate(DAMAGED["de"], source="de", target="zh")).text == DAMAGED["zh"]
        async with httpx.AsyncClient(base_url=server_process) as client:
            (await client.post("/_test/behaviour", json={"fail_status": 503})).raise_for_status()
        assert await reason_of_failure(translator, DAMAGED["de"], "de", "zh") == "provider_error"
    finally:
        await translator.aclose()
