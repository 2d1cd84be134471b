"""A video inspection call end to end, through the real pages, a real Janus and two headless Chromium with a
fake camera and microphone: an agent starts a call on Lena's ticket (she gets the link in German on the
ticket), joins from the console; Lena opens the link on a phone (in Arabic here, for the right-to-left
screenshot), allows the camera and connects; both sides render the other's frames; a second device with the
same link is refused; the agent takes a snapshot and marks the damage; the agent ends the call. The recording
is post-processed into a playable WebM whose length ffprobe confirms, the snapshot is decoded from it, every
item is in the case's evidence chain, which verifies — and fails, naming the file, after one byte is flipped.
A second call is dropped mid-way (the buyer's browser vanishes): what was recorded up to the drop is kept and
playable."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.support.attachments import blob_path
from aftersail.support.models import TicketMessage
from aftersail.video import service
from aftersail.video.backend import media_from_settings
from aftersail.video.chain import EvidenceKind
from aftersail.video.evidence import verify_case
from aftersail.video.models import EvidenceEntry, InspectionCall
from aftersail.video.rules import CallStatus, EndReason, RecordingStatus
from tests.e2e.console_session import sign_in_page
from tests.e2e.test_browser_pages import save
from tests.support_desk import Desk, make_desk, open_ticket, user_email
from tests.video_rig import FakeDevices, launch_with_camera, make_fake_devices, need_media_tools, video_server

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> FakeDevices:
    need_media_tools()
    return make_fake_devices(tmp_path_factory.mktemp("camera"))


@pytest.fixture
async def browsers(chromium_path: str, devices: FakeDevices) -> AsyncIterator[tuple[Browser, Browser]]:
    async with async_playwright() as playwright:
        staff = await launch_with_camera(playwright, chromium_path, devices)
        buyer = await launch_with_camera(playwright, chromium_path, devices)
        yield staff, buyer
        await staff.close()
        await buyer.close()


async def start_call(page: Page, ticket_id: int) -> dict[str, object]:
    """The agent starts the call from the console session (the API the ticket's call button uses)."""
    status, body = await page.evaluate(
        """async (ticketId) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch(`/api/v1/tickets/${ticketId}/calls`, {
              method: "POST",
              headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
              body: JSON.stringify({purpose: "return_inspection"}),
            });
            return [response.status, await response.json()];
        }""",
        ticket_id,
    )
    assert status == 201, body
    return dict(body)


async def both_connected(staff: Page, buyer: Page) -> None:
    await expect(buyer.locator("#call")).to_have_attribute("data-state", "connected", timeout=15_000)
    await expect(staff.locator("#call")).to_have_attribute("data-state", "connected", timeout=15_000)
    for page in (staff, buyer):  # each side renders the other's frames
        await page.wait_for_function(
            "() => { const v = document.getElementById('remote-video');"
            " return v.videoWidth > 0 && v.currentTime > 0.3; }",
            timeout=15_000,
        )


async def wait_for_recording(database: Database, tenant_id: int, call_id: int) -> InspectionCall:
    for _ in range(300):
        async with database.transaction(tenant_id=tenant_id) as session:
            call = await service.access_call(session, tenant_id, call_id)
            if call.recording_status not in {RecordingStatus.RECORDING, RecordingStatus.PROCESSING}:
                return call
        await asyncio.sleep(0.1)
    raise AssertionError(f"the recording of call {call_id} was not processed in 30 s")


async def chain_of(database: Database, tenant_id: int, ticket_id: int) -> list[EvidenceEntry]:
    async with database.transaction(tenant_id=tenant_id) as session:
        rows = await session.scalars(
            select(EvidenceEntry).where(EvidenceEntry.ticket_id == ticket_id).order_by(EvidenceEntry.seq)
        )
        return list(rows)


def probe(path: Path) -> dict[str, object]:
    entries = "stream=codec_type,codec_name:format=duration"
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(answer.stdout))


