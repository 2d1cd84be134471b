"""The tenant's knowledge base: writing articles, listing them for the console, and `search_articles`, which
the assistant calls with a buyer's message to find the articles it answers from and cites.

Search runs in the database: FTS5 and bm25 on SQLite, a tsvector and ts_rank on PostgreSQL (migration 0006;
docs/subsystems/knowledge-base.md). The text rules — terms, CJK pairs, excerpts — are in knowledge_text.
Services only flush; the request or job owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Float,
    Select,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant.intents import NLU_LANGUAGES
from aftersail.assistant.knowledge_models import KbArticle, KbTopic
from aftersail.assistant.knowledge_text import (
    SearchTerm,
    cjk_index_text,
    excerpt,
    postgres_tsquery,
    query_terms,
    sqlite_match,
)
from aftersail.kit.clock import utcnow
from aftersail.kit.db import on_postgres
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.i18n import N_
from aftersail.kit.validation import check_country

FALLBACK_LANGUAGE = "en"
SEARCH_CONFIG = "aftersail_kb"  # the PostgreSQL text search configuration of migration 0006
LIST_LIMIT = 500
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_URL = 500
ARTICLE_FIELDS = ("language", "topic", "country", "title", "body", "url", "published")
# bm25 column weights on SQLite (title, body, search_cjk); PostgreSQL weighs them A, B, C.
_BM25 = "bm25(kb_articles_fts, 4.0, 1.0, 1.0)"
_FTS = table("kb_articles_fts", column("rowid"))

# Shown to people as they are (API) or translated (console form): keep them plain.
ERRORS = {
    "language": N_("Choose one of the assistant's languages."),
    "topic": N_("Choose a topic from the list."),
    "country": N_("Enter a two-letter country code such as DE, or leave it empty for every country."),
    "title": N_("Enter a title."),
    "title_long": N_("Keep the title within 200 characters."),
    "body": N_("Write the text of the article."),
    "body_long": N_("Keep the article within 20,000 characters."),
    "url": N_("Enter a web address that starts with https:// or http://, or leave it empty."),
    "published": N_("Say whether the article is published: true or false."),
}


@dataclass(frozen=True, slots=True)
class ArticleHit:
    """One article found for a buyer's message: what the assistant cites. `score` is higher for better
    matches (bm25 on SQLite, ts_rank on PostgreSQL: comparable within one search only)."""

    article_id: int
    title: str
    excerpt: str  # at most 300 characters of the body around the best match
    url: str
    score: float
    language: str  # the article's: English when the buyer's language had nothing
    country: str
    topic: str


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc) and not any(c.isspace() for c in url)


def check_article_fields(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(cleaned fields, an error message per bad field) for a whole article: text trimmed, the country
    upper-cased. The console form shows every error at once; the service raises the first."""
    errors: dict[str, str] = {}
    language = str(fields.get("language") or "").strip().lower()
    if language not in NLU_LANGUAGES:
        errors["language"] = ERRORS["language"]
    topic = str(fields.get("topic") or "").strip().lower()
    if topic not in {t.value for t in KbTopic}:
        errors["topic"] = ERRORS["topic"]
    country = str(fields.get("country") or "").strip().upper()
    if country:
        try:
            country = check_country(country)
        except ValueError:
            errors["country"] = ERRORS["country"]
    # PostgreSQL text cannot hold a NUL character; one pasted into a form is dropped, not refused.
    title = " ".join(str(fields.get("title") or "").replace("\x00", "").split())
    if not title:
        errors["title"] = ERRORS["title"]
    elif len(title) > MAX_TITLE:
        errors["title"] = ERRORS["title_long"]
    body = str(fields.get("body") or "").replace("\x00", "").replace("\r\n", "\n").strip()
    if not body:
        errors["body"] = ERRORS["body"]
    elif len(body) > MAX_BODY:
        errors["body"] = ERRORS["body_long"]
    url = str(fields.get("url") or "").replace("\x00", "").strip()
    if url and (len(url) > MAX_URL or not _valid_url(url)):
        errors["url"] = ERRORS["url"]
    published = fields.get("published", True)
    if not isinstance(published, bool):
        errors["published"] = ERRORS["published"]
    clean = {
        "language": language,
        "topic": topic,
        "country": country,
        "title": title,
        "body": body,
        "url": url,
        "published": published,
    }
    return clean, errors


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    clean, errors = check_article_fields(fields)
    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field)
    return clean


def _apply(article: KbArticle, clean: Mapping[str, Any], author_id: int | None) -> None:
    for name in ARTICLE_FIELDS:
        setattr(article, name, clean[name])
    article.search_cjk = cjk_index_text(clean["title"], clean["body"])
    article.updated_at = utcnow()
    article.updated_by_id = author_id


