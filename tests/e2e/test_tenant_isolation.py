"""Tenant isolation: walk every /api/v1 route with a second tenant's credentials.

The walk is driven by the app's own route table, so a new route is covered the day it is added: path
parameters are filled by name from the seeded objects and write bodies are generated from the route's own
request model (tests/e2e/route_walk.py). A path parameter nothing fits, or a body that cannot be generated,
fails the test until someone says here how to probe it. Routes under /api/v1 that do not take an API key
(signed webhooks, buyer links) must refuse the walker outright.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from aftersail.shipping.rules import Status
from aftersail.tenants.models import Role
from tests.e2e.route_walk import (
    fill_path,
    id_fields,
    param_value,
    path_params,
    request_body,
    swapped,
    uses_api_key,
)
from tests.factories import TenantFixture, make_tenant

API = "/api/v1"
ADDRESS = {"name": "Ana", "line1": "1 Main St", "city": "Austin", "postal_code": "78701", "country": "US"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A 1×1 transparent PNG, written byte by byte here.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
Seeded = dict[str, Any]


def openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    """The same routes as the OpenAPI document lists them: a cross-check that the walk misses none."""
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith(API + "/")
        for method in item
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every HTTP route under /api/v1, however FastAPI nests routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI versions that flatten included routers into app.routes
        contexts: list[Any] = [r for r in app.routes if isinstance(r, APIRoute)]
        pairs = [(r, r.path, r.methods) for r in contexts]
    else:
        pairs = [(c.original_route, c.path, c.methods) for c in iter_route_contexts(app.routes)]
    found: list[tuple[str, str, APIRoute]] = []
    for route, path, methods in pairs:
        if isinstance(route, APIRoute) and path and path.startswith(API + "/"):
            found.extend((method, path, route) for method in sorted(methods or ()))
    # 29 is what the catalog/orders/tenants API shipped with; fewer means the enumeration broke.
    assert len(found) >= 29, found
    assert openapi_operations(app) <= {(m, p) for m, p, _ in found}
    return found


async def seed(client: httpx.AsyncClient, tenant: TenantFixture, tag: str) -> Seeded:
    """One of every kind of object, created through the API; returns ids (by path-parameter name) and the
    human-readable keys that must never show up in another tenant's answers."""
    h = tenant.headers()

    async def post(path: str, body: dict[str, Any], method: str = "POST") -> Any:
        answer = await client.request(method, f"{API}{path}", json=body, headers=h)
        assert answer.status_code in (200, 201), (path, answer.text)
        return answer.json()

    product = await post(
        "/products",
        {
            "handle": f"{tag}-hoodie",
            "title": "Hoodie",
            "category": "apparel",
            "skus": [
                {
                    "code": f"{tag}-HD-{i}",
                    "title": f"Hoodie {i}",
                    "declared_value_minor": 3000,
                    "currency": "USD",
                }
                for i in range(3)
            ],
        },
    )
    sku, part = product["skus"][0], product["skus"][1]
    await post(f"/skus/{sku['id']}/components", {"components": [{"sku_id": part["id"], "quantity": 2}]})
    batch = await post(f"/skus/{part['id']}/batches", {"code": f"{tag}-LOT"})
    warehouse = await post(
        "/warehouses",
        {
            "code": f"{tag}-WH",
            "name": "LA",
            "country": "US",
            "time_zone": "America/Los_Angeles",
            "regions_served": ["US"],
        },
    )
    lane = await post(
        "/lanes",
        {
            "warehouse_id": warehouse["id"],
            "country": "CA",
            "transit_days_median": 3,
            "transit_days_p90": 5,
            "cost_minor": 900,
            "currency": "USD",
        },
    )
    await post(
        "/lanes",
        {
            "warehouse_id": warehouse["id"],
            "country": "US",
            "transit_days_median": 2,
            "transit_days_p90": 4,
            "cost_minor": 700,
            "currency": "USD",
        },
    )
    stock = await post(
        "/stock",
        {"warehouse_id": warehouse["id"], "sku_id": part["id"], "batch_id": batch["id"], "on_hand": 9},
        method="PUT",
    )
    customer = await post(
        "/customers", {"name": f"{tag} Buyer", "email": f"{tag}@buyer.test", "country": "US"}
    )
    live = await post(
        "/live-sessions",
        {"title": f"{tag} live", "host": "Mia", "market": "US", "starts_at": "2025-01-01T10:00:00Z"},
    )
    order = await post(
        "/orders",
        {
            "number": f"{tag}-ORD-1",
            "customer_id": customer["id"],
            "currency": "USD",
            "lines": [{"sku_id": sku["id"], "quantity": 1, "unit_price_minor": 100}],
            "shipping_address": ADDRESS,
            "live_session_id": live["id"],
            "channel": "live_session",
        },
    )
    assert order["status"] == "allocated", order  # the bundle's two parts come from the seeded batch
    [allocation] = order["allocations"]
    api_key = await post("/api-keys", {"name": f"{tag} integration", "role": "viewer"})
    team = await post(
        "/teams", {"name": f"{tag} returns", "languages": ["de"], "member_ids": [tenant.admin_user_id]}
    )
    ticket = await post(
        "/tickets",
        {"customer_id": customer["id"], "subject": f"{tag} broken lamp", "body": "It arrived broken."},
    )
    macro = await post(
        "/macros",
        {
            "key": f"{tag}-damaged",
            "language": "en",
            "title": f"{tag} damaged item",
            "greeting": "Hi {buyer_name}, I am {agent_name}.",
            "solution": "We send a new one today.",
        },
    )
    article = await post(
        "/kb/articles",
        {
            "language": "en",
            "topic": "customs",
            "country": "US",
            "title": f"{tag} customs duties",
            "body": f"{tag} buyers pay customs duties on delivery.",
        },
    )
    upload = await client.post(
        f"{API}/attachments",
        data={"ticket_id": str(ticket["id"])},
        files={"file": ("proof.png", PNG, "image/png")},
        headers=h,
    )
    assert upload.status_code == 201, upload.text
    ids = {
        "product_id": product["id"],
        "sku_id": sku["id"],
        "part_sku_id": part["id"],
        "batch_id": batch["id"],
        "warehouse_id": warehouse["id"],
        "lane_id": lane["id"],
        "stock_id": stock["id"],
        "customer_id": customer["id"],
        "live_session_id": live["id"],
        "order_id": order["id"],
        "order_line_id": order["lines"][0]["id"],
        "allocation_id": allocation["id"],
        "shipment_group_id": allocation["shipment_group_id"],
        "api_key_id": api_key["id"],
        "team_id": team["id"],
        "user_id": tenant.admin_user_id,
        "ticket_id": ticket["id"],
        "message_id": ticket["messages"][0]["id"],
        "macro_id": macro["id"],
        "attachment_id": upload.json()["id"],
        "article_id": article["id"],
    }
    markers = [
        product["handle"],
        sku["code"],
        part["code"],
        batch["code"],
        warehouse["code"],
        customer["email"],
        order["number"],
        live["title"],
        api_key["prefix"],
        ticket["subject"],
        team["name"],
        macro["title"],
        article["title"],
    ]
    return {
        "ids": ids,
        "markers": markers,
        "sku_code": sku["code"],
        "handle": product["handle"],
        "warehouse_code": warehouse["code"],
        "email": customer["email"],
        "order_number": order["number"],
        "slug": tenant.slug,
        "user_id": tenant.admin_user_id,
    }


