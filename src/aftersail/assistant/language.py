"""Which of the supported buyer languages a message is written in, from its script or with lingua.

Scripts that belong to one supported language (Hangul, Kana, Arabic, Han) decide by themselves; Latin text
goes to a lingua detector restricted to the supported languages. Text too short or too ambiguous to tell
(“ok”, an emoji, an order number) falls back to the caller's hint, usually the buyer's known language.

The high-accuracy detector takes about 1.5 s and 170 MB to load its models, once per process: call
`warm_up()` in a thread at startup so that the first buyer message does not pay for it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from aftersail.assistant.intents import NLU_LANGUAGES
from aftersail.kit.config import SUPPORTED_LOCALES

Method = Literal["script", "model", "hint", "none"]

# Below this many Latin letters a text is "short": only a very confident guess beats the hint.
SHORT_TEXT_LETTERS = 10
SHORT_TEXT_CONFIDENCE = 0.75
# A text mostly in Latin letters with at least this share in another script is in that script's language.
MIXED_SCRIPT_SHARE = 0.3
# Between the best and the second-best language, for any length.
MIN_MARGIN = 0.15
# The hint's prior odds against each other language (the buyer usually writes in their own language).
HINT_WEIGHT = 2.0
# Han-only text this short from a buyer known to write Japanese is Japanese (了解, 返品, 注文番号).
SHORT_KANJI_CHARS = 4

# Tokens that carry no language: links, e-mail addresses, mentions, and anything with a digit in it
# (order numbers like #A1001, tracking numbers, prices, dates). A token is ASCII only: Chinese and Japanese
# write numbers inside words with no space ("订单40021187没到"), and the words around them are the language.
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|@\w+|[\x21-\x7e]*\d[\x21-\x7e]*")

_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF)),
    "kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    "han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F)),
    "arabic": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "cyrillic": ((0x0400, 0x04FF), (0x0500, 0x052F)),
    "latin": ((0x0041, 0x024F), (0x1E00, 0x1EFF)),
}
# One CJK character or Hangul syllable says about as much as a few Latin letters.
_WEIGHT = {"hangul": 3.0, "cjk": 3.0, "arabic": 1.0, "cyrillic": 1.0, "latin": 1.0}


@dataclass(frozen=True, slots=True)
class Detection:
    """`language` is one of SUPPORTED_LOCALES, or None when neither the text nor a hint tells it."""

    language: str | None
    confidence: float
    method: Method = "model"


_detector: LanguageDetector | None = None
_detector_lock = threading.Lock()


def warm_up(*, low_accuracy: bool = False) -> None:
    """Builds the detector and loads its models now (blocking, ~1.5 s; ~0.05 s in low-accuracy mode).

    Low-accuracy mode needs ~20 MB instead of ~170 MB but is worse on short texts."""
    global _detector
    with _detector_lock:
        if _detector is not None:
            return
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(IsoCode639_1.from_str(code) for code in NLU_LANGUAGES if code != "ru")
        )
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        detector = builder.build()
        # Models load on demand, per language. Only Latin text ever reaches lingua (other scripts are
        # decided by `_from_script`), so one Latin sentence loads every model it will need.
        detector.compute_language_confidence_values("Where is my parcel? Wo ist mein Paket?")
        _detector = detector


def _get_detector() -> LanguageDetector:
    if _detector is None:
        warm_up()
    assert _detector is not None
    return _detector


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


# Counting with compiled character classes runs in C: a character loop in Python cost ~0.3 ms per message.
_SCRIPT_PATTERNS = {
    script: re.compile(f"[{_char_class(ranges)}]") for script, ranges in _RANGES.items() if script != "latin"
}
_LATIN_LETTERS = "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_LATIN_LETTER = re.compile(f"[{_LATIN_LETTERS}]")
_NOT_LATIN_LETTER = re.compile(f"[^{_LATIN_LETTERS}]")
_LETTER = re.compile(r"[^\W\d_]")


def _count_scripts(text: str) -> dict[str, int]:
    """Characters of each script we decide by (Latin: letters only); "other" is the letters of any other
    script (Cyrillic, Thai…)."""
    counts = {script: len(pattern.findall(text)) for script, pattern in _SCRIPT_PATTERNS.items()}
    counts["latin"] = len(_LATIN_LETTER.findall(text))
    counts["other"] = max(0, len(_LETTER.findall(text)) - sum(counts.values()))
    return counts


def _from_script(counts: dict[str, int], hint: str | None, among: tuple[str, ...]) -> Detection | None:
    """A decision from the dominant script, or None when Latin letters dominate (lingua's turn)."""
    weighted = {
        "hangul": counts["hangul"] * _WEIGHT["hangul"],
        "cjk": (counts["han"] + counts["kana"]) * _WEIGHT["cjk"],
        "arabic": counts["arabic"] * _WEIGHT["arabic"],
        "cyrillic": counts["cyrillic"] * _WEIGHT["cyrillic"],
        "latin": counts["latin"] * _WEIGHT["latin"],
        "other": counts["other"] * _WEIGHT["latin"],
    }
    total = sum(weighted.values())
    dominant = max(weighted, key=lambda script: weighted[script])
    if dominant == "latin":
        # Buyers mix English words into their own language ("delivered بس مافي شي"), rarely the reverse: a
        # sizeable share of one of the other scripts names the language.
        dominant = max(("hangul", "cjk", "arabic", "cyrillic"), key=lambda script: weighted[script])
        if weighted[dominant] < MIXED_SCRIPT_SHARE * total:
            return None
    share = round(weighted[dominant] / total, 3)
    if dominant == "other" or (dominant == "cyrillic" and "ru" not in among):
        return Detection(
            None, share, "none"
        )  # Thai, Hebrew…: a language we do not support, whatever the hint
    if dominant == "cyrillic":
        return Detection("ru", share, "script")
    if dominant == "hangul":
        return Detection("ko", share, "script")
    if dominant == "arabic":
        return Detection("ar", share, "script")
    cjk = counts["han"] + counts["kana"]
    if counts["kana"] and counts["kana"] / cjk >= 0.1:
        return Detection("ja", share, "script")
    if hint == "ja" and counts["kana"] == 0 and cjk <= SHORT_KANJI_CHARS:
        return Detection("ja", share, "hint")
    return Detection("zh", share, "script")


def _from_model(latin_text: str, letters: int, hint: str | None, among: tuple[str, ...]) -> Detection:
    values = {
        code: value.value
        for value in _get_detector().compute_language_confidence_values(latin_text)
        if (code := value.language.iso_code_639_1.name.lower()) in among
    }
    total = sum(values.values()) or 1.0
    values = {code: value / total for code, value in values.items()}
    if hint in values:
        values[hint] *= HINT_WEIGHT
        total = sum(values.values()) or 1.0
        values = {code: value / total for code, value in values.items()}
    ranked = sorted(values.items(), key=lambda item: item[1], reverse=True)
    (best, best_value), (_, runner_up_value) = ranked[0], ranked[1]
    needed = SHORT_TEXT_CONFIDENCE if letters < SHORT_TEXT_LETTERS else 0.0
    if best_value >= needed and best_value - runner_up_value >= MIN_MARGIN:
        return Detection(best, round(best_value, 3), "model")
    if hint is not None:
        return Detection(hint, round(values.get(hint, 0.0), 3), "hint")
    return Detection(None, round(best_value, 3), "none")


def detect_by_script(
    text: str, *, hint: str | None = None, among: tuple[str, ...] = SUPPORTED_LOCALES
) -> str | None:
    """The language when the script alone tells it (Hangul, Kana, Han, Arabic, Cyrillic), without lingua."""
    counts = _count_scripts(_NOISE.sub(" ", text))
    if not any(counts.values()):
        return None
    detection = _from_script(counts, hint if hint in among else None, among)
    return detection.language if detection is not None and detection.method == "script" else None


def detect_language(
    text: str, *, hint: str | None = None, among: tuple[str, ...] = SUPPORTED_LOCALES
) -> Detection:
    """The language of `text` among `among` (the buyer pages' languages unless the caller understands more,
    as the assistant does), falling back to `hint` when the text can't tell.

    CPU-bound: microseconds for other scripts, ~0.2 ms for Latin text (lingua) once warm; loads the models on
    first use unless `warm_up()` ran."""
    if hint is not None and hint not in among:
        hint = None
    fallback = Detection(hint, 0.0, "hint") if hint is not None else Detection(None, 0.0, "none")
    cleaned = _NOISE.sub(" ", text)
    counts = _count_scripts(cleaned)
    if not any(counts.values()):
        return fallback
    by_script = _from_script(counts, hint, among)
    if by_script is not None:
        return by_script
    # Only the Latin part goes to lingua, so that a stray 谢谢 does not pull an English text towards zh.
    latin_text = _NOT_LATIN_LETTER.sub(" ", cleaned)
    return _from_model(latin_text, counts["latin"], hint, among)