async def agent_ready(
    database: Database, desk: Desk, staff_browser: Browser, base_url: str
) -> tuple[Page, int]:
    ticket_id = await open_ticket(database, desk, category="damaged", at=utcnow())
    staff = await (await staff_browser.new_context(locale="zh-CN")).new_page()
    await sign_in_page(staff, base_url, await user_email(database, desk, desk.wang_id), "/inbox")
    return staff, ticket_id


async def test_an_inspection_call_is_recorded_as_evidence_that_verifies(
    db_url: str,
    database: Database,
    tmp_path: Path,
    browsers: tuple[Browser, Browser],
    artifacts_dir: Path,
) -> None:
    staff_browser, buyer_browser = browsers
    desk = await make_desk(database)
    async with video_server(db_url, tmp_path) as server:
        async with httpx.AsyncClient() as http:
            ready = (await http.get(f"{server.base_url}/readyz")).json()
        assert ready["features"]["video"].startswith("ok"), ready
        staff, ticket_id = await agent_ready(database, desk, staff_browser, server.base_url)
        # From the ticket: the agent starts the call beside the thread and lands on the call's page.
        await staff.goto(f"{server.base_url}/inbox/{ticket_id}")
        calls = staff.locator("[data-calls]")
        await calls.locator("select[name=purpose]").select_option("return_inspection")
        await calls.get_by_role("button").click()
        await staff.wait_for_url(re.compile(r".*/calls/\d+$"))
        call_id = int(staff.url.rsplit("/", 1)[1])
        link = await staff.locator("[data-test=buyer-link]").input_value()
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            sent = await session.scalars(
                select(TicketMessage.body).where(TicketMessage.ticket_id == ticket_id)
            )
            invitation = [body for body in sent if f"{server.base_url}/v/" in body]
        assert invitation and "Videoanruf" in invitation[0], "Lena gets the link on her ticket, in German"
        sent_token = invitation[0].split("/v/", 1)[1].split()[0]
        assert server.app.state.services.links.verify(sent_token).object_id == call_id

        await staff.locator("#join").click()
        await expect(staff.locator("#call")).to_have_attribute("data-state", "waiting", timeout=15_000)

        buyer_context = await buyer_browser.new_context(
            viewport=PHONE, locale="ar", is_mobile=True, has_touch=True
        )
        buyer = await buyer_context.new_page()
        await buyer.goto(f"{link}?lang=ar")
        await expect(buyer.locator("html")).to_have_attribute("dir", "rtl")
        await save(buyer, artifacts_dir, "call-buyer-ar-explainer.png")
        await buyer.locator("#allow-camera").click()
        await expect(buyer.locator("#connect")).to_be_enabled(timeout=15_000)
        await buyer.locator("#connect").click()
        await both_connected(staff, buyer)
        first_frame = await buyer.evaluate("window.aftersailFirstFrameMs")
        assert first_frame is not None and first_frame > 0

        # A second device with the same link cannot take the buyer's seat while Lena holds it.
        token = link.rsplit("/", 1)[1]
        async with httpx.AsyncClient() as http:
            refused = await http.post(
                f"{server.base_url}/v/{token}/seat", json={"client_id": "someone-else-0001"}
            )
        assert refused.status_code == 409 and "already" in refused.json()["error"]["message"]

        await asyncio.sleep(2.5)
        await staff.locator("#snapshot").click()
        figure = staff.locator(".snapshot").first
        await expect(figure).to_be_visible()
        box = await figure.locator("canvas").bounding_box()
        assert box is not None
        await staff.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
        await staff.mouse.down()
        await staff.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
        await staff.mouse.up()
        await figure.locator("textarea").fill("角落有裂痕")
        await figure.locator("button").click()
        await expect(figure.locator(".snapshot-saved")).to_be_visible()
        await save(buyer, artifacts_dir, "call-buyer-ar.png")
        await save(staff, artifacts_dir, "call-staff.png")
        await asyncio.sleep(1.5)

        await staff.locator("#end-call").click()
        await expect(staff.locator("#call")).to_have_attribute("data-state", "ended")
        await expect(buyer.locator("#call")).to_have_attribute("data-state", "ended", timeout=15_000)
        call = await wait_for_recording(database, desk.tenant_id, call_id)
        assert call.recording_status is RecordingStatus.READY, call.recording_error
        assert call.end_reason is EndReason.HUNG_UP
        raw_folder = service.recordings_dir(tmp_path / "recordings", call)
        for _ in range(100):  # the raw folder goes once the evidence is committed
            if not raw_folder.exists():
                break
            await asyncio.sleep(0.1)
        assert not raw_folder.exists()

        entries = await chain_of(database, desk.tenant_id, ticket_id)
        kinds = [entry.kind for entry in entries]
        assert kinds.count(EvidenceKind.RECORDING) == 2  # the buyer's side and the agent's
        assert kinds.count(EvidenceKind.RECORDING_RAW) == 4  # video and audio of each
        assert EvidenceKind.SNAPSHOT in kinds and EvidenceKind.ANNOTATION in kinds
        buyer_recording = next(
            e for e in entries if e.kind is EvidenceKind.RECORDING and e.meta["seat"] == "buyer"
        )
        path = blob_path(tmp_path, buyer_recording.sha256)
        probed = probe(path)
        streams = {s["codec_type"]: s["codec_name"] for s in probed["streams"]}  # type: ignore[union-attr]
        assert streams == {"video": "vp8", "audio": "opus"}
        recorded_from = datetime.fromisoformat(str(buyer_recording.meta["started_at"]))
        assert call.ended_at is not None
        expected = (call.ended_at - recorded_from).total_seconds()
        duration = float(probed["format"]["duration"])  # type: ignore[index]
        assert abs(duration - expected) <= 1.0, (duration, expected)

        snapshot = next(e for e in entries if e.kind is EvidenceKind.SNAPSHOT)
        image = Image.open(io.BytesIO(blob_path(tmp_path, snapshot.sha256).read_bytes()))
        assert image.size == (320, 240)
        marks = json.loads(
            blob_path(
                tmp_path, next(e for e in entries if e.kind is EvidenceKind.ANNOTATION).sha256
            ).read_text()
        )
        assert marks["note"] == "角落有裂痕" and marks["marks"][0]["shape"] == "rect"

        async with database.transaction(tenant_id=desk.tenant_id) as session:
            assert (await verify_case(session, tmp_path, ticket_id, tenant_id=desk.tenant_id)).ok
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            report = await verify_case(session, tmp_path, ticket_id, tenant_id=desk.tenant_id)
        assert not report.ok
        altered = [item for item in report.items if item.state.value == "altered"]
        assert [item.seq for item in altered] == [buyer_recording.seq]

        # The link of an ended call opens a clear page, and joins nothing.
        gone = await (await buyer_browser.new_context()).new_page()
        response = await gone.goto(link)
        assert response is not None and response.status == 410
        await expect(gone.locator("[data-test=call-refused]")).to_be_visible()
        forged = await gone.goto(f"{server.base_url}/v/{token[:-4]}AAAA")
        assert forged is not None and forged.status == 401


