"""The assistant's reply templates: one per situation ("order_status.in_transit", "handoff.complaint"…) and
language, each in the four parts of a macro (greeting, problem, solution, open door), with variables the
assistant fills from what it looked up. The texts are data (`data/replies/<lang>.json`; English is the
source)."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aftersail.assistant.intents import NLU_LANGUAGES

PARTS = ("greeting", "problem", "solution", "open_door")
SOURCE_LANGUAGE = "en"


class TemplateError(ValueError):
    """A template file that breaks the contract (a missing situation, part or variable)."""


@dataclass(frozen=True, slots=True)
class Reply:
    situation: str
    lang: str
    greeting: str
    problem: str
    solution: str
    open_door: str

    @property
    def text(self) -> str:
        return "\n\n".join(
            part for part in (self.greeting, self.problem, self.solution, self.open_door) if part
        )


def variables(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@cache
def templates(lang: str) -> dict[str, dict[str, str]]:
    """The situations of `lang` ({} when the language has no file)."""
    path = resources.files("aftersail.assistant") / "data" / "replies" / f"{lang}.json"
    if not path.is_file():
        return {}
    loaded: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def situations() -> tuple[str, ...]:
    return tuple(templates(SOURCE_LANGUAGE))


def check_language(lang: str) -> list[str]:
    """What is wrong with `lang`'s file against the English one (empty when it keeps the contract)."""
    source, target = templates(SOURCE_LANGUAGE), templates(lang)
    problems = []
    for situation, parts in source.items():
        if situation not in target:
            problems.append(f"{lang}: {situation} missing")
            continue
        for part in PARTS:
            text = target[situation].get(part)
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{lang}: {situation}.{part} missing")
            elif variables(text) != variables(parts[part]):
                problems.append(
                    f"{lang}: {situation}.{part} has {sorted(variables(text))}, "
                    f"expected {sorted(variables(parts[part]))}"
                )
    problems.extend(
        f"{lang}: {situation} is not in the English file" for situation in set(target) - set(source)
    )
    return problems


def render(situation: str, lang: str, values: Mapping[str, object]) -> Reply:
    """The reply for `situation` in `lang` (English when that language has no template), filled with `values`.

    Raises TemplateError when a variable the template needs is not given: a reply with a hole in it is never
    sent."""
    language = lang if situation in templates(lang) else SOURCE_LANGUAGE
    parts = templates(language).get(situation)
    if parts is None:
        raise TemplateError(f"no reply template for {situation!r}")
    needed = set().union(*(variables(parts[part]) for part in PARTS))
    missing = sorted(needed - set(values))
    if missing:
        raise TemplateError(f"{situation}: no value for {', '.join(missing)}")
    filled = {
        part: parts[part].format_map({name: values[name] for name in variables(parts[part])})
        for part in PARTS
    }
    return Reply(situation, language, **filled)


def languages_with_templates() -> tuple[str, ...]:
    return tuple(lang for lang in NLU_LANGUAGES if templates(lang))


@cache
def needed(situation: str) -> frozenset[str]:
    """The variables a situation's template uses (in the source language, which every language follows)."""
    parts = templates(SOURCE_LANGUAGE).get(situation, {})
    return frozenset().union(*(variables(text) for text in parts.values())) if parts else frozenset()