async def seed_return(database: Any, app: FastAPI, tenant: TenantFixture, seeded: Seeded) -> None:
    """A return of the seeded order, delivered first (no API delivers an order or asks for a return)."""
    from aftersail.orders.models import Order
    from aftersail.returns import service as returns
    from aftersail.returns.rules import Reason, Resolution
    from tests.returns_desk import deliver

    await deliver(database, tenant.tenant_id, seeded["ids"]["order_id"], days_ago=2)
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        order = await session.get(Order, seeded["ids"]["order_id"])
        ask = returns.ReturnAsk(
            Reason.DOES_NOT_FIT,
            Resolution.REFUND,
            [returns.LineAsk(seeded["ids"]["order_line_id"], 1)],
        )
        ret = await returns.do_request_return(
            session,
            order,
            ask,
            submission_key="walk",
            actor="buyer:walk",
            files_dir=app.state.services.settings.data_dir,
        )
        seeded["ids"]["return_id"] = ret.id
        seeded["markers"].append(ret.rma_number)


async def seed_tracking(database: Any, tenant: TenantFixture, seeded: Seeded) -> None:
    """The seeded allocation shipped and delivered, reported missing (a claim), and a dead-letter payload."""
    from aftersail.kit.clock import utcnow
    from aftersail.shipping import claims, dead_letters
    from aftersail.shipping import service as shipping
    from aftersail.shipping.watch import do_evaluate
    from tests.tracking_desk import feed, scan

    number = f"WALK{uuid.uuid4().hex[:10].upper()}"
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        shipment = await shipping.do_ship_allocation(
            session,
            tenant.tenant_id,
            seeded["ids"]["allocation_id"],
            carrier="dhl",
            tracking_number=number,
            actor="walk",
        )
        shipment_id = shipment.id
    await feed(database, tenant.tenant_id, scan(number, utcnow(), Status.DELIVERED))
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        shipment = await shipping.access_shipment(session, tenant.tenant_id, shipment_id)
        await do_evaluate(session, shipment, now=utcnow())
        claim = await claims.do_report_missing(session, shipment, note="walk", actor="walk", now=utcnow())
        letter = await dead_letters.do_store(
            session, tenant.tenant_id, source="generic", body='{"events": "walk"}', error="events: not a list"
        )
        seeded["ids"].update(shipment_id=shipment_id, claim_id=claim.id, dead_letter_id=letter.id)
    seeded["markers"].append(number)