async def test_a_dropped_call_keeps_the_recording_up_to_the_drop(
    db_url: str, database: Database, tmp_path: Path, browsers: tuple[Browser, Browser]
) -> None:
    staff_browser, buyer_browser = browsers
    desk = await make_desk(database)
    async with video_server(db_url, tmp_path) as server:
        staff, ticket_id = await agent_ready(database, desk, staff_browser, server.base_url)
        started = await start_call(staff, ticket_id)
        call_id, link = int(started["id"]), str(started["buyer_link"])
        await staff.goto(f"{server.base_url}/calls/{call_id}")
        await staff.locator("#join").click()
        buyer_context = await buyer_browser.new_context(viewport=PHONE, is_mobile=True)
        buyer = await buyer_context.new_page()
        await buyer.goto(link)
        await buyer.locator("#allow-camera").click()
        await expect(buyer.locator("#connect")).to_be_enabled(timeout=15_000)
        await buyer.locator("#connect").click()
        await both_connected(staff, buyer)
        await asyncio.sleep(3)
        dropped_at = utcnow()
        await buyer_context.close()  # the phone loses its network for good
        await expect(staff.locator("#call-status")).not_to_have_text("", timeout=5_000)
        for _ in range(100):
            async with database.transaction(tenant_id=desk.tenant_id) as session:
                call = await service.access_call(session, desk.tenant_id, call_id)
            if call.status is CallStatus.RECONNECTING:
                break
            await asyncio.sleep(0.2)
        assert call.status is CallStatus.RECONNECTING
        # Nobody comes back: the watchdog (run here with the clock past the grace) ends it as dropped.
        media = media_from_settings(server.app.state.services.settings).backend
        assert media is not None
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            call = await service.access_call(session, desk.tenant_id, call_id)
            await service.do_check_call(session, call, media=media, now=utcnow() + timedelta(minutes=2))
        call = await wait_for_recording(database, desk.tenant_id, call_id)
        assert call.end_reason is EndReason.DROPPED
        assert call.recording_status is RecordingStatus.READY, call.recording_error
        entries = await chain_of(database, desk.tenant_id, ticket_id)
        buyer_recording = next(
            e for e in entries if e.kind is EvidenceKind.RECORDING and e.meta["seat"] == "buyer"
        )
        duration = float(probe(blob_path(tmp_path, buyer_recording.sha256))["format"]["duration"])  # type: ignore[index]
        expected = (
            dropped_at - datetime.fromisoformat(str(buyer_recording.meta["started_at"]))
        ).total_seconds()
        assert abs(duration - expected) <= 1.0, (duration, expected)


