"""Console pages of the knowledge base: `/knowledge` (the articles, filtered and searched, and a box that
shows what the assistant would find for a buyer's question) and `/knowledge/new`, `/knowledge/{id}` (the
article form; deleting asks first). Plain forms posted with the session's CSRF token; no script needed.
Admins and agents write; the other roles read.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from aftersail.assistant import knowledge
from aftersail.assistant.intents import NLU_LANGUAGES
from aftersail.assistant.knowledge_models import KbArticle, KbTopic
from aftersail.kit.errors import PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.kit.validation import PathId
from aftersail.orders.page_forms import forget_notice, remember_notice, take_notice
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

WRITE = Permission.WRITE_TICKETS  # as the API: admins and agents
TOPIC_LABELS = {
    KbTopic.USAGE: N_("Using the product"),
    KbTopic.PRODUCT: N_("Product facts"),
    KbTopic.CUSTOMS: N_("Customs and duties"),
    KbTopic.SHIPPING: N_("Shipping"),
    KbTopic.RETURNS: N_("Returns"),
    KbTopic.PAYMENT: N_("Payment"),
    KbTopic.OTHER: N_("Other"),
}
NOTICES = {
    "created": N_("The article was added. The assistant can cite it once it is published."),
    "saved": N_("Your changes were saved."),
    "deleted": N_("The article was deleted."),
}
NOT_ALLOWED = N_("Only admins and agents can change the knowledge base.")
SEARCH_LIMIT = 5
MAX_QUERY = 500


def _can_write(console: ConsoleContext) -> bool:
    return role_allows(console.user.role, WRITE)


def _require_writer(console: ConsoleContext) -> None:
    if not _can_write(console):
        raise PermissionDenied(NOT_ALLOWED)


def _choice(value: str, allowed: tuple[str, ...] | list[str]) -> str:
    """A filter's value when it is one of `allowed`, else no filter (a hand-edited link shows everything)."""
    value = value.strip().lower()
    return value if value in allowed else ""


def _base_context(request: Request, console: ConsoleContext) -> dict[str, Any]:
    return {
        "request": request,
        "console": console,
        "nav": "knowledge",
        "languages": NLU_LANGUAGES,
        "topics": TOPIC_LABELS,
        "can_write": _can_write(console),
    }


@router.get("/knowledge")
async def knowledge_page(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    language: str = "",
    topic: str = "",
    q: str = "",
    ask: str = "",
    ask_language: str = "",
    ask_country: str = "",
) -> HTMLResponse:
    tenant_id = console.tenant.id
    topics = [t.value for t in KbTopic]
    filters = {
        "language": _choice(language, NLU_LANGUAGES),
        "topic": _choice(topic, topics),
        "q": " ".join(q.split())[:MAX_QUERY],
    }
    articles = await knowledge.list_articles(
        session,
        tenant_id,
        language=filters["language"] or None,
        topic=filters["topic"] or None,
        query=filters["q"] or None,
    )
    excerpts = {a.id: knowledge.article_excerpt(a, filters["q"]) for a in articles} if filters["q"] else {}
    # The assistant's view: what it would cite for this question, in this language, for this country.
    trial = {
        "ask": " ".join(ask.split())[:MAX_QUERY],
        "language": _choice(ask_language, NLU_LANGUAGES) or _choice(console.locale, NLU_LANGUAGES) or "en",
        "country": ask_country.strip().upper()[:2] if ask_country.strip().isalpha() else "",
    }
    hits: list[knowledge.ArticleHit] | None = None
    if trial["ask"]:
        hits = await knowledge.search_articles(
            session,
            tenant_id,
            language=trial["language"],
            query=trial["ask"],
            country=trial["country"] or None,
            limit=SEARCH_LIMIT,
        )
    context = {
        **_base_context(request, console),
        "articles": articles,
        "excerpts": excerpts,
        "filters": filters,
        "filtered": any(filters.values()),
        "trial": trial,
        "hits": hits,
        "notice": take_notice(request, NOTICES),
    }
    response = render("console/knowledge.html", context, locale=console.locale)
    if context["notice"]:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


def _form_values(form: FormData) -> dict[str, Any]:
    def text(name: str, limit: int) -> str:
        value = form.get(name)
        return value[: limit + 1] if isinstance(value, str) else ""

    return {
        "language": text("language", 8),
        "topic": text("topic", 40),
        "country": text("country", 8),
        "title": text("title", knowledge.MAX_TITLE + 200),
        "body": text("body", knowledge.MAX_BODY + 1_000),
        "url": text("url", knowledge.MAX_URL + 100),
        "published": form.get("published") == "on",
    }


def _article_values(article: KbArticle | None, console: ConsoleContext) -> dict[str, Any]:
    if article is None:
        return {
            "language": "en",
            "topic": KbTopic.OTHER.value,
            "country": "",
            "title": "",
            "body": "",
            "url": "",
            "published": True,
        }
    return {name: getattr(article, name) for name in knowledge.ARTICLE_FIELDS}


def _form_page(
    request: Request,
    console: ConsoleContext,
    article: KbArticle | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        **_base_context(request, console),
        "article": article,
        "values": values,
        "errors": errors,
        "notice": take_notice(request, NOTICES) if status_code == 200 else None,
    }
    response = render(
        "console/knowledge_article.html", context, locale=console.locale, status_code=status_code
    )
    if context["notice"]:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


def _saved(request: Request, path: str, notice: str) -> Response:
    response = RedirectResponse(path, status_code=303)
    remember_notice(response, notice, path, request.app.state.services.settings.cookies_secure)
    return response


@router.get("/knowledge/new")
async def new_article_page(request: Request, console: ConsoleDep) -> HTMLResponse:
    _require_writer(console)
    return _form_page(request, console, None, _article_values(None, console), {})


@router.post("/knowledge/new")
async def create_article(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    _require_writer(console)
    values = _form_values(await request.form())
    _, errors = knowledge.check_article_fields(values)
    if errors:
        return _form_page(request, console, None, values, errors, status_code=422)
    article = await knowledge.do_create_article(session, console.tenant.id, values, author_id=console.user.id)
    return _saved(request, f"/knowledge/{article.id}", "created")


@router.get("/knowledge/{article_id}")
async def article_page(
    request: Request, article_id: PathId, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    article = await knowledge.access_article(session, console.tenant.id, article_id)
    return _form_page(request, console, article, _article_values(article, console), {})


@router.post("/knowledge/{article_id}")
async def save_article(
    request: Request, article_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require_writer(console)
    article = await knowledge.access_article(session, console.tenant.id, article_id)
    values = _form_values(await request.form())
    _, errors = knowledge.check_article_fields(values)
    if errors:
        return _form_page(request, console, article, values, errors, status_code=422)
    await knowledge.do_update_article(session, article, values, author_id=console.user.id)
    return _saved(request, f"/knowledge/{article.id}", "saved")


@router.post("/knowledge/{article_id}/delete")
async def delete_article(
    request: Request, article_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require_writer(console)
    article = await knowledge.access_article(session, console.tenant.id, article_id)
    await knowledge.do_delete_article(session, article)
    return _saved(request, "/knowledge", "deleted")
