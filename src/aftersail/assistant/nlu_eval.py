"""Figures for an evaluation set: intent and language accuracy, macro-F1 per language, top confusions."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from aftersail.assistant.classify import Classification
from aftersail.assistant.intents import INTENTS
from aftersail.assistant.nlu import Example


@dataclass(frozen=True, slots=True)
class LanguageFigures:
    lang: str
    count: int
    intent_accuracy: float
    macro_f1: float
    lang_accuracy: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    count: int
    intent_accuracy: float
    lang_accuracy: float
    macro_f1: float
    per_language: tuple[LanguageFigures, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (expected, predicted, count), most frequent first

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "intent_accuracy": self.intent_accuracy,
            "lang_accuracy": self.lang_accuracy,
            "macro_f1": self.macro_f1,
            "per_language": {
                figures.lang: {
                    "count": figures.count,
                    "intent_accuracy": figures.intent_accuracy,
                    "macro_f1": figures.macro_f1,
                    "lang_accuracy": figures.lang_accuracy,
                }
                for figures in self.per_language
            },
            "confusions": [{"expected": e, "predicted": p, "count": n} for e, p, n in self.confusions],
        }


def macro_f1(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 over the intents present in `expected` (an intent never expected nor predicted is left out)."""
    labels = [label for label in INTENTS if label in set(expected) | set(predicted)]
    scores = []
    for label in labels:
        true_positive = sum(1 for e, p in zip(expected, predicted, strict=True) if e == p == label)
        predicted_count = sum(1 for p in predicted if p == label)
        expected_count = sum(1 for e in expected if e == label)
        if expected_count == 0:
            continue
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / expected_count
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def evaluate(examples: Sequence[Example], results: Sequence[Classification], *, top: int = 10) -> EvalReport:
    if len(examples) != len(results):
        raise ValueError("one result per example expected")
    if not examples:
        raise ValueError("the evaluation set is empty")
    by_language: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        by_language[example.lang].append(index)
    per_language = []
    for lang in sorted(by_language):
        rows = by_language[lang]
        expected = [examples[i].intent for i in rows]
        predicted = [results[i].intent for i in rows]
        per_language.append(
            LanguageFigures(
                lang=lang,
                count=len(rows),
                intent_accuracy=_share(
                    sum(e == p for e, p in zip(expected, predicted, strict=True)), len(rows)
                ),
                macro_f1=round(macro_f1(expected, predicted), 4),
                lang_accuracy=_share(sum(results[i].lang == lang for i in rows), len(rows)),
            )
        )
    confusions = Counter(
        (example.intent, result.intent)
        for example, result in zip(examples, results, strict=True)
        if example.intent != result.intent
    )
    return EvalReport(
        count=len(examples),
        intent_accuracy=_share(
            sum(e.intent == r.intent for e, r in zip(examples, results, strict=True)), len(examples)
        ),
        lang_accuracy=_share(
            sum(e.lang == r.lang for e, r in zip(examples, results, strict=True)), len(examples)
        ),
        macro_f1=round(macro_f1([e.intent for e in examples], [r.intent for r in results]), 4),
        per_language=tuple(per_language),
        confusions=tuple((e, p, n) for (e, p), n in confusions.most_common(top)),
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4)