async def seed_evidence(database: Any, tenant: TenantFixture, seeded: Seeded) -> None:
    """The seeded attachment in the seeded ticket's evidence chain (as a buyer's photo)."""
    from aftersail.support import attachments
    from aftersail.video.chain import EvidenceKind
    from aftersail.video.evidence import do_append_evidence

    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        attachment = await attachments.access_attachment(
            session, tenant.tenant_id, seeded["ids"]["attachment_id"]
        )
        await do_append_evidence(
            session,
            tenant_id=tenant.tenant_id,
            ticket_id=seeded["ids"]["ticket_id"],
            kind=EvidenceKind.BUYER_PHOTO,
            attachment=attachment,
            captured_by="buyer",
        )


async def seed_call(database: Any, tenant: TenantFixture, seeded: Seeded) -> None:
    """An inspection call on the seeded ticket, connected, with a snapshot (rows as the call service leaves
    them; the walk's app runs no media server)."""
    import secrets

    from aftersail.kit.clock import utcnow
    from aftersail.video.models import CallSeat, CallSnapshot, InspectionCall
    from aftersail.video.rules import CallPurpose, CallStatus, Seat

    now = utcnow()
    async with database.transaction(tenant_id=tenant.tenant_id) as session:
        call = InspectionCall(
            tenant_id=tenant.tenant_id,
            ticket_id=seeded["ids"]["ticket_id"],
            purpose=CallPurpose.RETURN_INSPECTION,
            status=CallStatus.CONNECTED,
            status_since=now,
            language="en",
            room=secrets.randbelow(2**52) + 1,
            room_pin="walk",
            bitrate=500_000,
            created_at=now,
            link_expires_at=now,
            connected_at=now,
        )
        session.add(call)
        await session.flush()
        for seat in Seat:
            session.add(
                CallSeat(tenant_id=tenant.tenant_id, call_id=call.id, seat=seat, room_token=seat.value)
            )
        snapshot = CallSnapshot(tenant_id=tenant.tenant_id, call_id=call.id, seat=Seat.BUYER, taken_at=now)
        session.add(snapshot)
        await session.flush()
        seeded["ids"].update(call_id=call.id, snapshot_id=snapshot.id)


async def snapshot(
    client: httpx.AsyncClient, tenant: TenantFixture, a: Seeded, app: FastAPI
) -> dict[str, Any]:
    """Everything tenant A can read, through every GET route (path parameters filled with A's objects),
    read with A's own key; only the key's own `last_used_at` moves between two reads."""
    ids = a["ids"]
    paths = [
        f"/skus/{ids['part_sku_id']}/batches",  # the part carries the seeded batch
        *(fill_path(path.removeprefix(API), a) for method, path, _ in api_routes(app) if method == "GET"),
    ]
    seen: dict[str, Any] = {}
    for path in paths:
        answer = await client.get(f"{API}{path}", headers=tenant.headers())
        assert answer.status_code == 200, (path, answer.text[:300])
        is_json = answer.headers["content-type"].startswith("application/json")
        seen[path] = answer.json() if is_json else answer.content  # files: their bytes
        if answer.headers["content-type"] == "application/zip":  # an evidence bundle: made when asked
            seen[path] = bundle_contents(answer.content)
    seen["/api-keys"] = [{k: v for k, v in key.items() if k != "last_used_at"} for key in seen["/api-keys"]]
    return seen


