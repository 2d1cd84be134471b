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
