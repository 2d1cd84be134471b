"""Text helpers of entity extraction: folding that keeps offsets (one character in, one out), masking and
claiming spans so that no span is read twice, and word-list patterns that respect each script's words."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class Span(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


SpanT = TypeVar("SpanT", bound=Span)


# --- Folding: one character in, one character out, so offsets survive. ---

_FOLD_SPECIAL = {
    "ł": "l", "Ł": "l", "ı": "i", "İ": "i", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d",
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "٫": ".", "٬": ",", "￥": "¥", "’": "'", "‘": "'",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u3000": " ",
    "，": "，",  # CJK punctuation stays: "订单号：123，¥299" is not the number "123,299"
}  # fmt: skip


def _fold_char(char: str) -> str:
    if char in _FOLD_SPECIAL:
        return _FOLD_SPECIAL[char]
    if 0xFF01 <= ord(char) <= 0xFF5E:  # full-width ASCII: ＡＳ－１２３ → AS-123
        char = chr(ord(char) - 0xFEE0)
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    lower = char.lower()
    if len(lower) == 1:
        char = lower
    decomposed = unicodedata.normalize("NFD", char)
    if len(decomposed) > 1 and all(unicodedata.combining(mark) for mark in decomposed[1:]):
        return decomposed[0]
    return char


class _FoldTable(dict[int, str]):
    """A translation table that learns each character the first time `str.translate` asks for it."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD = _FoldTable()
MASK = "\x00"


def fold(text: str) -> str:
    return text.translate(_FOLD)


def mask(work: str, claimed: Sequence[Span]) -> str:
    pieces, cursor = [], 0
    for item in sorted(claimed, key=lambda span: span.start):
        pieces += [work[cursor : item.start], MASK * (item.end - item.start)]
        cursor = item.end
    return "".join([*pieces, work[cursor:]])


def claim(found: Iterable[SpanT]) -> list[SpanT]:
    """The longest of overlapping finds (the earliest among equals), in text order."""
    starts: list[int] = []
    ends: list[int] = []
    kept: list[SpanT] = []
    for item in sorted(found, key=lambda span: (span.start - span.end, span.start)):
        i = bisect_right(starts, item.start)
        if (i and ends[i - 1] > item.start) or (i < len(starts) and starts[i] < item.end):
            continue
        starts.insert(i, item.start)
        ends.insert(i, item.end)
        kept.insert(i, item)
    return kept


# --- Words: folded like the text, longest first, whole words where the script puts spaces between them. ---

LETTER = r"[^\W\d_]"


def script_of(char: str) -> str:
    return unicodedata.name(char, "").split(" ")[0]


def words_pattern(words: Iterable[str]) -> str:
    pieces = []
    for word in sorted({fold(word) for word in words}, key=lambda word: (-len(word), word)):
        first, *rest = word.split(" ")
        body = re.escape(first)
        if script_of(word[0]) in ("LATIN", "CYRILLIC"):
            # Checked after the first word, not before it: when every branch starts with a literal, `re`
            # jumps straight to the characters that can start one, and a branch fails on its second
            # letter before it gets to the look-behind. Both keep a long text fast.
            body += rf"(?<!{LETTER}.{{{len(first)}}})"
        body += "".join(r"\s{1,2}" + re.escape(part) for part in rest)
        if script_of(word[-1]) in ("LATIN", "CYRILLIC", "ARABIC"):
            body += rf"(?!{LETTER})"
        pieces.append(body)
    return "(?:" + "|".join(pieces) + ")"