async def do_create_article(
    session: AsyncSession, tenant_id: int, fields: Mapping[str, Any], *, author_id: int | None = None
) -> KbArticle:
    """A new article from `fields` (language, topic, title, body; country, url, published optional)."""
    unknown = set(fields) - set(ARTICLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown article fields: {', '.join(sorted(unknown))}.", field=min(unknown))
    clean = _checked({"country": "", "url": "", "published": True, **fields})
    article = KbArticle(tenant_id=tenant_id, created_at=utcnow())
    _apply(article, clean, author_id)
    session.add(article)
    await session.flush()
    return article


async def do_update_article(
    session: AsyncSession, article: KbArticle, changes: Mapping[str, Any], *, author_id: int | None = None
) -> KbArticle:
    """Change some fields of `article` (the others stay); the whole article is checked again."""
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown article fields: {', '.join(sorted(unknown))}.", field=min(unknown))
    current = {name: getattr(article, name) for name in ARTICLE_FIELDS}
    _apply(article, _checked({**current, **changes}), author_id)
    await session.flush()
    return article


async def do_delete_article(session: AsyncSession, article: KbArticle) -> None:
    await session.delete(article)
    await session.flush()


async def access_article(session: AsyncSession, tenant_id: int, article_id: int) -> KbArticle:
    article = await session.scalar(
        select(KbArticle).where(KbArticle.tenant_id == tenant_id, KbArticle.id == article_id)
    )
    if article is None:
        raise NotFound(f"Article {article_id} does not exist.", article_id=article_id)
    return article


async def list_articles(
    session: AsyncSession,
    tenant_id: int,
    *,
    language: str | None = None,
    topic: str | None = None,
    query: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[KbArticle]:
    """The tenant's articles, drafts included: the best matches first when `query` is given (the same
    full-text search the assistant uses), else the most recently changed first."""
    if query is not None and query.strip():
        terms = query_terms(query)
        if not terms:
            return []
        found = await _search(
            session,
            tenant_id,
            terms,
            languages=[language] if language else None,
            topic=topic,
            country=None,
            published_only=False,
            limit=limit,
        )
        return [article for article, _ in found]
    statement = select(KbArticle).where(KbArticle.tenant_id == tenant_id)
    if language:
        statement = statement.where(KbArticle.language == language)
    if topic:
        statement = statement.where(KbArticle.topic == topic)
    statement = statement.order_by(KbArticle.updated_at.desc(), KbArticle.id.desc()).limit(limit)
    return list(await session.scalars(statement))


async def search_articles(
    session: AsyncSession,
    tenant_id: int,
    *,
    language: str,
    query: str,
    topic: str | None = None,
    country: str | None = None,
    limit: int = 3,
) -> list[ArticleHit]:
    """The published articles that best answer `query` (a buyer's message, as written), in `language`;
    in English when nothing in `language` matches. With `country`, that country's articles come before
    the ones for every country, and other countries' articles are left out. Any text is safe: it is
    reduced to plain terms first (knowledge_text.query_terms)."""
    terms = query_terms(query)
    if not terms or limit < 1:
        return []
    country = (country or "").strip().upper() or None
    language = language.strip().lower().replace("_", "-").split("-")[0]  # "zh-Hans" → "zh"
    languages = [language] + ([FALLBACK_LANGUAGE] if language != FALLBACK_LANGUAGE else [])
    found: list[tuple[KbArticle, float]] = []
    for searched in languages:
        found = await _search(
            session,
            tenant_id,
            terms,
            languages=[searched],
            topic=topic,
            country=country,
            published_only=True,
            limit=limit,
        )
        if found:
            break
    return [_hit(article, score, terms) for article, score in found]


def _hit(article: KbArticle, score: float, terms: Sequence[SearchTerm]) -> ArticleHit:
    return ArticleHit(
        article_id=article.id,
        title=article.title,
        excerpt=excerpt(article.body, terms),
        url=article.url,
        score=round(float(score), 6),
        language=article.language,
        country=article.country,
        topic=article.topic,
    )


def article_excerpt(article: KbArticle, query: str) -> str:
    """The excerpt of `article` for `query`, as a search hit shows it (the console's list)."""
    return excerpt(article.body, query_terms(query))


async def _search(
    session: AsyncSession,
    tenant_id: int,
    terms: Sequence[SearchTerm],
    *,
    languages: Sequence[str] | None,
    topic: str | None,
    country: str | None,
    published_only: bool,
    limit: int,
) -> list[tuple[KbArticle, float]]:
    statement = _postgres_search(terms) if on_postgres(session) else _sqlite_search(terms)
    statement = statement.where(KbArticle.tenant_id == tenant_id)
    if languages is not None:
        statement = statement.where(KbArticle.language.in_(languages))
    if topic:
        statement = statement.where(KbArticle.topic == topic)
    if published_only:
        statement = statement.where(KbArticle.published.is_(True))
    order: list[Any] = []
    if country:
        statement = statement.where(KbArticle.country.in_([country, ""]))
        order.append(case((KbArticle.country == country, 0), else_=1))
    score = literal_column("score", Float)
    statement = statement.order_by(*order, score.desc(), KbArticle.id).limit(limit)
    return [(article, float(value)) for article, value in (await session.execute(statement)).all()]


def _sqlite_search(terms: Sequence[SearchTerm]) -> Select[KbArticle, float]:
    # bm25() is lower for better matches; negated, every backend's score is "higher is better".
    return (
        select(KbArticle, literal_column(f"-{_BM25}", Float).label("score"))
        .join_from(KbArticle, _FTS, _FTS.c.rowid == KbArticle.id)
        .where(text("kb_articles_fts MATCH :match").bindparams(match=sqlite_match(terms)))
    )


def _postgres_search(terms: Sequence[SearchTerm]) -> Select[KbArticle, float]:
    vector = literal_column("kb_articles.search_vector", TSVECTOR)
    query = func.to_tsquery(
        cast(literal(SEARCH_CONFIG), REGCONFIG), bindparam("tsquery", postgres_tsquery(terms))
    )
    # Normalization 1: divided by 1 + log(length), so that a long article does not win by size alone.
    return select(KbArticle, func.ts_rank(vector, query, 1, type_=Float).label("score")).where(
        vector.op("@@")(query)
    )
