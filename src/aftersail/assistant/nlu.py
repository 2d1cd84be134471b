"""The offline intent model: what a buyer wants (one of 18 intents, with a confidence) and which language they
write in, trained from the messages the project ships (`data/train`) plus, per tenant, agents' corrections.

Features: character 1–4-grams and word 1–2-grams of the folded text (digits collapsed, so that order numbers
do not count), and the shared concepts of `concepts.py` (one vocabulary for all 14 languages). Two linear
SVMs on them: one for the intent, one for the language. Confidences are a softmax of the SVM scores with a
temperature fitted on held-back folds of the training data at training time.

Training takes a few seconds; a trained model is kept in the data directory (`nlu/`), keyed by a fingerprint
of its training data, and trained again on first use when the data changed (ADR 0015).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from aftersail.assistant.concepts import fold, lexicon_digest, lexicon_for
from aftersail.assistant.intents import INTENTS, NLU_LANGUAGES

MODEL_FORMAT = 1
MAX_TEXT_CHARS = 2_000  # the opening of a long email says what it is about; the rest costs time, not accuracy
INTENT_C = 0.5
LANGUAGE_C = 1.0
CONCEPT_WEIGHT = 0.2  # the concept block next to two unit-length n-gram blocks: measured 0.2 > 0.3 > 0.5
_TEMPERATURES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 11.0, 16.0, 24.0)
_DIGITS = re.compile(r"\d+")
_CONCEPT_PREFIX = "c_"
_NO_CONCEPT = "c__none"


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    lang: str


@dataclass(frozen=True, slots=True)
class Understanding:
    """`lang_confidence` is the language model's own; the assistant weighs it against lingua and hints."""

    intent: str
    confidence: float
    lang: str
    lang_confidence: float
    concepts: tuple[str, ...]


