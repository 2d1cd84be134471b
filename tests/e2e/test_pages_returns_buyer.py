"""The buyer's returns pages over HTTP, in Spanish: finding an order by email or postcode (one neutral answer
for every miss, rate limited), the start form checked against the policy (too many units, a closed window),
uploads refused with clear messages, a double submit making one return, and the status page with its label
PDF and the cancel button."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from aftersail.kit.db import Database
from aftersail.returns import buyer_pages
from aftersail.returns import service as returns
from aftersail.returns.models import ReturnRequest
from aftersail.returns.rules import Resolution, ReturnStatus
from aftersail.tenants.links import LinkScope
from tests.e2e.test_pages_shop import hidden_value
from tests.returns_desk import Delivered, make_delivered, order_line_ids

NEUTRAL = "No encontramos ningún pedido entregado con estos datos."
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)


@pytest.fixture
async def buyer(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from its own address, so that the find-your-order rate limit is this test's alone."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def error_text(html: str) -> str:
    found = re.search(r'id="find-error">([^<]*)<', html)
    assert found, "no error on the page"
    return found.group(1)


async def find(
    client: httpx.AsyncClient, shop: str, number: str, *, email: str = "", postal_code: str = ""
) -> httpx.Response:
    page = await client.get(f"/returns?shop={shop}&lang=es")
    assert page.status_code == 200
    data = {
        "form_token": hidden_value(page.text, "form_token"),
        "number": number,
        "email": email,
        "postal_code": postal_code,
    }
    return await client.post(f"/returns?shop={shop}&lang=es", data=data)


async def start_link(client: httpx.AsyncClient, delivered: Delivered) -> str:
    found = await find(client, delivered.tenant.slug, delivered.number, email=delivered.email)
    assert found.status_code == 303
    return found.headers["location"].split("?")[0]


def start_form(html: str, **fields: str) -> dict[str, str]:
    return {"form_token": hidden_value(html, "form_token"), "resolution": "refund", **fields}


async def open_start_form(
    client: httpx.AsyncClient, db: Database, delivered: Delivered
) -> tuple[dict[str, int], str, str]:
    """The order found as the buyer finds it: (SKU short name → order line id, the start form's path, the
    start page in Spanish)."""
    lines = await order_line_ids(db, delivered)
    link = await start_link(client, delivered)
    page = await client.get(f"{link}?lang=es")
    return lines, link, page.text


async def test_find_by_email_or_by_postcode(buyer: httpx.AsyncClient, database: Database) -> None:
    delivered = await make_delivered(database)
    by_email = await find(buyer, delivered.tenant.slug, delivered.number, email=delivered.email.upper())
    assert by_email.status_code == 303
    assert by_email.headers["location"].startswith("/returns/o/")
    assert by_email.headers["location"].endswith("?lang=es")
    by_postcode = await find(buyer, delivered.tenant.slug, delivered.number, postal_code=" 10 115 ")
    assert by_postcode.status_code == 303
    start = await buyer.get(by_postcode.headers["location"])
    assert start.status_code == 200 and '<html lang="es" dir="ltr">' in start.text
    assert "Devolver o cambiar un artículo" in start.text and "Cuántos devolver (hasta 2)" in start.text
    assert "Project-Id-Version" not in start.text and 'id="return-error"' not in start.text
    for hook in ('data-test="check"', 'data-test="submit"', 'name="reason"', 'name="sub_reason"'):
        assert hook in start.text
    token = unquote(by_postcode.headers["location"].split("/")[-1].split("?")[0])
    order_page = await buyer.get(f"/o/{token}?lang=es")
    assert 'data-test="start-return"' in order_page.text and "Iniciar una devolución" in order_page.text


async def test_every_miss_gets_the_same_neutral_answer(buyer: httpx.AsyncClient, database: Database) -> None:
    delivered = await make_delivered(database)
    slug, number = delivered.tenant.slug, delivered.number
    misses = [
        await find(buyer, slug, number, email="someone.else@example.es"),
        await find(buyer, f"no-such-shop-{uuid.uuid4().hex[:6]}", number, email=delivered.email),
        await find(buyer, slug, "NO-SUCH-NUMBER", email=delivered.email),
        await find(buyer, slug, number, postal_code="28001"),
        await find(buyer, slug, number, email=delivered.email, postal_code="28001"),  # both must match
    ]
    assert {miss.status_code for miss in misses} == {404}
    texts = {error_text(miss.text) for miss in misses}
    assert len(texts) == 1 and NEUTRAL in texts.pop()


async def test_finding_is_rate_limited_per_address(buyer: httpx.AsyncClient, database: Database) -> None:
    delivered = await make_delivered(database)
    statuses = [
        (await find(buyer, delivered.tenant.slug, "NOPE", email=delivered.email)).status_code
        for _ in range(10)
    ]
    assert statuses == [404] * 10
    limited = await find(buyer, delivered.tenant.slug, delivered.number, email=delivered.email)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "Demasiados intentos desde tu conexión" in limited.text


async def test_more_units_than_delivered_is_refused_in_spanish(
    buyer: httpx.AsyncClient, database: Database
) -> None:
    delivered = await make_delivered(database)
    lines, link, page = await open_start_form(buyer, database, delivered)
    form = start_form(page, reason="does_not_fit", note="Me queda pequeño", **{f"qty_{lines['lamp']}": "5"})
    refused = await buyer.post(f"{link}/submit?lang=es", data=form)
    assert refused.status_code == 422
    assert "Has pedido devolver más unidades de las que se entregaron" in refused.text
    assert "Me queda pequeño" in refused.text  # what was typed is kept
    assert 'value="does_not_fit" selected' in refused.text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        count = await session.scalar(
            select(func.count(ReturnRequest.id)).where(ReturnRequest.order_id == delivered.order_id)
        )
    assert count == 0


async def test_check_says_the_window_closed_in_spanish(buyer: httpx.AsyncClient, database: Database) -> None:
    delivered = await make_delivered(database, days_ago=40)
    lines, link, page = await open_start_form(buyer, database, delivered)
    form = start_form(
        page, reason="changed_mind", sub_reason="no_longer_needed", **{f"qty_{lines['lamp']}": "1"}
    )
    checked = await buyer.post(f"{link}/check?lang=es", data=form)
    assert checked.status_code == 200
    assert 'data-outcome="rejected"' in checked.text
    assert "No se puede devolver: el plazo de devolución terminó el" in checked.text
    assert "No podemos aceptar esta solicitud tal como está." in checked.text
    assert 'value="no_longer_needed" data-reason="changed_mind" selected' in checked.text

    fresh = await make_delivered(database, tenant=delivered.tenant, network=delivered.network)
    fresh_lines, fresh_link, page = await open_start_form(buyer, database, fresh)
    form = start_form(page, reason="does_not_fit", **{f"qty_{fresh_lines['lamp']}": "1"})
    checked = await buyer.post(f"{fresh_link}/check?lang=es", data=form)
    assert 'data-outcome="auto_approved"' in checked.text
    assert "Tu solicitud se aprobará al momento" in checked.text and "Frankfurt" in checked.text
    assert "El envío de la devolución corre de tu cuenta." in checked.text
    assert "19,99" in checked.text  # the refund, in Spanish money


async def test_uploads_of_the_wrong_kind_or_size_are_refused(
    buyer: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered = await make_delivered(database)
    lines = await order_line_ids(database, delivered)
    link = await start_link(buyer, delivered)

    async def submit(files: list[tuple[str, tuple[str, bytes, str]]]) -> httpx.Response:
        page = await buyer.get(f"{link}?lang=es")
        form = start_form(page.text, reason="damaged", **{f"qty_{lines['cable']}": "1"})
        return await buyer.post(f"{link}/submit?lang=es", data=form, files=files)

    wrong = await submit([("files", ("notas.txt", b"just some text, not a photo", "image/jpeg"))])
    assert wrong.status_code == 422
    assert "notas.txt no es una foto ni un vídeo que podamos aceptar" in wrong.text
    assert "vuelve a elegir tus fotos" in wrong.text  # files are not kept: the buyer is told
    big = PNG + b"\0" * (10 * 1024 * 1024)
    too_large = await submit([("files", ("rota.png", big, "image/png"))])
    assert too_large.status_code == 422 and "rota.png es demasiado grande" in too_large.text
    too_many = await submit([("files", (f"f{i}.png", PNG, "image/png")) for i in range(7)])
    assert too_many.status_code == 422 and "Envía como máximo 6 fotos o vídeos." in too_many.text
    monkeypatch.setattr(buyer_pages, "MAX_FORM_BYTES", 64 * 1024)
    whole = await submit([("files", ("grande.png", PNG + b"\0" * 100_000, "image/png"))])
    assert whole.status_code == 413 and "demasiado grandes en conjunto" in whole.text
    assert whole.headers["content-type"].startswith("text/html")


async def test_double_submit_makes_one_return_with_a_status_page_and_label(
    buyer: httpx.AsyncClient, app: FastAPI, database: Database
) -> None:
    delivered = await make_delivered(database)
    lines, link, page = await open_start_form(buyer, database, delivered)
    form = start_form(page, reason="does_not_fit", sub_reason="too_small", **{f"qty_{lines['lamp']}": "1"})
    first = await buyer.post(f"{link}/submit?lang=es", data=form)
    second = await buyer.post(f"{link}/submit?lang=es", data=form)
    assert first.status_code == second.status_code == 303
    links = app.state.services.links
    grants = [
        links.verify(unquote(answer.headers["location"].split("/r/")[1].split("?")[0]), LinkScope.RETURN)
        for answer in (first, second)
    ]
    assert grants[0].object_id == grants[1].object_id
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        rmas = (
            await session.scalars(
                select(ReturnRequest.rma_number).where(ReturnRequest.order_id == delivered.order_id)
            )
        ).all()
    assert len(rmas) == 1

    status = await buyer.get(first.headers["location"])
    assert status.status_code == 200 and rmas[0] in status.text
    assert "Aprobada" in status.text and 'aria-current="step"' in status.text
    assert "Frankfurt" in status.text and 'data-test="tracking"' in status.text
    assert f"Tu devolución {rmas[0]} está aprobada" in status.text  # what the buyer was told, in Spanish
    label_path = re.search(r'href="([^"]+/label\.pdf)" data-test="label"', status.text)
    assert label_path
    label = await buyer.get(label_path.group(1))
    assert label.status_code == 200 and label.content.startswith(b"%PDF")
    assert label.headers["content-type"] == "application/pdf"
    assert label.headers["content-disposition"] == f'inline; filename="{rmas[0]}-label.pdf"'

    base = first.headers["location"].split("?")[0]
    cancelled = await buyer.post(
        f"{base}/cancel?lang=es", data={"form_token": hidden_value(status.text, "form_token")}
    )
    assert cancelled.status_code == 303
    after = await buyer.get(cancelled.headers["location"])
    assert "Tu devolución está cancelada." in after.text and "Devolución cancelada" in after.text
    assert 'data-test="cancel"' not in after.text and 'data-test="label"' not in after.text
    wrong_scope = await buyer.get(f"/r/{unquote(link.split('/')[-1])}")
    assert wrong_scope.status_code == 404  # an order link is not a return link


def test_the_step_list_follows_the_status() -> None:
    def states(status: ReturnStatus, resolution: Resolution = Resolution.REFUND) -> list[str]:
        return [state for _, state in buyer_pages._steps(ReturnRequest(status=status, resolution=resolution))]

    assert states(ReturnStatus.REQUESTED) == ["current", "todo", "todo", "todo", "todo", "todo"]
    assert states(ReturnStatus.RECEIVED) == ["done", "done", "done", "current", "todo", "todo"]
    assert states(ReturnStatus.REFUNDED) == ["done"] * 6  # the end reached: nothing left open
    assert (
        buyer_pages._steps(ReturnRequest(status=ReturnStatus.EXCHANGED, resolution=Resolution.EXCHANGE))[-1][
            0
        ]
        == "Replacement sent"
    )
    assert states(ReturnStatus.REJECTED) == ["done", "current"]


async def test_the_buyer_says_the_parcel_is_on_its_way(buyer: httpx.AsyncClient, database: Database) -> None:
    delivered = await make_delivered(database)
    lines, link, page = await open_start_form(buyer, database, delivered)
    form = start_form(page, reason="changed_mind", **{f"qty_{lines['cable']}": "1"})
    submitted = await buyer.post(f"{link}/submit?lang=es", data=form)
    status = await buyer.get(submitted.headers["location"])
    assert 'data-test="sent"' in status.text and "He enviado el paquete" in status.text
    base = submitted.headers["location"].split("?")[0]
    token = {"form_token": hidden_value(status.text, "form_token")}
    for _ in range(2):  # a second click changes nothing
        sent = await buyer.post(f"{base}/sent?lang=es", data=token)
        assert sent.status_code == 303
    after = await buyer.get(sent.headers["location"])
    assert "Estaremos pendientes de tu paquete." in after.text and 'data-test="sent"' not in after.text
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await session.scalar(select(ReturnRequest).where(ReturnRequest.order_id == delivered.order_id))
        assert ret is not None and ret.status.value == "in_transit"
        moves = [e for e in await returns.return_events(session, ret) if e.kind == "status"]
        assert [e.data["after"] for e in moves] == ["approved", "in_transit"]
    refused = await buyer.post(f"{base}/sent?lang=es", data={"form_token": "forged"})
    assert refused.status_code in (400, 403)