def bundle_contents(data: bytes) -> dict[str, Any]:
    """A zip's files by name, its manifest without the time it was generated."""
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        found: dict[str, Any] = {name: bundle.read(name) for name in bundle.namelist()}
    manifest = json.loads(found.pop("manifest.json"))
    manifest.pop("generated_at")
    return {**found, "manifest.json": manifest}


def path_bodies(b: Seeded) -> dict[tuple[str, str], Callable[[], dict[str, Any] | None]]:
    """Bodies for write routes with path parameters whose body the generator cannot make (or makes
    pointlessly): each must be valid, so that a refusal can only come from the tenant check."""
    return {
        ("POST", "/products/{product_id}/skus"): lambda: {
            "code": f"X-{uuid.uuid4().hex[:6]}",
            "title": "x",
            "declared_value_minor": 1,
            "currency": "USD",
        },
        ("POST", "/skus/{sku_id}/components"): lambda: {
            "components": [{"sku_id": b["ids"]["part_sku_id"], "quantity": 1}]
        },
        ("POST", "/skus/{sku_id}/batches"): lambda: {"code": f"L-{uuid.uuid4().hex[:6]}"},
        ("DELETE", "/api-keys/{api_key_id}"): lambda: None,
    }


def reference_probes(a: Seeded, b: Seeded) -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
    """Write routes without path parameters whose bodies name other objects: B's valid body with one of A's
    objects swapped in must be refused. (path, body) per probe; the path may carry B's own ids."""
    ai, bi = a["ids"], b["ids"]
    order = {
        "customer_id": bi["customer_id"],
        "currency": "USD",
        "shipping_address": ADDRESS,
        "lines": [{"sku_id": bi["sku_id"], "quantity": 1, "unit_price_minor": 100}],
    }
    stock = {"warehouse_id": bi["warehouse_id"], "sku_id": bi["part_sku_id"], "on_hand": 1}
    lane = {
        "warehouse_id": bi["warehouse_id"],
        "country": "MX",
        "transit_days_median": 2,
        "transit_days_p90": 4,
        "cost_minor": 1,
        "currency": "USD",
    }
    return {
        ("POST", "/orders"): [
            ("/orders", order | {"lines": [{"sku_id": ai["sku_id"], "quantity": 1, "unit_price_minor": 1}]}),
            (
                "/orders",
                order | {"lines": [{"sku_code": a["sku_code"], "quantity": 1, "unit_price_minor": 1}]},
            ),
            ("/orders", order | {"customer_id": ai["customer_id"]}),
            ("/orders", order | {"live_session_id": ai["live_session_id"]}),
        ],
        ("PUT", "/stock"): [
            ("/stock", stock | {"warehouse_id": ai["warehouse_id"]}),
            ("/stock", stock | {"sku_id": ai["part_sku_id"]}),
            ("/stock", stock | {"batch_id": ai["batch_id"]}),
        ],
        ("POST", "/lanes"): [("/lanes", lane | {"warehouse_id": ai["warehouse_id"]})],
        ("POST", "/tickets"): [
            ("/tickets", {"customer_id": ai["customer_id"], "body": "Hello"}),
            (
                "/tickets",
                {"customer_id": bi["customer_id"], "body": "Hello", "order_number": a["order_number"]},
            ),
        ],
        ("POST", "/tickets/bulk"): [("/tickets/bulk", {"ticket_ids": [ai["ticket_id"]], "add_tags": ["x"]})],
        ("POST", "/teams"): [("/teams", {"name": f"t-{uuid.uuid4().hex[:6]}", "member_ids": [a["user_id"]]})],
        ("POST", "/skus/{sku_id}/components"): [
            (
                f"/skus/{bi['sku_id']}/components",
                {"components": [{"sku_id": ai["part_sku_id"], "quantity": 1}]},
            ),
        ],
    }


