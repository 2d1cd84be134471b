"""API shapes of the knowledge base: articles in and out, partial changes, and search hits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints

from aftersail.assistant.intents import NLU_LANGUAGES
from aftersail.assistant.knowledge import MAX_BODY, MAX_TITLE, MAX_URL
from aftersail.assistant.knowledge_models import KbTopic
from aftersail.kit.validation import Out, Strict, check_country

KbLanguage = Literal[NLU_LANGUAGES]  # type: ignore[valid-type]


def _country_or_any(value: str) -> str:
    return check_country(value) if value else ""


def _web_address(value: str) -> str:
    if value and (urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).netloc):
        raise ValueError("must be a web address starting with https:// or http://, or empty")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


KbCountry = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=8), AfterValidator(_country_or_any)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY)]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_URL), AfterValidator(_web_address)
]


class ArticleIn(Strict):
    """A new article. `country` narrows it to buyers in one destination (customs rules); empty = any."""

    language: KbLanguage
    topic: KbTopic
    title: Title
    body: Body
    country: KbCountry = ""
    url: Url = ""
    published: bool = True


class ArticlePatch(Strict):
    """The fields to change; the ones left out stay as they are."""

    language: KbLanguage | None = None
    topic: KbTopic | None = None
    title: Title | None = None
    body: Body | None = None
    country: KbCountry | None = None
    url: Url | None = None
    published: bool | None = None


class ArticleOut(Out):
    id: int
    language: str
    topic: str
    country: str
    title: str
    body: str
    url: str
    published: bool
    created_at: datetime
    updated_at: datetime
    updated_by_id: int | None


class ArticleHitOut(Out):
    """An article found for a message: what the assistant would cite, with an excerpt around the match."""

    article_id: int
    title: str
    excerpt: str
    url: str
    score: float
    language: str
    country: str
    topic: str
