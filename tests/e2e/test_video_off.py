"""Without a media server, video calls are off and say why: in /readyz, beside the ticket where a call would
start, and as a 503 from the API — nothing half-starts. With Janus missing from the machine, the reason names
the packages to install."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.video.backend import media_from_settings
from tests.e2e.test_pages_live import sign_in_as
from tests.support_desk import make_desk, open_ticket


async def test_video_off_is_said_plainly_and_starts_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ok"  # the desk works without video
    assert ready["features"]["video"].startswith("disabled: Video calls are switched off")
    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="damaged", at=utcnow())
    csrf = await sign_in_as(client, desk.tenant, "en")
    page = (await client.get(f"/inbox/{ticket_id}")).text
    assert "data-video-off" in page and "Video calls are switched off" in page
    assert "Start a video call" not in page
    started = await client.post(
        f"/api/v1/tickets/{ticket_id}/calls", json={"purpose": "usage_help"}, headers={"X-CSRF-Token": csrf}
    )
    assert started.status_code == 503
    assert "switched off" in started.json()["error"]["message"]
    assert (await client.get(f"/api/v1/tickets/{ticket_id}/evidence", headers=desk.tenant.headers())).json()[
        "entries"
    ] == []


def test_a_machine_without_janus_is_told_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no janus on it
    state = media_from_settings(Settings(video_media="auto", data_dir=tmp_path))
    assert state.backend is None
    assert "Janus is not installed" in state.problem and "janus-tools" in state.problem


async def test_an_expired_call_link_gets_a_clear_page_and_no_seat(
    client: httpx.AsyncClient, database: Database, app: object
) -> None:
    from datetime import timedelta

    from aftersail.tenants.links import BuyerGrant, LinkScope
    from aftersail.video.models import CallSeat, InspectionCall
    from aftersail.video.rules import CallPurpose, Seat

    desk = await make_desk(database)
    ticket_id = await open_ticket(database, desk, category="damaged", at=utcnow())
    now = utcnow()
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        call = InspectionCall(
            tenant_id=desk.tenant_id,
            ticket_id=ticket_id,
            purpose=CallPurpose.RETURN_INSPECTION,
            language="fr",
            room=424242 + ticket_id,
            room_pin="pin",
            bitrate=500_000,
            created_at=now - timedelta(days=2),
            link_expires_at=now - timedelta(days=1),  # nobody answered in time
        )
        session.add(call)
        await session.flush()
        for seat in Seat:
            session.add(CallSeat(tenant_id=desk.tenant_id, call_id=call.id, seat=seat, room_token=seat.value))
        call_id = call.id
    token = app.state.services.links.sign(BuyerGrant(desk.tenant_id, LinkScope.CALL, call_id))  # type: ignore[attr-defined]
    page = await client.get(f"/v/{token}?lang=fr")
    assert page.status_code == 401
    assert "Ce lien d'appel a expiré" in page.text.replace("&#39;", "'")
    seat = await client.post(f"/v/{token}/seat", json={"client_id": "phone-12345678"})
    assert seat.status_code == 401 and "expired" in seat.json()["error"]["message"]
    # a link for something else (an order) is not a call link
    order_link = app.state.services.links.sign(BuyerGrant(desk.tenant_id, LinkScope.ORDER, call_id))  # type: ignore[attr-defined]
    assert (await client.get(f"/v/{order_link}")).status_code == 404