# Creates whose bodies name no other object; B reusing A's natural keys must succeed (a 409 would leak
# that A has them), and is checked after the walk so it cannot mask the reference probes above.
def self_contained(a: Seeded) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("POST", "/products"): {
            "handle": a["handle"],
            "title": "Mine",
            "category": "x",
            "skus": [{"code": a["sku_code"], "title": "Mine", "declared_value_minor": 1, "currency": "USD"}],
        },
        ("POST", "/warehouses"): {
            "code": a["warehouse_code"],
            "name": "Mine",
            "country": "DE",
            "time_zone": "Europe/Berlin",
        },
        ("POST", "/customers"): {"name": "Mine", "email": a["email"], "country": "DE"},
        ("POST", "/live-sessions"): {
            "title": "Mine",
            "host": "Me",
            "market": "DE",
            "starts_at": "2025-02-01T10:00:00Z",
        },
        ("POST", "/api-keys"): {"name": "mine", "role": "viewer"},
    }


# Own writes whose generated body would need an outside service (no translation provider in this test).
OWN_WRITE_BODIES = {("POST", "/translate"): {"text": "Hello", "source": "en", "target": "en"}}

# List routes: the kind of object each returns, to check none of A's ids come back.
LIST_KINDS = {
    "/products": "product_id",
    "/skus": "sku_id",
    "/warehouses": "warehouse_id",
    "/lanes": "lane_id",
    "/stock": "stock_id",
    "/customers": "customer_id",
    "/orders": "order_id",
    "/live-sessions": "live_session_id",
    "/api-keys": "api_key_id",
    "/me": "tenant",
    "/tickets": "ticket_id",
    "/teams": "team_id",
    "/kb/articles": "article_id",
    "/returns": "return_id",
}
FILTER_PARAMS = {"product_id", "sku_id", "warehouse_id", "customer_id", "live_session_id", "team_id"}


def item_ids(payload: Any) -> set[int]:
    items = payload["items"] if isinstance(payload, dict) and "items" in payload else payload
    return {item["id"] for item in items} if isinstance(items, list) else set()


