"""Words of every language mapped to shared concepts ("broken", "refund", "not received"…), so that what the
intent model learns from one language carries to the others, and words missing from its training data still
count.

The lexicon is data the project writes (`data/concepts/<lang>.json`, keys from `concepts.json`). Matching is
by dictionary lookup, not by one huge regular expression (Python's `re` would try every form at every
position): a word-script form is a prefix of a word ("kaputt" → "kaputten"), several words match word by
word; a Chinese, Japanese, Korean or Arabic form matches anywhere as a substring.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from aftersail.assistant.intents import NLU_LANGUAGES

# Shorter Latin or Cyrillic forms would hit unrelated words as prefixes; the few real short words
# ("tax", "vat") are matched whole instead.
MIN_PREFIX_CHARS = 4
_LONGEST_SUBSTRING_FORM = 12

# Latin combining accents and Arabic short vowels carry no meaning for matching; Japanese voicing marks do.
_DROPPED_MARKS = re.compile("[\u0300-\u036f\u064b-\u065f\u0670]")
_WORD = re.compile(r"[^\W_]+")
_SUBSTRING_SCRIPT = re.compile(
    "[\u0600-\u06ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"
)


def fold(text: str) -> str:
    """Case-, width- and accent-insensitive form of `text`, the same for the lexicon and for messages."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFC", _DROPPED_MARKS.sub("", unicodedata.normalize("NFD", text)))


@dataclass(slots=True)
class _WordForms:
    """Word-script forms keyed by their first word: whole words, prefixes, and the words that must follow."""

    whole: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)
    prefix: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)

    def add(self, words: list[str], concept: str) -> None:
        first, rest = words[0], tuple(words[1:])
        table = self.prefix if len(first) >= MIN_PREFIX_CHARS else self.whole
        table.setdefault(first, []).append((rest, concept))


class ConceptLexicon:
    """Finds the concepts a text mentions. Build once (`load_lexicon()`); `find` is pure and thread-safe."""

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._words = _WordForms()
        self._substrings: dict[str, str] = {}
        self.concepts: set[str] = set()
        for form, concept in entries:
            folded = fold(form).strip()
            if not folded:
                continue
            self.concepts.add(concept)
            if _SUBSTRING_SCRIPT.search(folded):
                key = folded.replace(" ", "")[:_LONGEST_SUBSTRING_FORM]
                self._substrings.setdefault(key, concept)
            else:
                words = _WORD.findall(folded)
                if words:
                    self._words.add(words, concept)
        self._longest_prefix = max((len(key) for key in self._words.prefix), default=0)

    def find(self, text: str) -> list[str]:
        """The concepts `text` mentions, in order of appearance, each once."""
        folded = fold(text)
        found: dict[str, None] = {}
        words = _WORD.findall(folded)
        for index, word in enumerate(words):
            for rest, concept in self._word_candidates(word):
                if concept not in found and _follows(words, index + 1, rest):
                    found[concept] = None
        if _SUBSTRING_SCRIPT.search(folded):
            compact = folded.replace(" ", "")
            substrings = self._substrings
            for start in range(len(compact)):
                for end in range(start + 1, min(len(compact), start + _LONGEST_SUBSTRING_FORM) + 1):
                    matched = substrings.get(compact[start:end])
                    if matched is not None and matched not in found:
                        found[matched] = None
        return list(found)

    def _word_candidates(self, word: str) -> Iterable[tuple[tuple[str, ...], str]]:
        yield from self._words.whole.get(word, ())
        prefix = self._words.prefix
        for length in range(MIN_PREFIX_CHARS, min(len(word), self._longest_prefix) + 1):
            yield from prefix.get(word[:length], ())


def _follows(words: list[str], start: int, rest: tuple[str, ...]) -> bool:
    if start + len(rest) > len(words):
        return False
    for offset, form in enumerate(rest):
        word = words[start + offset]
        if not (word == form or (len(form) >= MIN_PREFIX_CHARS and word.startswith(form))):
            return False
    return True


def _concept_files() -> list[Traversable]:
    root = resources.files("aftersail.assistant") / "data" / "concepts"
    return sorted(
        (path for path in root.iterdir() if path.name.endswith(".json")), key=lambda path: path.name
    )


@cache
def lexicon_digest() -> str:
    """Changes whenever a lexicon file does (a model trained on another lexicon is stale)."""
    digest = hashlib.sha256()
    for path in _concept_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def load_lexicon(languages: tuple[str, ...] = NLU_LANGUAGES) -> ConceptLexicon:
    """The shipped lexicon for `languages` (files that are missing are skipped)."""
    root = resources.files("aftersail.assistant") / "data" / "concepts"
    known = set(json.loads((root / "concepts.json").read_text(encoding="utf-8")))
    entries: list[tuple[str, str]] = []
    for language in languages:
        path = root / f"{language}.json"
        if not path.is_file():
            continue
        for concept, forms in json.loads(path.read_text(encoding="utf-8")).items():
            if concept in known:
                entries.extend((form, concept) for form in forms)
    return ConceptLexicon(entries)


def lexicon_for(lang: str) -> ConceptLexicon:
    """The lexicon a message in `lang` is read with: its own language's forms and English ones."""
    return load_lexicon(tuple(sorted({lang, "en"} & set(NLU_LANGUAGES))))
