"""The knowledge base console pages over HTTP (SQLite and PostgreSQL): in Chinese, an agent adds an article
through the form, finds it with the search box and in the assistant's view, fixes a refused form, edits and
deletes it; a viewer reads but cannot change; another store's article is a 404; typed markup stays text."""

from __future__ import annotations

import re
import uuid

import httpx

from aftersail.assistant import knowledge
from aftersail.kit.db import Database
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from tests.e2e.test_pages_shop import sign_in
from tests.factories import PASSWORD, TenantFixture, make_tenant

ARTICLE = {
    "language": "zh",
    "topic": "customs",
    "country": "us",
    "title": "美国进口关税说明",
    "body": "从深圳仓发往美国的订单，如金额超过 800 美元，买家需要在签收时支付关税。"
    "美国仓发货的订单不收关税。",
    "url": "https://help.example.com/zh/customs-us",
    "published": "on",
}


async def person(database: Database, tenant: TenantFixture, role: Role, locale: str = "zh") -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@seller.test"
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        await tenants.do_create_user(
            session,
            tenant_id=tenant.tenant_id,
            email=email,
            name=role.value.title(),
            password=PASSWORD,
            role=role,
            locale=locale,
        )
    return email


def rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-article-row="(\d+)"', html)]


async def test_an_agent_keeps_the_knowledge_base_in_chinese(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    csrf = await sign_in(client, await person(database, tenant, Role.AGENT))

    empty = await client.get("/knowledge")
    assert empty.status_code == 200 and '<html lang="zh"' in empty.text
    for text in (
        "知识库",
        "新建文章",
        "还没有文章",
        "智能助手会找到什么",
        'href="/knowledge" aria-current="page"',
    ):
        assert text in empty.text, text

    form = await client.get("/knowledge/new")
    assert form.status_code == 200 and "添加文章" in form.text and 'name="csrf_token"' in form.text
    refused = await client.post(
        "/knowledge/new",
        data={**ARTICLE, "title": " ", "country": "XX", "url": "ftp://x", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    for text in (
        "请输入标题。",
        "请输入两位国家代码",
        "请输入以 https:// 或 http:// 开头的网址",
        ARTICLE["body"],
    ):
        assert text in refused.text, text  # every problem at once, and what was typed is kept

    created = await client.post("/knowledge/new", data={**ARTICLE, "csrf_token": csrf})
    assert created.status_code == 303, created.text
    path = created.headers["location"]
    article_id = int(path.rsplit("/", 1)[1])
    page = await client.get(path)
    assert "文章已添加" in page.text and ARTICLE["title"] in page.text and 'value="US"' in page.text

    listing = await client.get("/knowledge", params={"q": "关税 深圳"})
    assert (
        rows(listing.text) == [article_id] and "kb-excerpt" in listing.text and "海关与关税" in listing.text
    )
    assert rows((await client.get("/knowledge", params={"language": "de"})).text) == []
    assert rows((await client.get("/knowledge", params={"topic": "customs", "language": "zh"})).text) == [
        article_id
    ]
    assert rows((await client.get("/knowledge", params={"q": '"OR" NEAR( *'})).text) == []

    asked = await client.get(
        "/knowledge", params={"ask": "我要交关税吗？", "ask_language": "zh", "ask_country": "us"}
    )
    assert f'data-hit="{article_id}"' in asked.text and ARTICLE["url"] in asked.text
    elsewhere = await client.get(
        "/knowledge", params={"ask": "关税", "ask_language": "zh", "ask_country": "DE"}
    )
    assert "没有匹配的已发布文章" in elsewhere.text  # another country's customs rules are never offered

    saved = await client.post(
        path, data={**ARTICLE, "title": "美国关税", "published": "", "csrf_token": csrf}
    )
    assert saved.status_code == 303
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        article = await knowledge.access_article(session, tenant.tenant_id, article_id)
        assert (article.title, article.published, article.updated_by_id) == (
            "美国关税",
            False,
            article.updated_by_id,
        )
        assert article.updated_by_id is not None
    assert "修改已保存" in (await client.get(path)).text
    drafts = await client.get("/knowledge", params={"ask": "关税", "ask_language": "zh"})
    assert f'data-hit="{article_id}"' not in drafts.text and "草稿" in drafts.text  # listed, never cited

    assert (await client.post(f"{path}/delete", data={})).status_code == 403  # no CSRF token
    deleted = await client.post(f"{path}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/knowledge"
    after = await client.get("/knowledge")
    assert "文章已删除" in after.text and rows(after.text) == []
    assert (await client.get(path)).status_code == 404


async def test_viewers_read_and_other_stores_see_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant, other = await make_tenant(database), await make_tenant(database)
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        article = await knowledge.do_create_article(
            session,
            tenant.tenant_id,
            {
                "language": "en",
                "topic": "usage",
                "title": "<script>alert(1)</script> Pairing",
                "body": "Hold <b>it</b>.",
            },
        )
    csrf = await sign_in(client, await person(database, tenant, Role.VIEWER, locale="en"))
    listing = await client.get("/knowledge")
    assert rows(listing.text) == [article.id] and "New article" not in listing.text
    assert "<script>alert(1)</script>" not in listing.text and "&lt;script&gt;" in listing.text
    page = await client.get(f"/knowledge/{article.id}")
    assert page.status_code == 200 and "Only admins and agents can change the knowledge base." in page.text
    assert '<fieldset class="kb-fieldset" disabled>' in page.text and "Delete for good" not in page.text
    assert (await client.get("/knowledge/new")).status_code == 403
    refused = await client.post(f"/knowledge/{article.id}", data={"title": "x", "csrf_token": csrf})
    assert refused.status_code == 403
    assert (
        await client.post(f"/knowledge/{article.id}/delete", data={"csrf_token": csrf})
    ).status_code == 403

    client.cookies.clear()
    await sign_in(client, await person(database, other, Role.ADMIN))
    assert (await client.get(f"/knowledge/{article.id}")).status_code == 404
    theirs = await client.get("/knowledge", params={"q": "Pairing", "ask": "Pairing", "ask_language": "en"})
    assert rows(theirs.text) == [] and "data-hit=" not in theirs.text and "&lt;script&gt;" not in theirs.text
    assert (await client.get("/knowledge/abc")).status_code == 422
