"""The assistant's training data (issue 5): every line a well-formed example of one of the 18 intents, in the
language of its file, no text twice in a language, and at least 40 examples of every intent in each of the
14 languages."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import aftersail

TRAIN = Path(aftersail.__file__).parent / "assistant" / "data" / "train"
LANGUAGES = ("en", "zh", "es", "fr", "de", "it", "pt", "ja", "ko", "ar", "ru", "nl", "pl", "tr")
INTENTS = {
    "order_status", "delivered_not_received", "damaged_item", "wrong_item", "missing_item", "defective",
    "usage_help", "return_request", "exchange_request", "refund_status", "cancel_order", "change_order",
    "product_question", "customs_duties", "complaint", "human_agent", "thanks", "other",
}  # fmt: skip


def test_there_is_a_file_per_language_and_nothing_else() -> None:
    assert sorted(path.stem for path in TRAIN.glob("*.jsonl")) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_intent_has_forty_distinct_examples(language: str) -> None:
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    for number, line in enumerate((TRAIN / f"{language}.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        example = json.loads(line)
        assert set(example) == {"text", "intent", "lang"}, f"line {number}"
        assert example["lang"] == language and example["intent"] in INTENTS, f"line {number}"
        text = example["text"].strip()
        assert text and text.casefold() not in seen, f"line {number}: empty or twice: {text!r}"
        seen.add(text.casefold())
        counts[example["intent"]] += 1
    assert {intent: counts[intent] for intent in INTENTS if counts[intent] < 40} == {}
