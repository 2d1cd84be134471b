"""The tickets API over HTTP (SQLite and PostgreSQL): the API channel opens and continues a case without
duplicates on retry, agents reply, notes mention, statuses move by the table, filters find, merge and split
keep one thread per case, bulk changes are all or nothing, and bad input gets a clear 4xx."""

from __future__ import annotations

import uuid

import httpx

from aftersail.kit.db import Database
from aftersail.tenants.models import Role
from tests.support_desk import make_desk


def buyer(name: str = "Lena Vogel") -> dict[str, str]:
    return {"email": f"lena-{uuid.uuid4().hex[:8]}@example.de", "name": name}


async def test_the_api_channel_opens_a_case_once_and_continues_it(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    headers = desk.tenant.headers(Role.AGENT)
    body = {
        "buyer": buyer(),
        "subject": "Lampe kaputt",
        "body": "Meine Lampe ist kaputt angekommen, das Glas ist zerbrochen.",
        "category": "damaged",
        "external_id": f"mkt-{uuid.uuid4().hex}",
    }
    created = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["priority"] == "p1" and ticket["language"] == "de" and ticket["channel"] == "api"
    assert ticket["assignee_id"] == desk.wang_id  # the German speaker of the returns team
    assert [m["body"] for m in ticket["messages"]] == [body["body"]]
    assert {c["kind"] for c in ticket["clocks"]} == {"first_response", "resolution"}
    assert ticket["next_due_at"] is not None

    again = await client.post("/api/v1/tickets", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == ticket["id"]
    assert len(again.json()["messages"]) == 1

    follow_up = {"body": "Haben Sie meine Nachricht bekommen?", "external_id": f"mkt-{uuid.uuid4().hex}"}
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    first = await client.post(url, json=follow_up, headers=headers)
    second = await client.post(url, json=follow_up, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    detail = (await client.get(f"/api/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert len(detail["messages"]) == 2


async def test_replies_notes_status_and_filters(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    headers = desk.tenant.headers(Role.AGENT)
    created = await client.post(
        "/api/v1/tickets",
        json={"buyer": buyer(), "body": "Welche Größe soll ich nehmen?", "category": "sizing"},
        headers=headers,
    )
    ticket_id = created.json()["id"]
    note = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "@admin bitte prüfen", "internal": True, "language": "zh"},
        headers=headers,
    )
    assert note.status_code == 201 and note.json()["internal"] is True
    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=headers)).json()
    assert ticket["status"] == "open" and ticket["first_response_at"] is None  # a note answers nobody

    reply = await client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "请选 M 码。", "language": "zh", "sent_body": "Bitte nehmen Sie Größe M."},
        headers=headers,
    )
    assert reply.status_code == 201, reply.text
    ticket = (await client.get(f"/api/v1/tickets/{ticket_id}", headers=headers)).json()
    assert ticket["status"] == "pending_customer" and ticket["first_response_at"] is not None
    sent = ticket["messages"][-1]
    assert sent["body"] == "请选 M 码。" and sent["language"] == "zh"
    assert sent["translations"]["de"]["body"] == "Bitte nehmen Sie Größe M."

    tagged = await client.post(
        f"/api/v1/tickets/{ticket_id}/tags", json={"tags": ["VIP", "size"]}, headers=headers
    )
    assert tagged.json()["tags"] == ["size", "vip"]
    listed = await client.get("/api/v1/tickets", params={"tag": "vip", "view": "all"}, headers=headers)
    assert [t["id"] for t in listed.json()["items"]] == [ticket_id]
    by_language = await client.get(
        "/api/v1/tickets", params={"language": "de", "view": "live"}, headers=headers
    )
    assert ticket_id in [t["id"] for t in by_language.json()["items"]]
    unassigned = await client.get("/api/v1/tickets", params={"view": "unassigned"}, headers=headers)
    assert ticket_id not in [t["id"] for t in unassigned.json()["items"]]

    resolved = await client.post(
        f"/api/v1/tickets/{ticket_id}/status", json={"status": "resolved"}, headers=headers
    )
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] is not None
    illegal = await client.post(
        f"/api/v1/tickets/{ticket_id}/status", json={"status": "pending_customer"}, headers=headers
    )
    assert illegal.status_code == 409
    assert "resolved" in illegal.json()["error"]["message"]
    snooze = await client.post(
        f"/api/v1/tickets/{ticket_id}/status", json={"status": "open"}, headers=headers
    )
    assert snooze.status_code == 200
    no_time = await client.post(
        f"/api/v1/tickets/{ticket_id}/status", json={"status": "snoozed"}, headers=headers
    )
    assert no_time.status_code == 422 and "future" in no_time.json()["error"]["message"]