async def test_a_phone_that_changes_network_rejoins_and_keeps_its_seat(
    db_url: str, database: Database, tmp_path: Path, browsers: tuple[Browser, Browser]
) -> None:
    """The agent's page reloads after the buyer's page prepared its subscription to the agent's old feed
    (Connect still finds the agent); then the phone moves from Wi-Fi to 4G (its page hears "online"): it
    leaves the room and joins again with the same client id, so its seat is still its own; the agent's page
    picks up the new feed; the buyer's side is recorded in two segments, both on the case."""
    staff_browser, buyer_browser = browsers
    desk = await make_desk(database)
    async with video_server(db_url, tmp_path) as server:
        staff, ticket_id = await agent_ready(database, desk, staff_browser, server.base_url)
        started = await start_call(staff, ticket_id)
        call_id, link = int(started["id"]), str(started["buyer_link"])
        await staff.goto(f"{server.base_url}/calls/{call_id}")
        await staff.locator("#join").click()
        buyer = await (await buyer_browser.new_context(viewport=PHONE, is_mobile=True)).new_page()
        await buyer.goto(link)
        await buyer.locator("#allow-camera").click()
        await expect(buyer.locator("#connect")).to_be_enabled(timeout=15_000)
        await staff.reload()  # the agent's feed the buyer's page prepared for goes away
        await staff.locator("#join").click()
        await expect(staff.locator("#call")).to_have_attribute("data-state", "waiting", timeout=15_000)
        await buyer.locator("#connect").click()
        await both_connected(staff, buyer)
        await asyncio.sleep(1.5)
        first_feed = await buyer.evaluate("window.aftersailCall.feed")
        await buyer.evaluate("window.dispatchEvent(new Event('online'))")
        await buyer.wait_for_function(
            f"() => window.aftersailCall.feed && window.aftersailCall.feed !== {first_feed}", timeout=15_000
        )
        await both_connected(staff, buyer)
        await asyncio.sleep(1.5)
        await staff.locator("#end-call").click()
        call = await wait_for_recording(database, desk.tenant_id, call_id)
        assert call.recording_status is RecordingStatus.READY, call.recording_error
        entries = await chain_of(database, desk.tenant_id, ticket_id)
        buyer_feeds = {
            e.meta["feed"] for e in entries if e.kind is EvidenceKind.RECORDING and e.meta["seat"] == "buyer"
        }
        assert len(buyer_feeds) == 2 and first_feed in buyer_feeds
