"""The knowledge base on a migrated database (SQLite FTS5 and PostgreSQL tsvector): words in any order and
without accents, Chinese and Japanese without spaces, English when the buyer's language has nothing, the
buyer's country first, drafts and other tenants never, and no message — however hostile — makes search
fail."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from aftersail.assistant import knowledge
from aftersail.assistant.knowledge import ArticleHit
from aftersail.kit.db import Database, create_engine
from aftersail.kit.errors import InvalidInput, NotFound
from aftersail.kit.migrate import alembic_config, upgrade_async
from tests.conftest import POSTGRES_URL, _create_postgres_database, _drop_postgres_database
from tests.factories import make_tenant

CUSTOMS_DE = (
    "Zölle und Einfuhrumsatzsteuer",
    "Bei Lieferungen aus unserem Lager in Frankfurt fallen keine Zollgebühren an. Bestellungen aus dem "
    "Lager in Shenzhen werden beim Import verzollt; die Zölle zahlt der Zusteller vorab.",
)
RETURNS_DE = ("Rücksendung in 30 Tagen", "Sie können jeden Artikel innerhalb von 30 Tagen zurücksenden.")
CUSTOMS_ZH = (
    "进口关税说明",
    "美国买家收到包裹时，如订单金额超过免税额度，需要支付关税。欧洲仓发货的订单已经包含增值税。",
)
RETURNS_ZH = ("退货政策", "收到商品三十天内可以申请退货，请保留原包装。")
CUSTOMS_JA = (
    "関税について",
    "日本へのお届けでは、関税と消費税はお客様のご負担となります。配達時にお支払いください。",
)
USAGE_JA = ("充電の方法", "付属のケーブルで本体を充電してください。ランプが緑色になれば完了です。")
HOSTILE = [
    '"',
    '""',
    '"unterminated',
    "OR",
    "AND OR NOT NEAR",
    "NEAR(customs duties, 2)",
    "customs OR",
    "*",
    "cust*",
    "^customs",
    "()",
    "(customs",
    "customs)",
    "title:customs",
    "{title body}: customs",
    "-customs +duties",
    "customs & duties | !refund <-> x",
    "'; DROP TABLE kb_articles; --",
    "\\' \\\" \\\\",
    "%_%",
    "Order #AS-100234, tracking 1Z999AA10123456784",
    "😀🎉 👍",
    "\u200b\u200d\ufeff",
    "ｃｕｓｔｏｍｓ　ｄｕｔｉｅｓ",
    "Ζ" * 3000,
    "x" * 5000,
    "customs " * 20_000,
    "关税" * 50_000,
    ('words and more words, (quoted) "phrases" OR * NEAR ' * 2_000)[:100_000],
]


async def add(db: Database, tenant_id: int, **fields: Any) -> int:
    fields.setdefault("topic", "other")
    async with db.transaction(tenant_id=tenant_id) as session:
        return (await knowledge.do_create_article(session, tenant_id, fields)).id


async def search(db: Database, tenant_id: int, language: str, query: str, **options: Any) -> list[ArticleHit]:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        return await knowledge.search_articles(session, tenant_id, language=language, query=query, **options)


async def ids(db: Database, tenant_id: int, language: str, query: str, **options: Any) -> list[int]:
    return [hit.article_id for hit in await search(db, tenant_id, language, query, **options)]


async def test_words_in_any_order_in_any_case_without_accents(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    customs = await add(
        database, tenant, language="de", topic="customs", title=CUSTOMS_DE[0], body=CUSTOMS_DE[1]
    )
    returns = await add(
        database, tenant, language="de", topic="returns", title=RETURNS_DE[0], body=RETURNS_DE[1]
    )
    fees = await add(
        database,
        tenant,
        language="fr",
        topic="customs",
        title="Frais de dédouanement",
        body="Les frais de dédouanement sont réglés à la livraison. Le café est offert.",
    )

    assert await ids(database, tenant, "de", "Wie hoch sind die Zollgebühren?") == [customs]
    assert await ids(database, tenant, "de", "zollgebühren") == [customs]
    assert await ids(database, tenant, "de", "ZOLLGEBÜHREN") == [customs]
    assert await ids(database, tenant, "de", "zollgebuhren") == [customs]  # typed without the umlaut
    assert await ids(database, tenant, "de", "Zoll") == [customs]  # a prefix of "Zölle", accent folded
    assert await ids(database, tenant, "de", "Shenzhen Lager Import") == [customs]
    assert await ids(database, tenant, "de", "Import Lager Shenzhen") == [customs]  # any order
    assert await ids(database, tenant, "de", "zurücksenden Artikel") == [returns]
    assert await ids(database, tenant, "fr", "dedouanement") == [fees]  # é typed as e
    assert await ids(database, tenant, "fr", "DÉDOUANEMENT cafe") == [fees]

    [hit] = await search(database, tenant, "de", "Was kosten die Zölle?")
    assert hit.title == CUSTOMS_DE[0] and hit.language == "de" and hit.topic == "customs"
    assert hit.score > 0 and "Zölle" in hit.excerpt and len(hit.excerpt) <= 300


async def test_chinese_japanese_and_korean_are_found_without_spaces(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    customs_zh = await add(database, tenant, language="zh", title=CUSTOMS_ZH[0], body=CUSTOMS_ZH[1])
    returns_zh = await add(database, tenant, language="zh", title=RETURNS_ZH[0], body=RETURNS_ZH[1])
    customs_ja = await add(database, tenant, language="ja", title=CUSTOMS_JA[0], body=CUSTOMS_JA[1])
    usage_ja = await add(database, tenant, language="ja", title=USAGE_JA[0], body=USAGE_JA[1])
    customs_ko = await add(
        database,
        tenant,
        language="ko",
        title="관세 안내",
        body="한국으로 배송되는 주문은 관세가 부과될 수 있습니다.",
    )

    assert await ids(database, tenant, "zh", "关税") == [customs_zh]
    assert await ids(database, tenant, "zh-Hans", "关税") == [customs_zh]  # a tag with its script
    assert (await ids(database, tenant, "zh", "我的包裹要交关税吗？多少钱"))[0] == customs_zh
    assert await ids(database, tenant, "zh", "我想退货") == [returns_zh]
    assert await ids(database, tenant, "zh", "税") == [customs_zh]  # one character alone
    assert await ids(database, tenant, "ja", "関税はいくらですか？") == [customs_ja]
    assert await ids(database, tenant, "ja", "充電できません") == [usage_ja]
    assert await ids(database, tenant, "ko", "관세는 얼마예요?") == [customs_ko]
    [hit] = await search(database, tenant, "zh", "关税")
    assert "关税" in hit.excerpt and hit.title == CUSTOMS_ZH[0]


async def test_english_when_the_buyers_language_has_nothing(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    english = await add(
        database,
        tenant,
        language="en",
        topic="customs",
        title="Customs duties and import VAT",
        body="Orders shipped from our Shenzhen warehouse pay customs duties on import.",
        url="https://help.example.com/customs",
    )
    await add(
        database, tenant, language="es", title="Devoluciones", body="Puede devolver cualquier artículo."
    )

    [hit] = await search(database, tenant, "fr", "customs duties")  # no French articles at all
    assert (hit.article_id, hit.language, hit.url) == (english, "en", "https://help.example.com/customs")
    assert await ids(database, tenant, "es", "customs duties") == [english]  # Spanish ones, none matching
    assert await ids(database, tenant, "es", "devolver") != [english]
    assert await ids(database, tenant, "en", "nothing like it") == []


async def test_the_buyers_country_comes_first_and_other_countries_never(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    anywhere = await add(
        database,
        tenant,
        language="en",
        topic="customs",
        title="Customs duties, customs duties everywhere",
        body="Customs duties depend on your country. Customs duties are shown at checkout.",
    )
    germany = await add(
        database,
        tenant,
        language="en",
        topic="customs",
        country="de",
        title="Import VAT in Germany",
        body="Buyers in Germany pay import VAT; customs duties apply above 150 EUR.",
    )
    usa = await add(
        database,
        tenant,
        language="en",
        topic="customs",
        country="US",
        title="US customs duties",
        body="Orders to the United States under 800 USD pay no customs duties.",
    )
    await add(
        database, tenant, language="en", topic="returns", title="Returns", body="Customs duties refunds."
    )

    assert await ids(database, tenant, "en", "customs duties", country="DE", topic="customs") == [
        germany,
        anywhere,
    ]
    assert await ids(database, tenant, "en", "customs duties", country="us", topic="customs") == [
        usa,
        anywhere,
    ]
    everywhere = await ids(database, tenant, "en", "customs duties", topic="customs", limit=10)
    assert set(everywhere) == {anywhere, germany, usa}
    assert len(await ids(database, tenant, "en", "customs duties", limit=10)) == 4
    assert len(await ids(database, tenant, "en", "customs duties", limit=2)) == 2


async def test_drafts_and_other_tenants_are_never_found(database: Database) -> None:
    seller, other = (await make_tenant(database)).tenant_id, (await make_tenant(database)).tenant_id
    draft = await add(
        database,
        seller,
        language="en",
        title="Lithium batteries",
        body="How to ship lithium batteries.",
        published=False,
    )
    theirs = await add(database, other, language="en", title="Lithium batteries", body="Lithium batteries.")
    assert await ids(database, seller, "en", "lithium batteries") == []
    assert await ids(database, other, "en", "lithium batteries") == [theirs]
    async with database.transaction(tenant_id=seller, readonly=True) as session:
        listed = await knowledge.list_articles(session, seller, query="lithium")
        assert [a.id for a in listed] == [draft]  # the console lists drafts
        assert [a.id for a in await knowledge.list_articles(session, seller)] == [draft]
        with pytest.raises(NotFound):
            await knowledge.access_article(session, seller, theirs)

    async with database.transaction(tenant_id=seller) as session:
        article = await knowledge.access_article(session, seller, draft)
        await knowledge.do_update_article(session, article, {"published": True})
    assert await ids(database, seller, "en", "lithium batteries") == [draft]


async def test_changes_and_deletes_reach_the_index(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    article_id = await add(database, tenant, language="zh", title="充电说明", body="请使用原装充电器。")
    assert await ids(database, tenant, "zh", "充电器") == [article_id]
    async with database.transaction(tenant_id=tenant) as session:
        article = await knowledge.access_article(session, tenant, article_id)
        await knowledge.do_update_article(session, article, {"title": "保修说明", "body": "产品保修一年。"})
    assert await ids(database, tenant, "zh", "充电器") == []
    assert await ids(database, tenant, "zh", "保修") == [article_id]
    async with database.transaction(tenant_id=tenant) as session:
        await knowledge.do_update_article(
            session, await knowledge.access_article(session, tenant, article_id), {"topic": "product"}
        )
    assert await ids(database, tenant, "zh", "保修", topic="product") == [article_id]
    async with database.transaction(tenant_id=tenant) as session:
        await knowledge.do_delete_article(
            session, await knowledge.access_article(session, tenant, article_id)
        )
    assert await ids(database, tenant, "zh", "保修") == []


async def test_hostile_messages_never_break_search(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    customs = await add(
        database,
        tenant,
        language="en",
        title="Customs duties",
        body="Customs duties are paid on delivery (see 'NEAR' rules, AND/OR notes).",
    )
    for message in HOSTILE:
        for language in ("en", "zh", "xx"):
            await search(database, tenant, language, message, country="DE")
        async with database.transaction(tenant_id=tenant, readonly=True) as session:
            await knowledge.list_articles(session, tenant, query=message)
    assert await ids(database, tenant, "en", "NEAR(customs duties, 2)") == [customs]
    assert await ids(database, tenant, "en", '"customs" OR duties*') == [customs]
    assert await ids(database, tenant, "en", "ｃｕｓｔｏｍｓ　ｄｕｔｉｅｓ") == [
        customs
    ]  # full-width letters
    assert await ids(database, tenant, "en", "Order #AS-100234") == []  # only an order number: nothing


async def test_long_articles_give_an_excerpt_around_the_match(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    body = "Our warehouses ship every weekday. " * 60 + "Lithium batteries travel by sea only. " * 2
    body += "Returns are free within 30 days. " * 60
    await add(database, tenant, language="en", title="Shipping rules", body=body)
    [hit] = await search(database, tenant, "en", "Can you send lithium batteries by air?")
    assert "Lithium batteries travel by sea only." in hit.excerpt
    assert len(hit.excerpt) <= 300 and hit.excerpt.startswith("…") and hit.excerpt.endswith("…")


async def test_articles_are_checked_with_readable_messages(database: Database) -> None:
    tenant = (await make_tenant(database)).tenant_id
    good = {"language": "en", "topic": "usage", "title": "How to pair", "body": "Hold the button."}
    cases = [
        ({"language": "xx"}, "language", "Choose one of the assistant's languages."),
        ({"topic": "gossip"}, "topic", "Choose a topic from the list."),
        ({"country": "XX"}, "country", "Enter a two-letter country code"),
        ({"title": "   "}, "title", "Enter a title."),
        ({"title": "x" * 201}, "title", "Keep the title within 200 characters."),
        ({"body": ""}, "body", "Write the text of the article."),
        ({"body": "x" * 20_001}, "body", "Keep the article within 20,000 characters."),
        ({"url": "javascript:alert(1)"}, "url", "Enter a web address"),
        ({"url": "https://"}, "url", "Enter a web address"),
        ({"published": "yes"}, "published", "Say whether the article is published"),
        ({"colour": "red"}, "colour", "Unknown article fields: colour."),
    ]
    async with database.transaction(tenant_id=tenant) as session:
        for change, field, message in cases:
            with pytest.raises(InvalidInput) as refused:
                await knowledge.do_create_article(session, tenant, {**good, **change})
            assert refused.value.field == field and refused.value.message.startswith(message), change
        article = await knowledge.do_create_article(
            session,
            tenant,
            {**good, "country": " jp ", "title": "  How   to pair ", "url": "https://x.test/a"},
        )
        assert (article.country, article.title, article.published) == ("JP", "How to pair", True)
        pasted = await knowledge.do_create_article(session, tenant, {**good, "body": "Hold\x00 it."})
        assert pasted.body == "Hold it."  # a NUL pasted into a form is dropped (PostgreSQL refuses it)
        with pytest.raises(InvalidInput):
            await knowledge.do_update_article(session, article, {"language": "klingon"})


async def test_the_migration_downgrades_to_nothing_and_upgrades_again(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a database of its own: the downgrade below 0006 leaves no table, trigger, column, index or text
    search configuration of the knowledge base behind, and the upgrade then works again."""
    if db_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('kb-migration') / 'kb.db'}"
        dropped = None
    else:
        name = f"aftersail_kb_{uuid.uuid4().hex[:8]}"
        url = await _create_postgres_database(POSTGRES_URL, name)
        dropped = name
    try:
        await upgrade_async(url)
        assert await _search_objects(url) != set()
        await _alembic(url, "downgrade", MIGRATION.down_revision)
        assert await _search_objects(url) == set()
        await upgrade_async(url)
        db = Database(url)
        try:
            tenant = (await make_tenant(db)).tenant_id
            article = await add(db, tenant, language="zh", title=CUSTOMS_ZH[0], body=CUSTOMS_ZH[1])
            assert await ids(db, tenant, "zh", "关税") == [article]
        finally:
            await db.dispose()
    finally:
        if dropped:
            await _drop_postgres_database(POSTGRES_URL, dropped)


MIGRATION = importlib.import_module("aftersail.migrations.versions.0006_knowledge_base")


async def _alembic(url: str, action: str, revision: str) -> None:
    engine = create_engine(url)

    def run(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
    await engine.dispose()


async def _search_objects(url: str) -> set[str]:
    """Names of the knowledge base's tables, triggers, columns and search configurations in the database."""
    engine = create_engine(url)
    if url.startswith("sqlite"):
        query = "SELECT name FROM sqlite_master WHERE name LIKE 'kb_articles%'"
    else:
        query = (
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'kb_articles%' "
            "UNION SELECT cfgname FROM pg_ts_config WHERE cfgname = 'aftersail_kb' "
            "UNION SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_kb_articles%'"
        )
    async with engine.connect() as connection:
        names = set((await connection.execute(text(query))).scalars())
    await engine.dispose()
    return names
