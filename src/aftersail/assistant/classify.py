"""One buyer message → intent, confidence and language: the intent model, with the language settled from
the script, the model and lingua, and the conversation's language when the text cannot tell ("ok", "👍")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aftersail.assistant.intents import NLU_LANGUAGES, Intent
from aftersail.assistant.language import detect_by_script, detect_language
from aftersail.assistant.nlu import IntentModel, Understanding

# The language model is trusted alone above this; below, lingua (trained on far more text) has its say.
MODEL_LANGUAGE_TRUSTED = 0.6
DEFAULT_LANGUAGE = "en"
_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = {"zh", "ja", "ko", "ar", "ru"}


@dataclass(frozen=True, slots=True)
class Classification:
    intent: str
    confidence: float
    lang: str
    lang_confidence: float
    lang_method: str  # script, model, lingua, hint, default
    concepts: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The CLI contract: `{"intent", "lang", "confidence"}`."""
        return {"intent": self.intent, "lang": self.lang, "confidence": self.confidence}


def classify_many(
    model: IntentModel, texts: Sequence[str], *, hints: Sequence[str | None] | None = None
) -> list[Classification]:
    """`hints[i]` is the language the conversation or the buyer's profile says for `texts[i]`, if any."""
    understood = model.understand_many(list(texts))
    results = []
    for index, (text, understanding) in enumerate(zip(texts, understood, strict=True)):
        hint = hints[index] if hints is not None else None
        results.append(_settle(text, understanding, hint if hint in NLU_LANGUAGES else None))
    return results


def classify(model: IntentModel, text: str, *, hint: str | None = None) -> Classification:
    return classify_many(model, [text], hints=[hint])[0]


def _settle(text: str, understanding: Understanding, hint: str | None) -> Classification:
    intent, confidence = understanding.intent, understanding.confidence
    if not text.strip():
        intent, confidence = Intent.OTHER.value, 0.0
    lang, lang_confidence, method = _language(text, understanding, hint)
    return Classification(intent, confidence, lang, lang_confidence, method, understanding.concepts)


def _language(text: str, understanding: Understanding, hint: str | None) -> tuple[str, float, str]:
    by_script = detect_by_script(text, hint=hint, among=NLU_LANGUAGES)
    if by_script is not None:
        return by_script, 1.0, "script"
    if not _LETTER.search(text):  # emoji, numbers, punctuation: nothing to tell by
        return (hint, 0.0, "hint") if hint else (DEFAULT_LANGUAGE, 0.0, "default")
    model_lang, model_confidence = understanding.lang, understanding.lang_confidence
    if model_lang not in _NON_LATIN and model_confidence >= MODEL_LANGUAGE_TRUSTED:
        return model_lang, model_confidence, "model"
    detected = detect_language(text, hint=hint, among=NLU_LANGUAGES)
    if detected.language is not None and detected.method == "model":
        return detected.language, detected.confidence, "lingua"
    if hint is not None:
        return hint, 0.0, "hint"
    if model_lang not in _NON_LATIN:
        return model_lang, model_confidence, "model"
    return detected.language or DEFAULT_LANGUAGE, detected.confidence, "default"