def read_examples(lines: Iterable[str], *, source: str = "input") -> list[Example]:
    """Examples from JSON lines `{"text", "intent", "lang"}`; a bad line raises ValueError naming it."""
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(str(row["text"]), str(row["intent"]), str(row["lang"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{source}, line {number}: expected {{text, intent, lang}} ({error})") from None
        if example.intent not in INTENTS:
            raise ValueError(f"{source}, line {number}: unknown intent {example.intent!r}")
        examples.append(example)
    return examples


def shipped_examples(kind: str = "train") -> list[Example]:
    """The training set (`train`) or the held-out evaluation set (`heldout`) shipped with the package."""
    root = resources.files("aftersail.assistant") / "data" / kind
    examples: list[Example] = []
    for language in NLU_LANGUAGES:
        path = root / f"{language}.jsonl"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            examples.extend(read_examples(text.splitlines(), source=f"{kind}/{language}.jsonl"))
    return examples


def fingerprint(examples: Sequence[Example]) -> str:
    digest = hashlib.sha256(f"format {MODEL_FORMAT}\nlexicon {lexicon_digest()}\n".encode())
    for example in examples:
        digest.update(f"{example.intent}\t{example.lang}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


def _prepared(text: str) -> str:
    return _DIGITS.sub("0", fold(text[:MAX_TEXT_CHARS]))


def _concept_doc(prepared: str, lang: str) -> str:
    found = lexicon_for(lang).find(prepared)
    return " ".join(_CONCEPT_PREFIX + concept for concept in found) or _NO_CONCEPT


class IntentModel:
    """A trained model. `understand_many` is the fast path (one matrix for the batch)."""

    def __init__(self, examples: Sequence[Example]) -> None:
        if not examples:
            raise ValueError("no training examples")
        self.fingerprint = fingerprint(examples)
        self.size = len(examples)
        self._chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2)
        self._words = TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"
        )
        self._concepts = CountVectorizer(analyzer=str.split, binary=True)
        texts = [_prepared(example.text) for example in examples]
        surface = sp.hstack(
            [self._chars.fit_transform(texts), self._words.fit_transform(texts)], format="csr"
        )
        languages = np.array([example.lang for example in examples])
        self._language = LinearSVC(C=LANGUAGE_C).fit(surface, languages)
        # Concepts are looked up in the message's own language (and English, which buyers mix in): the
        # training language is known; at inference it is the language model's answer.
        docs = [_concept_doc(text, example.lang) for text, example in zip(texts, examples, strict=True)]
        features = sp.hstack([surface, self._concepts.fit_transform(docs) * CONCEPT_WEIGHT], format="csr")
        intents = np.array([example.intent for example in examples])
        self._intent = LinearSVC(C=INTENT_C).fit(features, intents)
        self._temperature = _fit_temperature(features, intents)

    def understand_many(self, texts: Sequence[str]) -> list[Understanding]:
        if not texts:
            return []
        prepared = [_prepared(text) for text in texts]
        surface = sp.hstack([self._chars.transform(prepared), self._words.transform(prepared)], format="csr")
        language_p = _softmax(self._language.decision_function(surface) * 4.0)
        best_languages = np.argmax(language_p, axis=1)
        languages = [str(self._language.classes_[index]) for index in best_languages]
        docs = [_concept_doc(text, lang) for text, lang in zip(prepared, languages, strict=True)]
        features = sp.hstack([surface, self._concepts.transform(docs) * CONCEPT_WEIGHT], format="csr")
        intent_p = _softmax(self._intent.decision_function(features) * self._temperature)
        results = []
        for row, doc in enumerate(docs):
            best = int(np.argmax(intent_p[row]))
            concepts = tuple(word[len(_CONCEPT_PREFIX) :] for word in doc.split() if word != _NO_CONCEPT)
            results.append(
                Understanding(
                    intent=str(self._intent.classes_[best]),
                    confidence=round(float(intent_p[row, best]), 3),
                    lang=languages[row],
                    lang_confidence=round(float(language_p[row, best_languages[row]]), 3),
                    concepts=concepts,
                )
            )
        return results

    def understand(self, text: str) -> Understanding:
        return self.understand_many([text])[0]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _fit_temperature(features: sp.csr_matrix, intents: np.ndarray) -> float:
    """The softmax temperature whose confidences best match accuracy on folds the SVM did not see."""
    scores = np.zeros((features.shape[0], len(np.unique(intents))))
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=7)
    for train, test in folds.split(features, intents):
        model = LinearSVC(C=INTENT_C).fit(features[train], intents[train])
        scores[test] = model.decision_function(features[test])
    classes = np.unique(intents)
    truth = np.searchsorted(classes, intents)

    def log_loss(temperature: float) -> float:
        p = _softmax(scores * temperature)
        return float(-np.mean(np.log(p[np.arange(len(truth)), truth] + 1e-12)))

    return min(_TEMPERATURES, key=log_loss)


# -- keeping trained models ------------------------------------------------------------------------------


def model_path(data_dir: Path, name: str = "base") -> Path:
    return data_dir / "nlu" / f"{name}.pkl"


def save_model(model: IntentModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    temporary.replace(path)


def load_any(path: Path) -> IntentModel | None:
    """The model at `path` whatever it was trained on (a tenant's), or None when unreadable."""
    try:
        model = pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, AttributeError, EOFError, ImportError):
        return None
    return model if isinstance(model, IntentModel) else None


def load_saved(path: Path, expected_fingerprint: str) -> IntentModel | None:
    """The model at `path` when it was trained on the expected data by this version, else None.

    Only files this process's own data directory holds are read (pickle runs code: never load one from
    elsewhere)."""
    model = load_any(path)
    return model if model is not None and model.fingerprint == expected_fingerprint else None


_models: dict[str, IntentModel] = {}
_models_lock = threading.Lock()


def base_model(data_dir: Path | None = None) -> IntentModel:
    """The model trained on the shipped data: from memory, from `data_dir`, or trained now (and saved)."""
    with _models_lock:
        model = _models.get("base")
        if model is not None:
            return model
        examples = shipped_examples()
        expected = fingerprint(examples)
        path = model_path(data_dir) if data_dir is not None else None
        model = load_saved(path, expected) if path is not None else None
        if model is None:
            model = IntentModel(examples)
            if path is not None:
                save_model(model, path)
        _models["base"] = model
        return model


def remember_model(name: str, model: IntentModel) -> None:
    """Makes `model` the one `cached_model(name)` answers (after training a tenant's model)."""
    with _models_lock:
        _models[name] = model


def cached_model(name: str) -> IntentModel | None:
    with _models_lock:
        return _models.get(name)


def forget_model(name: str) -> IntentModel | None:
    """Drops `name` from memory (the next use loads or trains it again); returns what was there."""
    with _models_lock:
        return _models.pop(name, None)
