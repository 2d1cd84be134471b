"""HTTP routes of the assistant domain: the knowledge base (articles, and the search the assistant runs on a
buyer's message)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from aftersail.assistant import knowledge
from aftersail.assistant.knowledge_models import KbTopic
from aftersail.assistant.knowledge_schemas import (
    ArticleHitOut,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    KbLanguage,
)
from aftersail.kit.validation import PathId, query_text
from aftersail.tenants.rules import Permission
from aftersail.tenants.service import Principal
from aftersail.web.deps import Reader, SessionDep, require

router = APIRouter(tags=["knowledge base"])
# Agents keep the knowledge base as they keep tickets: admins and agents write, every role reads.
KnowledgeWriter = Annotated[Principal, Depends(require(Permission.WRITE_TICKETS))]
CountryFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")]


@router.get("/kb/articles", response_model=list[ArticleOut])
async def list_articles(
    session: SessionDep,
    principal: Reader,
    language: KbLanguage | None = None,
    topic: KbTopic | None = None,
    q: Annotated[str | None, query_text(500, "Words to look for; best matches first")] = None,
) -> list[ArticleOut]:
    """Every article of the store, drafts included: the most recently changed first, or with `q` the best
    matches first."""
    articles = await knowledge.list_articles(
        session, principal.tenant_id, language=language, topic=topic, query=q
    )
    return [ArticleOut.model_validate(a) for a in articles]


@router.post("/kb/articles", status_code=201, response_model=ArticleOut)
async def create_article(body: ArticleIn, session: SessionDep, principal: KnowledgeWriter) -> ArticleOut:
    article = await knowledge.do_create_article(
        session, principal.tenant_id, body.model_dump(mode="json"), author_id=principal.user_id
    )
    return ArticleOut.model_validate(article)


@router.get("/kb/articles/{article_id}", response_model=ArticleOut)
async def get_article(article_id: PathId, session: SessionDep, principal: Reader) -> ArticleOut:
    return ArticleOut.model_validate(await knowledge.access_article(session, principal.tenant_id, article_id))


@router.patch("/kb/articles/{article_id}", response_model=ArticleOut)
async def change_article(
    article_id: PathId, body: ArticlePatch, session: SessionDep, principal: KnowledgeWriter
) -> ArticleOut:
    article = await knowledge.access_article(session, principal.tenant_id, article_id)
    changes = body.model_dump(mode="json", exclude_none=True)
    if changes:
        await knowledge.do_update_article(session, article, changes, author_id=principal.user_id)
    return ArticleOut.model_validate(article)


@router.delete("/kb/articles/{article_id}", status_code=204)
async def delete_article(article_id: PathId, session: SessionDep, principal: KnowledgeWriter) -> Response:
    article = await knowledge.access_article(session, principal.tenant_id, article_id)
    await knowledge.do_delete_article(session, article)
    return Response(status_code=204)


@router.get("/kb/search", response_model=list[ArticleHitOut])
async def search_articles(
    session: SessionDep,
    principal: Reader,
    language: KbLanguage = "en",
    q: Annotated[str, query_text(2_000, "The buyer's message, as written")] = "",
    country: CountryFilter = None,
    topic: KbTopic | None = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 3,
) -> list[ArticleHitOut]:
    """The published articles the assistant would cite for a buyer's message in `language` (in English
    when that language has nothing that matches); `country`'s own articles first, other countries' never."""
    hits = await knowledge.search_articles(
        session,
        principal.tenant_id,
        language=language,
        query=q,
        topic=topic,
        country=country,
        limit=limit,
    )
    return [ArticleHitOut.model_validate(hit) for hit in hits]
