"""The knowledge-base API over HTTP (SQLite and PostgreSQL): admins and agents write, every role reads, bad
input gets a 422 naming the field in plain words, search answers what the assistant would cite, and another
store's articles are a 404 and never a search hit."""

from __future__ import annotations

from typing import Any

import httpx

from aftersail.kit.db import Database
from aftersail.tenants.models import Role
from tests.factories import make_tenant

API = "/api/v1/kb"
CUSTOMS = {
    "language": "de",
    "topic": "customs",
    "country": "de",
    "title": "Zölle und Einfuhrumsatzsteuer",
    "body": "Bestellungen aus dem Lager in Shenzhen werden beim Import verzollt; die Zollgebühren zahlt der "
    "Zusteller vorab und holt sie bei der Lieferung ein.",
    "url": "https://hilfe.example.de/zoll",
}


def field_errors(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] in {"validation_error", "invalid_input"} and error["message"]
    return {field["path"]: field["message"] for field in error["fields"]}


async def test_roles_write_and_read(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await make_tenant(database)
    created = await client.post(f"{API}/articles", json=CUSTOMS, headers=tenant.headers(Role.AGENT))
    assert created.status_code == 201, created.text
    article = created.json()
    assert {k: article[k] for k in CUSTOMS} == {**CUSTOMS, "country": "DE"}
    assert article["published"] is True and article["updated_by_id"] is None  # an API key is no person
    by_admin = await client.post(
        f"{API}/articles", json={**CUSTOMS, "published": False}, headers=tenant.headers(Role.ADMIN)
    )
    assert by_admin.status_code == 201

    for role in (Role.VIEWER, Role.WAREHOUSE):
        refused = await client.post(f"{API}/articles", json=CUSTOMS, headers=tenant.headers(role))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "permission_denied"
        path = f"{API}/articles/{article['id']}"
        assert (
            await client.patch(path, json={"title": "x"}, headers=tenant.headers(role))
        ).status_code == 403
        assert (await client.delete(path, headers=tenant.headers(role))).status_code == 403
        assert (await client.get(path, headers=tenant.headers(role))).json()["title"] == CUSTOMS["title"]
        listed = await client.get(f"{API}/articles", headers=tenant.headers(role))
        assert {a["id"] for a in listed.json()} == {article["id"], by_admin.json()["id"]}

    assert (await client.get(f"{API}/articles")).status_code == 401
    assert (await client.get(f"{API}/search", params={"q": "Zoll"})).status_code == 401


async def test_bad_input_names_the_field_in_plain_words(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    headers = tenant.headers(Role.AGENT)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"language": "xx"}, "language", "'en'"),
        ({"topic": "gossip"}, "topic", "'customs'"),
        ({"country": "XX"}, "country", "ISO 3166-1 alpha-2"),
        ({"title": "  "}, "title", "at least 1 character"),
        ({"body": "x" * 20_001}, "body", "at most 20000 characters"),
        ({"url": "javascript:alert(1)"}, "url", "https://"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"body": "a\x00b"}, "body", "NUL"),
    ]
    for change, field, words in cases:
        errors = field_errors(
            await client.post(f"{API}/articles", json={**CUSTOMS, **change}, headers=headers)
        )
        assert field in errors and words in errors[field], (change, errors)
    errors = field_errors(await client.post(f"{API}/articles", json={"language": "de"}, headers=headers))
    assert {"topic", "title", "body"} <= set(errors)

    article = (await client.post(f"{API}/articles", json=CUSTOMS, headers=headers)).json()
    path = f"{API}/articles/{article['id']}"
    assert "country" in field_errors(await client.patch(path, json={"country": "ZZ"}, headers=headers))
    assert "language" in field_errors(
        await client.get(f"{API}/search", params={"language": "xx"}, headers=headers)
    )
    assert "q" in field_errors(await client.get(f"{API}/search", params={"q": "x" * 2_001}, headers=headers))
    assert (await client.get(f"{API}/articles/0", headers=headers)).status_code == 422
    missing = await client.get(f"{API}/articles/999999999", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_change_search_and_delete(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await make_tenant(database)
    headers = tenant.headers(Role.AGENT)
    article = (await client.post(f"{API}/articles", json=CUSTOMS, headers=headers)).json()
    anywhere = (
        await client.post(
            f"{API}/articles",
            json={**CUSTOMS, "country": "", "title": "Zoll allgemein", "url": ""},
            headers=headers,
        )
    ).json()

    found = await client.get(
        f"{API}/search",
        params={"language": "de", "q": "Muss ich Zollgebühren zahlen?", "country": "de"},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    hits = found.json()
    assert [h["article_id"] for h in hits] == [article["id"], anywhere["id"]]
    assert hits[0]["url"] == CUSTOMS["url"] and "Zollgebühren" in hits[0]["excerpt"] and hits[0]["score"] > 0
    english = await client.get(
        f"{API}/search", params={"language": "en", "q": "Zollgebühren"}, headers=headers
    )
    assert english.json() == []  # no English article to fall back on
    for hostile in ('"', "OR *", "NEAR(a b)", "()", "'; --", "\\"):
        answer = await client.get(f"{API}/search", params={"language": "de", "q": hostile}, headers=headers)
        assert answer.status_code == 200, (hostile, answer.text)

    path = f"{API}/articles/{article['id']}"
    changed = await client.patch(path, json={"title": "Einfuhrabgaben", "published": False}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Einfuhrabgaben" and changed.json()["body"] == CUSTOMS["body"]
    hidden = await client.get(
        f"{API}/search", params={"language": "de", "q": "Einfuhrabgaben"}, headers=headers
    )
    assert hidden.json() == []  # a draft now
    drafts = await client.get(f"{API}/articles", params={"q": "Einfuhrabgaben"}, headers=headers)
    assert [a["id"] for a in drafts.json()] == [article["id"]]

    assert (await client.delete(path, headers=headers)).status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404
    assert (await client.delete(path, headers=headers)).status_code == 404


async def test_another_stores_articles_stay_hidden(client: httpx.AsyncClient, database: Database) -> None:
    mine, theirs = await make_tenant(database), await make_tenant(database)
    article = (await client.post(f"{API}/articles", json=CUSTOMS, headers=theirs.headers())).json()
    path = f"{API}/articles/{article['id']}"
    headers = mine.headers()
    for method, body in (("GET", None), ("PATCH", {"title": "Mine now"}), ("DELETE", None)):
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 404, (method, answer.text)
        assert CUSTOMS["title"] not in answer.text
    assert (await client.get(f"{API}/articles", headers=headers)).json() == []
    search = await client.get(
        f"{API}/search", params={"language": "de", "q": CUSTOMS["title"], "country": "DE"}, headers=headers
    )
    assert search.json() == []
    theirs_search = await client.get(
        f"{API}/search", params={"language": "de", "q": CUSTOMS["title"]}, headers=theirs.headers()
    )
    assert [h["article_id"] for h in theirs_search.json()] == [article["id"]]