async def test_every_api_route_hides_other_tenants(
    client: httpx.AsyncClient, database: Any, app: FastAPI
) -> None:
    tenant_a, tenant_b = (
        await make_tenant(database, name="Seller A"),
        await make_tenant(database, name="Seller B"),
    )
    a = await seed(client, tenant_a, f"a{uuid.uuid4().hex[:6]}")
    b = await seed(client, tenant_b, f"b{uuid.uuid4().hex[:6]}")
    for tenant, seeded in ((tenant_a, a), (tenant_b, b)):
        await seed_return(database, app, tenant, seeded)
        await seed_tracking(database, tenant, seeded)
        await seed_evidence(database, tenant, seeded)
        await seed_call(database, tenant, seeded)
    before = await snapshot(client, tenant_a, a, app)
    hb = tenant_b.headers(Role.ADMIN)
    bodies, probes, creates = path_bodies(b), reference_probes(a, b), self_contained(a)
    routes = api_routes(app)
    own_writes: dict[tuple[str, str], Any] = {}
    visited: list[tuple[str, str]] = []
    for method, path, route in routes:
        rel = path.removeprefix(API)
        params = path_params(rel)
        unknown = [p for p in params if param_value(p, a) is None]
        if unknown:
            pytest.fail(
                f"{method} {path}: no tenant-A object for path parameter(s) {unknown}; "
                "teach tests/e2e/route_walk.py (ALIASES/TEXT_KEYS) or seed() here how to fill it"
            )
        if not uses_api_key(route):
            # Signed webhooks and buyer links: B's API key is no credential at all here.
            body, _ = request_body(route, b)
            answer = await client.request(method, f"{API}{fill_path(rel, a)}", json=body, headers=hb)
            assert 400 <= answer.status_code < 500, (method, path, answer.status_code, answer.text)
            assert not any(marker in answer.text for marker in a["markers"]), (method, path, answer.text)
        elif params:
            concrete = fill_path(rel, a)
            body = None
            if method in WRITE_METHODS:
                if (method, rel) in bodies:
                    body = bodies[(method, rel)]()
                else:
                    body, problem = request_body(route, b)
                    if problem:
                        pytest.fail(f"{method} {path}: {problem}; add a body to path_bodies()")
            answer = await client.request(method, f"{API}{concrete}", json=body, headers=hb)
            assert answer.status_code in (404, 405), (method, path, answer.status_code, answer.text)
            assert not any(marker in answer.text for marker in a["markers"]), (method, path, answer.text)
        elif method == "GET":
            answer = await client.get(f"{API}{rel}", headers=hb)
            assert answer.status_code == 200, (path, answer.text)
            assert not any(marker in answer.text for marker in a["markers"]), (path, answer.text)
            kind = LIST_KINDS.get(rel)
            if kind == "tenant":
                assert answer.json()["tenant"]["id"] == tenant_b.tenant_id
            elif kind is not None:
                assert a["ids"][kind] not in item_ids(answer.json()), (path, answer.text)
            for name in (p.name for p in route.dependant.query_params if p.name in FILTER_PARAMS):
                filtered = await client.get(f"{API}{rel}", params={name: a["ids"][name]}, headers=hb)
                assert filtered.status_code == 200 and item_ids(filtered.json()) == set(), (path, name)
        elif (method, rel) in probes or (method, rel) in creates:
            pass  # probed below
        elif (method, rel) == ("POST", "/inbound-email"):
            # Raw MIME, not JSON: B's own mailbox takes it (the key names the tenant; nothing of A's shows).
            raw = f"From: b@example.com\r\nTo: x@{a['slug']}.test\r\nSubject: hi\r\n\r\nhello\r\n".encode()
            answer = await client.post(
                f"{API}{rel}", content=raw, headers={**hb, "Content-Type": "message/rfc822"}
            )
            assert answer.status_code == 202, (rel, answer.text)
            assert not any(marker in answer.text for marker in a["markers"]), (rel, answer.text)
        elif (method, rel) == ("POST", "/attachments"):
            # A file upload (multipart): B attaching to A's ticket is refused, B's own ticket works.
            for ticket_id, expected in ((a["ids"]["ticket_id"], 404), (b["ids"]["ticket_id"], 201)):
                answer = await client.post(
                    f"{API}{rel}",
                    data={"ticket_id": str(ticket_id)},
                    files={"file": ("x.png", PNG)},
                    headers=hb,
                )
                assert answer.status_code == expected, (rel, ticket_id, answer.text)
                assert not any(marker in answer.text for marker in a["markers"]), (rel, answer.text)
        else:
            body, problem = request_body(route, b)
            if problem:
                pytest.fail(
                    f"{method} {path}: write route unknown to the isolation walk ({problem}); add a probe"
                )
            references = id_fields(body)
            if references:
                # It names other objects: B's generated body with one of A's ids swapped in is refused.
                probes[(method, rel)] = [
                    (rel, swapped(body, field, param_value(field.rsplit(".", 1)[-1], a)))
                    for field in references
                ]
            else:
                # B's own write (settings and the like): it succeeds, and A's snapshot stays the same.
                own_writes[(method, rel)] = body
        visited.append((method, rel))
    for (method, rel), cases in probes.items():
        assert (method, rel) in visited, f"stale probe {method} {rel}"
        for target, body in cases:
            answer = await client.request(method, f"{API}{target}", json=body, headers=hb)
            assert answer.status_code in (404, 422), (method, target, body, answer.text)
            assert not any(marker in answer.text for marker in a["markers"][1:]), (target, answer.text)
    for (method, rel), body in creates.items():
        assert (method, rel) in visited, f"stale create {method} {rel}"
        answer = await client.request(method, f"{API}{rel}", json=body, headers=hb)
        assert answer.status_code == 201, (method, rel, answer.text)
    for (method, rel), body in own_writes.items():
        body = OWN_WRITE_BODIES.get((method, rel), body)
        answer = await client.request(method, f"{API}{rel}", json=body, headers=hb)
        assert 200 <= answer.status_code < 300, (method, rel, body, answer.text)
        assert not any(marker in answer.text for marker in a["markers"]), (method, rel, answer.text)
    duplicates = sorted({route for route in visited if visited.count(route) > 1})
    assert not duplicates, f"routes declared twice (the second is never reached): {duplicates}"
    assert len(visited) == len(routes)
    assert await snapshot(client, tenant_a, a, app) == before


async def test_every_api_route_needs_credentials(client: httpx.AsyncClient, app: FastAPI) -> None:
    routes = api_routes(app)
    for method, path, route in routes:
        concrete = re.sub(r"{(\w+)(?::\w+)?}", "1", path)
        body: dict[str, Any] | None = {} if method in WRITE_METHODS - {"DELETE"} else None
        for headers in ({}, {"Authorization": "Bearer ask_nope.nope"}, {"Authorization": "Basic abc"}):
            answer = await client.request(method, concrete, json=body, headers=headers)
            if not uses_api_key(route):  # signed webhooks, buyer links: refused, by their own scheme
                assert 400 <= answer.status_code < 500, (method, path, headers, answer.text)
                continue
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers.get("www-authenticate") == "Bearer"