async def test_merge_split_and_bulk(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    headers = desk.tenant.headers(Role.AGENT)
    the_buyer = buyer()

    async def open_case(text: str) -> int:
        response = await client.post(
            "/api/v1/tickets", json={"buyer": the_buyer, "body": text, "category": "return"}, headers=headers
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    first = await open_case("Ich möchte die Jacke zurückgeben.")
    second = await open_case("Und die Hose auch, bitte.")
    merged = await client.post(f"/api/v1/tickets/{first}/merge", json={"source_id": second}, headers=headers)
    assert merged.status_code == 200, merged.text
    source = (await client.get(f"/api/v1/tickets/{second}", headers=headers)).json()
    assert source["status"] == "closed" and source["merged_into_id"] == first
    thread = (await client.get(f"/api/v1/tickets/{first}", headers=headers)).json()["messages"]
    assert [m["body"] for m in thread] == ["Ich möchte die Jacke zurückgeben.", "Und die Hose auch, bitte."]

    split = await client.post(
        f"/api/v1/tickets/{first}/split", json={"message_ids": [thread[1]["id"]]}, headers=headers
    )
    assert split.status_code == 201, split.text
    new_id = split.json()["id"]
    new_thread = (await client.get(f"/api/v1/tickets/{new_id}", headers=headers)).json()["messages"]
    assert [m["body"] for m in new_thread] == ["Und die Hose auch, bitte."]
    everything = await client.post(
        f"/api/v1/tickets/{new_id}/split", json={"message_ids": [new_thread[0]["id"]]}, headers=headers
    )
    assert everything.status_code == 422

    # All or nothing: the closed ticket cannot be resolved, so the open one is not resolved either.
    bulk = await client.post(
        "/api/v1/tickets/bulk", json={"ticket_ids": [first, second], "status": "resolved"}, headers=headers
    )
    assert bulk.status_code == 409
    still = (await client.get(f"/api/v1/tickets/{first}", headers=headers)).json()
    assert still["status"] == "open"
    bulk = await client.post(
        "/api/v1/tickets/bulk", json={"ticket_ids": [first, new_id], "add_tags": ["batch-7"]}, headers=headers
    )
    assert bulk.status_code == 200 and all("batch-7" in t["tags"] for t in bulk.json())


async def test_bad_input_is_a_clear_4xx(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    headers = desk.tenant.headers(Role.AGENT)
    missing = await client.get("/api/v1/tickets/987654321", headers=headers)
    assert missing.status_code == 404 and "987654321" in missing.json()["error"]["message"]
    nobody = await client.post("/api/v1/tickets", json={"body": "Hallo"}, headers=headers)
    assert nobody.status_code == 422
    assert "customer_id or buyer" in nobody.json()["error"]["message"]
    empty = await client.post("/api/v1/tickets", json={"buyer": buyer(), "body": "   "}, headers=headers)
    assert empty.status_code == 422
    category = await client.post(
        "/api/v1/tickets", json={"buyer": buyer(), "body": "Hallo", "category": "nonsense"}, headers=headers
    )
    assert category.status_code == 422
    viewer = await client.post(
        "/api/v1/tickets", json={"buyer": buyer(), "body": "Hallo"}, headers=desk.tenant.headers(Role.VIEWER)
    )
    assert viewer.status_code == 403
    settings = await client.put(
        "/api/v1/support/settings",
        json={"calendar": {"time_zone": "Mars/Olympus", "weekly": {}}},
        headers=desk.tenant.headers(Role.ADMIN),
    )
    assert settings.status_code == 422 and "Mars/Olympus" in settings.text


async def test_settings_change_priorities_and_targets(client: httpx.AsyncClient, database: Database) -> None:
    desk = await make_desk(database)
    admin = desk.tenant.headers(Role.ADMIN)
    put = await client.put(
        "/api/v1/support/settings",
        json={"priority_map": {"sizing": "p1"}, "targets": {"p1": {"first_response": 30, "resolution": 600}}},
        headers=admin,
    )
    assert put.status_code == 200, put.text
    assert put.json()["priority_map"]["sizing"] == "p1" and put.json()["priority_map"]["damaged"] == "p1"
    created = await client.post(
        "/api/v1/tickets",
        json={"buyer": buyer(), "body": "Welche Größe?", "category": "sizing"},
        headers=desk.tenant.headers(Role.AGENT),
    )
    ticket = created.json()
    assert ticket["priority"] == "p1"
    first_response = next(c for c in ticket["clocks"] if c["kind"] == "first_response")
    assert first_response["target_seconds"] == 30 * 60


async def test_macros_are_checked_and_rendered_in_the_buyers_language(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    admin = desk.tenant.headers(Role.ADMIN)
    wrong = await client.post(
        "/api/v1/macros",
        json={
            "key": "sorry",
            "language": "de",
            "title": "Entschuldigung",
            "greeting": "Hallo {kunde}",
            "solution": "x",
        },
        headers=admin,
    )
    assert wrong.status_code == 422 and "{kunde}" in wrong.json()["error"]["message"]
    for language, greeting in (
        ("de", "Hallo {buyer_name}, hier ist {agent_name}."),
        ("en", "Hi {buyer_name}."),
    ):
        made = await client.post(
            "/api/v1/macros",
            json={
                "key": "sorry",
                "language": language,
                "title": "Sorry",
                "greeting": greeting,
                "problem": "",
                "solution": "Ersatz kommt am {eta}." if language == "de" else "A replacement arrives {eta}.",
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
    twice = await client.post(
        "/api/v1/macros",
        json={"key": "sorry", "language": "de", "title": "x", "greeting": "x", "solution": "x"},
        headers=admin,
    )
    assert twice.status_code == 409
    ticket = (
        await client.post(
            "/api/v1/tickets",
            json={"buyer": buyer("Lena Vogel"), "body": "Die Lampe ist kaputt.", "category": "damaged"},
            headers=admin,
        )
    ).json()
    english_id = next(
        m["id"] for m in (await client.get("/api/v1/macros", headers=admin)).json() if m["language"] == "en"
    )
    rendered = await client.get(f"/api/v1/tickets/{ticket['id']}/macros/{english_id}", headers=admin)
    assert rendered.status_code == 200
    assert rendered.json() == {
        # The German version; an API key is nobody's name and no ETA is known yet: the gaps show.
        "text": "Hallo Lena, hier ist —.\n\nErsatz kommt am —.",
        "language": "de",
    }


async def test_console_attachments_are_limited_and_sniffed(
    client: httpx.AsyncClient, database: Database
) -> None:
    desk = await make_desk(database)
    headers = desk.tenant.headers(Role.AGENT)
    ticket = (
        await client.post("/api/v1/tickets", json={"buyer": buyer(), "body": "Foto anbei"}, headers=headers)
    ).json()
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    ok = await client.post(
        "/api/v1/attachments",
        data={"ticket_id": str(ticket["id"])},
        files={"file": ("label.pdf", pdf, "image/png")},  # the claimed type is ignored
        headers=headers,
    )
    assert ok.status_code == 201 and ok.json()["content_type"] == "application/pdf"
    fetched = await client.get(f"/api/v1/attachments/{ok.json()['id']}", headers=headers)
    assert fetched.content == pdf and fetched.headers["x-content-type-options"] == "nosniff"
    script = await client.post(
        "/api/v1/attachments",
        data={"ticket_id": str(ticket["id"])},
        files={"file": ("x.png", b"<script>alert(1)</script>", "image/png")},
        headers=headers,
    )
    assert script.status_code == 415 and "cannot be sent" in script.json()["error"]["message"]
    huge = await client.post(
        "/api/v1/attachments",
        data={"ticket_id": str(ticket["id"])},
        files={"file": ("big.pdf", pdf + b"0" * (10 * 1024 * 1024), "application/pdf")},
        headers=headers,
    )
    assert huge.status_code == 413
