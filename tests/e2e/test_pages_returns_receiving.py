"""Warehouse receiving in the console over HTTP (SQLite and PostgreSQL): a scan (RMA or tracking number, any
case) opens the case; an unknown code says so and the field is ready for the next scan; the parcel is
received and graded, restocking its warehouse, SKU and batch and asking for one refund however often the form
is sent; refusals keep what was typed; viewers and agents look but do not act; another tenant sees nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from itsdangerous import URLSafeTimedSerializer

from aftersail.kit.db import Database
from aftersail.returns import refunds
from aftersail.returns import service as returns
from aftersail.returns.rules import Reason, Resolution, ReturnStatus
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from aftersail.web.console import FORM_NONCE_COOKIE
from tests.e2e.test_pages_shop import meta_csrf, sign_in
from tests.factories import PASSWORD, make_tenant
from tests.returns_desk import Delivered, make_delivered, order_line_ids, request_return

# A 1×1 transparent PNG, for the photo taken while grading.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
NAMES = {Role.WAREHOUSE: "Jonas Weber", Role.VIEWER: "Vic Viewer", Role.AGENT: "Mia Chen"}


@dataclass
class Parcel:
    delivered: Delivered
    return_id: int
    rma: str
    tracking: str
    users: dict[Role, str]  # role → email


async def add_users(database: Database, tenant_id: int, slug: str, locale: str = "en") -> dict[Role, str]:
    users = {}
    async with database.transaction(system=True) as session:
        for role, name in NAMES.items():
            email = f"{role.value}-{uuid.uuid4().hex[:6]}@{slug}.test"
            await tenants.do_create_user(
                session,
                tenant_id=tenant_id,
                email=email,
                name=name,
                password=PASSWORD,
                role=role,
                locale=locale,
                time_zone="Europe/Madrid",
            )
            users[role] = email
    return users


async def make_parcel(database: Database, files_dir: Path, *, locale: str = "en") -> Parcel:
    """An approved return of one lamp (an order delivered to Spain, back to Frankfurt), with its label."""
    delivered = await make_delivered(database)
    lamp = (await order_line_ids(database, delivered))["lamp"]
    ask = returns.ReturnAsk(
        reason=Reason.DOES_NOT_FIT,
        resolution=Resolution.REFUND,
        lines=[returns.LineAsk(lamp, 1)],
        note="La lámpara es demasiado grande para la mesa.",
        language="es",
    )
    return_id = await request_return(database, delivered, ask, files_dir, key=f"k-{uuid.uuid4().hex}")
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        assert ret.status is ReturnStatus.APPROVED, ret.status
        ids = (ret.id, ret.rma_number, ret.tracking_number)
    users = await add_users(database, delivered.tenant_id, delivered.tenant.slug, locale)
    return Parcel(delivered, *ids, users)


async def lamp_stock(database: Database, parcel: Parcel) -> int:
    levels = await parcel.delivered.network.stock_levels(database)
    return levels[("FRA", "lamp", None)][0]


async def return_status(database: Database, parcel: Parcel) -> ReturnStatus:
    async with database.transaction(tenant_id=parcel.delivered.tenant_id, readonly=True) as session:
        return (await returns.access_return(session, parcel.delivered.tenant_id, parcel.return_id)).status


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name!r}"
    return found.group(1)


def grading_form(html: str, *, received: str = "1", grade: str = "A", disposition: str = "restock") -> dict:
    [line_id] = set(re.findall(r'name="grade_(\d+)"', html))
    return {
        "csrf_token": meta_csrf(html),
        "form_token": hidden(html, "form_token"),
        f"received_{line_id}": received,
        f"grade_{line_id}": grade,
        f"disposition_{line_id}": disposition,
        f"note_{line_id}": "como nueva",
    }


async def scan(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.get("/returns/receive", params={"code": code})


async def test_a_scan_opens_the_case_by_rma_or_tracking_number_in_any_case(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    page = await client.get("/returns/receive")
    assert page.status_code == 200
    assert 'data-test="scan"' in page.text and "autofocus" in page.text
    for code in (parcel.rma, parcel.tracking, parcel.rma.lower(), f"  {parcel.tracking.lower()} "):
        found = await scan(client, code)
        assert found.status_code == 303, (code, found.text)
        assert found.headers["location"] == f"/returns/receive/{parcel.return_id}"
    posted = await client.post(
        "/returns/receive", data={"code": parcel.rma.lower(), "csrf_token": meta_csrf(page.text)}
    )
    assert posted.status_code == 303
    assert (await client.get(posted.headers["location"])).status_code == 303  # on to the case
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    assert case.status_code == 200
    assert parcel.rma in case.text and parcel.tracking in case.text
    assert "does not fit" in case.text and "demasiado grande" in case.text
    assert 'data-test="received"' in case.text and "Frankfurt" in case.text


async def test_an_unknown_code_says_so_and_the_field_is_ready_again(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    page = await scan(client, "rma-nope-42")
    assert page.status_code == 404
    assert "No return has the code RMA-NOPE-42" in page.text
    field = re.search(r"<input[^>]*data-test=\"scan\"[^>]*>", page.text, re.S)
    assert field and 'value=""' in field.group(0) and "autofocus" in field.group(0)


async def test_receive_and_grade_restocks_the_batch_and_refunds_once(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path, app: FastAPI
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    before = await lamp_stock(database, parcel)
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    early = await client.post(
        f"/returns/receive/{parcel.return_id}/grading",
        data=grading_form_before_receipt(case.text, client, app, parcel),
    )
    assert early.status_code == 409 and "no longer at this step" in early.text  # not received yet
    received = await client.post(
        f"/returns/receive/{parcel.return_id}/received", data={"csrf_token": meta_csrf(case.text)}
    )
    assert received.status_code == 303
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    assert 'data-test="submit-grading"' in case.text and 'data-test="grade-A"' in case.text
    assert 'capture="environment"' in case.text
    form = grading_form(case.text)
    url = f"/returns/receive/{parcel.return_id}/grading"
    first = await client.post(url, data=form, files={"photos": ("box.png", PNG, "image/png")})
    assert first.status_code == 303, first.text
    again = await client.post(url, data=form, files={"photos": ("box.png", PNG, "image/png")})
    assert again.status_code == 303  # the same form sent twice: shown the result, nothing graded again
    assert await lamp_stock(database, parcel) == before + 1
    async with database.transaction(tenant_id=parcel.delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, parcel.delivered.tenant_id, parcel.return_id)
        assert ret.status in {ReturnStatus.GRADED, ReturnStatus.REFUNDED}
        [refund] = await refunds.return_refunds(session, ret)
        assert refund.amount_minor == 1999
        kinds = [event.kind for event in await returns.return_events(session, ret)]
        assert kinds.count("graded") == 1
        evidence = await returns.return_evidence(session, ret)
        assert [item.source for item in evidence].count("warehouse") == 1
    result = await client.get(f"/returns/receive/{parcel.return_id}")
    assert 'data-test="result"' in result.text and 'data-test="refunds"' in result.text
    assert "Restock in this warehouse" in result.text and "como nueva" in result.text
    assert 'data-test="next-parcel"' in result.text and 'data-test="discrepancy"' not in result.text
    assert "Photos taken while grading" in result.text


def grading_form_before_receipt(html: str, client: httpx.AsyncClient, app: FastAPI, parcel: Parcel) -> dict:
    """What a stale grading page would send (the form itself shows only once the parcel is received): the
    form token is signed here as the page signs it, for this tenant and return."""
    secret = app.state.services.settings.secret_key.get_secret_value()
    purpose = f"returns.grade.{parcel.delivered.tenant_id}.{parcel.return_id}"
    signer = URLSafeTimedSerializer(secret, salt=f"aftersail.form.{purpose}.v1")
    nonce = client.cookies.get(FORM_NONCE_COOKIE) or ""
    return {"csrf_token": meta_csrf(html), "form_token": str(signer.dumps(nonce))}


async def test_a_short_parcel_posts_the_difference_and_moves_no_money(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    before = await lamp_stock(database, parcel)
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    await client.post(
        f"/returns/receive/{parcel.return_id}/received", data={"csrf_token": meta_csrf(case.text)}
    )
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    url = f"/returns/receive/{parcel.return_id}/grading"
    bad = await client.post(url, data=grading_form(case.text, received="tres"))
    assert bad.status_code == 422 and "whole number" in bad.text
    assert 'value="tres"' in bad.text and 'value="como nueva"' in bad.text  # nothing typed is lost
    too_many = await client.post(url, data=grading_form(case.text, received="9"))
    assert too_many.status_code == 422 and "Nothing was saved" in too_many.text
    assert await lamp_stock(database, parcel) == before
    empty = await client.post(
        url, data=grading_form(case.text, received="0", grade="D", disposition="destroy")
    )
    assert empty.status_code == 303
    result = await client.get(f"/returns/receive/{parcel.return_id}")
    assert 'data-test="discrepancy"' in result.text and "expected 1, received 0" in result.text
    assert "No refund yet" in result.text
    assert await lamp_stock(database, parcel) == before


async def test_viewers_and_agents_look_but_do_not_act(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path, app: FastAPI
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    for role in (Role.VIEWER, Role.AGENT):
        client.cookies.clear()
        await sign_in(client, parcel.users[role], PASSWORD)
        assert (await scan(client, parcel.rma)).status_code == 303
        case = await client.get(f"/returns/receive/{parcel.return_id}")
        assert case.status_code == 200 and 'data-test="read-only"' in case.text
        assert re.search(r'data-test="received" disabled', case.text)
        refused = await client.post(
            f"/returns/receive/{parcel.return_id}/received", data={"csrf_token": meta_csrf(case.text)}
        )
        assert refused.status_code == 403
        graded = await client.post(
            f"/returns/receive/{parcel.return_id}/grading",
            data=grading_form_before_receipt(case.text, client, app, parcel),
        )
        assert graded.status_code == 403
    assert await return_status(database, parcel) is ReturnStatus.APPROVED


async def test_another_tenant_finds_nothing(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    parcel = await make_parcel(database, tmp_data_dir)
    other = await make_tenant(database, name="Other Seller")
    outsider = (await add_users(database, other.tenant_id, other.slug))[Role.WAREHOUSE]
    await sign_in(client, outsider, PASSWORD)
    home = await client.get("/returns/receive")
    token = meta_csrf(home.text)
    assert (await scan(client, parcel.rma)).status_code == 404
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    assert case.status_code == 404 and parcel.rma not in case.text
    for action in ("received", "grading"):
        answer = await client.post(
            f"/returns/receive/{parcel.return_id}/{action}", data={"csrf_token": token}
        )
        assert answer.status_code == 404, (action, answer.status_code)
        assert parcel.rma not in answer.text
    assert await return_status(database, parcel) is ReturnStatus.APPROVED


async def test_the_pages_speak_chinese_by_default(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    parcel = await make_parcel(database, tmp_data_dir, locale="zh")
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    assert "扫描或输入退货编码" in (await client.get("/returns/receive")).text
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    assert "包裹已签收" in case.text and "买家原因：尺码不合适" in case.text


async def test_two_submits_at_once_grade_and_refund_once(
    client: httpx.AsyncClient, database: Database, tmp_data_dir: Path
) -> None:
    """A double tap sends the form twice at the same moment: the return's row lock lets one grade it and
    shows the other the result (on PostgreSQL the lock decides; SQLite writes one at a time)."""
    parcel = await make_parcel(database, tmp_data_dir)
    before = await lamp_stock(database, parcel)
    await sign_in(client, parcel.users[Role.WAREHOUSE], PASSWORD)
    case = await client.get(f"/returns/receive/{parcel.return_id}")
    await client.post(
        f"/returns/receive/{parcel.return_id}/received", data={"csrf_token": meta_csrf(case.text)}
    )
    form = grading_form((await client.get(f"/returns/receive/{parcel.return_id}")).text)
    url = f"/returns/receive/{parcel.return_id}/grading"
    answers = await asyncio.gather(*(client.post(url, data=form) for _ in range(2)))
    assert [answer.status_code for answer in answers] == [303, 303], [a.text[:200] for a in answers]
    assert await lamp_stock(database, parcel) == before + 1
    async with database.transaction(tenant_id=parcel.delivered.tenant_id, readonly=True) as session:
        ret = await returns.access_return(session, parcel.delivered.tenant_id, parcel.return_id)
        assert len(await refunds.return_refunds(session, ret)) == 1
        assert [event.kind for event in await returns.return_events(session, ret)].count("graded") == 1
