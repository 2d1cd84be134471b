"""`make bench-video`: click-to-first-remote-frame of a video inspection call through AfterSail's pages and
Janus, against the raw first-frame time of Janus's own EchoTest with the same fake camera, in the same run.

One `aftersail serve` (production settings, SQLite in a temporary data folder, its dispatcher on so
recordings are post-processed, `video_media=auto`: the server starts its own Janus on free ports) and two
headless Chromium, the agent's and the buyer's, each with the same fake camera and microphone (a y4m and a
wav made by ffmpeg). For each call: the agent, signed in through /login, starts a call on a fresh ticket
(`POST /api/v1/tickets/{id}/calls`), opens /calls/{id}, joins and waits; the buyer opens the link in a new
phone-sized context, allows the camera, waits until Connect is enabled (seat and media session are prepared
before the click, by design) and clicks it. The sample is the page's own `window.aftersailFirstFrameMs`
(Connect click → first frame of the agent's video, requestVideoFrameCallback). The call runs `--hold`
seconds, the agent ends it, and the run waits until the recording is processed: `ready`, and ffprobe finds
a video stream longer than 1 s in the buyer's WebM from the case's evidence chain.

The raw limit, interleaved with the calls (one echo sample before each call): a minimal page this benchmark
serves itself, in the buyer's Chromium, with the camera open, a Janus session and an EchoTest handle
attached before the click (as the buyer's page prepares its own); on the click an RTCPeerConnection with
the camera's tracks, the offer, `{"audio": true, "video": true}` to janus.plugin.echotest, the answer, and
the time to the first frame of the echoed video, the same requestVideoFrameCallback measure.

Both pages are instrumented from outside (an init script wrapping RTCPeerConnection and WebSocket, no change
to the pages) so the table shows where the time goes on the receiving connection: signalling (click → both
descriptions set), ICE (→ ICE connected), DTLS (→ connection connected), first frame (→ frame shown).

CPU: utime+stime of the Janus process and of the `aftersail serve` process (read from /proc) between each
call's first frame and its end, divided by that wall time: the cost of one connected call in % of one core.
Chromium (both sides are clients) and this process are not included; post-processing the recording after
the call is reported apart (`recording_cpu_ms_per_call`, children's CPU of the server).

The last line printed is one JSON object: first_frame_median_ms, first_frame_p90_ms, raw_echo_median_ms,
ratio (median ÷ raw median), cpu_per_call_pct and recordings_ok, then further figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SAWarning

import aftersail
from aftersail.kit.db import Database
from aftersail.kit.migrate import upgrade
from aftersail.orders import service as orders
from aftersail.orders.schemas import CustomerCreate
from aftersail.support import messages
from aftersail.support import service as tickets
from aftersail.support.attachments import blob_path
from aftersail.support.models import Channel
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role
from aftersail.video.janus_server import find_janus
from aftersail.video.media import ECHOTEST, VIDEOROOM, sign_token
from benchmarks.harness import ServerProcess, descendants, free_port

console = Console(stderr=True)
TARGET_MEDIAN_MS = 600.0
TARGET_RATIO = 1.3
IDLE_SECONDS = 3.0
PASSWORD = "video-bench-password-1"
PHONE = {"width": 390, "height": 844}
STATIC_JS = Path(aftersail.__file__).parent / "web" / "static" / "js"
CHROMIUM_ARGS = [  # as the browser tests run it: no network of its own, no sandbox in a container
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# Timestamps (performance.now(), the page's own clock) of what the receiving connection goes through.
INSTRUMENT = """(() => {
  const marks = [];
  window.__benchMarks = marks;
  const mark = (name) => marks.push([name, performance.now()]);
  const Native = window.RTCPeerConnection;
  let count = 0;
  class Instrumented extends Native {
    constructor(...args) {
      super(...args);
      const id = `pc${count++}`;
      mark(`${id}.created`);
      this.addEventListener("iceconnectionstatechange", () => mark(`${id}.ice.${this.iceConnectionState}`));
      this.addEventListener("connectionstatechange", () => mark(`${id}.conn.${this.connectionState}`));
      this.addEventListener("track", (event) => mark(`${id}.track.${event.track.kind}`));
      this.__benchId = id;
    }
    async setRemoteDescription(description) {
      const done = await super.setRemoteDescription(description);
      mark(`${this.__benchId}.remote.${description.type}`);
      return done;
    }
    async setLocalDescription(description) {
      const done = await super.setLocalDescription(description);
      mark(`${this.__benchId}.local.${description ? description.type : "auto"}`);
      return done;
    }
  }
  window.RTCPeerConnection = Instrumented;
  const NativeSocket = window.WebSocket;
  class Socket extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try {
          const message = JSON.parse(event.data);
          mark(`ws.in.${message.janus}${message.jsep ? ".jsep" : ""}`);
        } catch (error) { /* not JSON */ }
      });
    }
    send(data) {
      try {
        const message = JSON.parse(data);
        mark(`ws.out.${message.janus}.${(message.body && message.body.request) || ""}`);
      } catch (error) { /* not JSON */ }
      return super.send(data);
    }
  }
  window.WebSocket = Socket;
})();"""

ECHO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>EchoTest first frame</title></head>
<body>
<video id="local-video" autoplay muted playsinline></video>
<video id="remote-video" autoplay playsinline></video>
<button type="button" id="connect" disabled>Connect</button>
<script type="module" src="/echo.js"></script>
</body></html>
"""

# The EchoTest's work and nothing else, with the client AfterSail's pages use (janus-client.js).
ECHO_JS = """import { JanusSession } from "/static/js/janus-client.js";

const local = document.getElementById("local-video");
const remote = document.getElementById("remote-video");
const connect = document.getElementById("connect");
const query = new URLSearchParams(location.search);
let stream = null;
let handle = null;

async function prepare() {
  const video = { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } };
  stream = await navigator.mediaDevices.getUserMedia({ video, audio: true });
  local.srcObject = stream;
  const session = await new JanusSession(query.get("janus"), query.get("token")).connect();
  handle = await session.attach("janus.plugin.echotest");
  connect.disabled = false;
}

connect.addEventListener("click", async () => {
  connect.disabled = true;
  window.echoConnectAt = performance.now();
  try {
    const pc = handle.peerConnection([]);
    const echoed = new MediaStream();
    pc.ontrack = (event) => {
      echoed.addTrack(event.track);
      if (remote.srcObject !== echoed) remote.srcObject = echoed;
    };
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const reply = await handle.request({ audio: true, video: true }, { type: offer.type, sdp: offer.sdp });
    await pc.setRemoteDescription(reply.jsep);
  } catch (error) {
    window.echoError = String(error && error.message ? error.message : error);
  }
});

if (remote.requestVideoFrameCallback) {
  const firstFrame = () => remote.requestVideoFrameCallback(() => {
    if (window.echoConnectAt !== undefined && window.echoFirstFrameMs === undefined) {
      window.echoFirstFrameMs = performance.now() - window.echoConnectAt;
    }
  });
  remote.addEventListener("loadstart", firstFrame);
  firstFrame();
}
prepare().catch((error) => { window.echoError = String(error && error.message ? error.message : error); });
"""

PHASES = ("signalling", "ice", "dtls", "frame")


class BenchError(Exception):
    """The run could not measure (not a missed target)."""


@dataclass
class Sample:
    first_frame_ms: float
    phases: dict[str, float]
    marks: list[tuple[str, float]] = field(default_factory=list)  # relative to the click, for --trace


def sample_of(marks: list[list[Any]], clicked_at: float, first_frame_ms: float) -> Sample:
    relative = [(str(name), float(at) - clicked_at) for name, at in marks]
    return Sample(first_frame_ms, phases_of(marks, clicked_at, first_frame_ms), relative)


@dataclass
class CallResult:
    index: int
    call_id: int
    sample: Sample
    connected_s: float
    janus_cpu_s: float
    server_cpu_s: float
    recording_status: str
    recording_s: float
    recording_cpu_s: float
    recording_duration_s: float
    recording_ok: bool
    problem: str = ""


@dataclass
class Seeded:
    tenant_id: int
    agent_email: str
    ticket_ids: list[int] = field(default_factory=list)


# --- helpers ---------------------------------------------------------------------------------------------


def make_fake_devices(folder: Path, seconds: int = 10) -> tuple[Path, Path]:
    """A moving test pattern with a frame counter (320×240, 15 fps) and a 440 Hz tone, as in the e2e tests."""
    folder.mkdir(parents=True, exist_ok=True)
    video, audio = folder / "camera.y4m", folder / "microphone.wav"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
         "-t", str(seconds), "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=48000", "-t", str(seconds), str(audio)],
        check=True,
    )  # fmt: skip
    return video, audio


def chromium_args(video: Path, audio: Path) -> list[str]:
    return [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        f"--use-file-for-fake-audio-capture={audio}",
    ]


def proc_times(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) in seconds: a process's own CPU, and its waited-for children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError as exc:
        raise BenchError(f"process {pid} (Janus or the server) exited during the run") from exc
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * 0.9) - 1)] if ordered else 0.0


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def phases_of(marks: list[list[Any]], clicked_at: float, first_frame_ms: float) -> dict[str, float]:
    """Where the time went on the connection that received the first video frame, from the page's marks."""
    times: dict[str, float] = {}
    for name, at in marks:
        times.setdefault(str(name), float(at))
    receiving = next(
        (name.split(".")[0] for name in times if name.endswith(".track.video")),
        None,
    )
    if receiving is None:
        return {}

    def at(*names: str) -> float | None:
        found = [times[f"{receiving}.{n}"] for n in names if f"{receiving}.{n}" in times]
        return min(found) if found else None

    described = [t for t in (at("remote.offer", "remote.answer"), at("local.offer", "local.answer")) if t]
    ice = at("ice.connected", "ice.completed")
    dtls = at("conn.connected")
    if len(described) < 2 or ice is None or dtls is None:
        return {}
    negotiated = max(described)
    frame = clicked_at + first_frame_ms
    return {
        "signalling": negotiated - clicked_at,
        "ice": max(ice - negotiated, 0.0),
        "dtls": max(dtls - max(ice, negotiated), 0.0),
        "frame": frame - max(dtls, ice, negotiated),
    }


def probe_video(path: Path) -> float:
    """Duration in seconds of the file's video stream per ffprobe (0.0 when it has none or cannot be read)."""
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "json",
         str(path)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if answer.returncode != 0:
        return 0.0
    probed = json.loads(answer.stdout)
    if not any(s.get("codec_type") == "video" for s in probed.get("streams", [])):
        return 0.0
    try:
        return float(probed.get("format", {}).get("duration", 0.0))
    except ValueError:
        return 0.0


# --- seeding (through the services) ----------------------------------------------------------------------


async def seed(url: str, tickets_wanted: int) -> Seeded:
    """A tenant, an agent who signs in to the console, a German buyer and one chat ticket per call."""
    db = Database(url, pool_size=2)
    suffix = uuid.uuid4().hex[:8]
    try:
        async with db.transaction(system=True) as session:
            tenant = await tenants.do_create_tenant(session, slug=f"video-{suffix}", name="Video Bench")
            agent = await tenants.do_create_user(
                session,
                tenant_id=tenant.id,
                email=f"agent-{suffix}@seller.test",
                name="Wang",
                password=PASSWORD,
                role=Role.AGENT,
                languages=["zh", "de"],
            )
            seeded = Seeded(tenant.id, agent.email)
        async with db.transaction(tenant_id=seeded.tenant_id) as session:
            customer = await orders.do_create_customer(
                session,
                seeded.tenant_id,
                CustomerCreate(
                    name="Lena Vogel",
                    email=f"lena-{suffix}@example.de",
                    country="DE",
                    preferred_language="de",
                    time_zone="Europe/Berlin",
                ),
            )
            for _ in range(tickets_wanted):
                ticket = await tickets.do_open_ticket(
                    session,
                    seeded.tenant_id,
                    customer_id=customer.id,
                    channel=Channel.CHAT,
                    subject="Paket beschädigt",
                    language="de",
                    category="damaged",
                    actor="customer",
                )
                await messages.do_add_customer_message(
                    session,
                    ticket,
                    body="Mein Paket ist beschädigt angekommen.",
                    channel=Channel.CHAT,
                    author_name="Lena Vogel",
                    language="de",
                )
                seeded.ticket_ids.append(ticket.id)
        return seeded
    finally:
        await db.dispose()


# --- the EchoTest page ------------------------------------------------------------------------------------


class EchoSite:
    """The raw page, janus-client.js and nothing else, on 127.0.0.1 (a thread of this process)."""

    def __init__(self) -> None:
        files = {
            "/": ("text/html; charset=utf-8", ECHO_PAGE.encode()),
            "/echo.js": ("text/javascript", ECHO_JS.encode()),
            "/static/js/janus-client.js": ("text/javascript", (STATIC_JS / "janus-client.js").read_bytes()),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = files.get(urllib.parse.urlsplit(self.path).path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- one sample of each -----------------------------------------------------------------------------------


async def echo_sample(browser: Any, site: EchoSite, janus_url: str, token: str, timeout_ms: int) -> Sample:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        await context.add_init_script(INSTRUMENT)
        page = await context.new_page()
        query = urllib.parse.urlencode({"janus": janus_url, "token": token})
        await page.goto(f"{site.base_url}/?{query}")
        await page.wait_for_function(
            "() => !document.getElementById('connect').disabled || window.echoError !== undefined",
            timeout=timeout_ms,
        )
        error = await page.evaluate("window.echoError")
        if error:
            raise BenchError(f"the EchoTest page could not prepare: {error}")
        await page.click("#connect")
        await page.wait_for_function(
            "() => window.echoFirstFrameMs !== undefined || window.echoError !== undefined",
            timeout=timeout_ms,
        )
        got = await page.evaluate(
            "[window.echoFirstFrameMs, window.echoConnectAt, window.echoError, window.__benchMarks]"
        )
        if got[2]:
            raise BenchError(f"the EchoTest call failed: {got[2]}")
        first, clicked, marks = float(got[0]), float(got[1]), list(got[3])
        return sample_of(marks, clicked, first)
    finally:
        await context.close()


async def start_call(page: Any, ticket_id: int) -> tuple[int, str]:
    """The agent starts a call from the console session (the API the ticket's call button uses)."""
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
    if status != 201:
        raise BenchError(f"starting a call on ticket {ticket_id} answered {status}: {body}")
    return int(body["id"]), str(body["buyer_link"])


async def api_get(page: Any, path: str) -> Any:
    status, body = await page.evaluate(
        """async (path) => {
            const response = await fetch(path, {headers: {Accept: "application/json"}});
            return [response.status, await response.json()];
        }""",
        path,
    )
    if status != 200:
        raise BenchError(f"GET {path} answered {status}: {body}")
    return body


@dataclass
class Rig:
    base_url: str
    data_dir: Path
    server_pid: int
    janus_pid: int
    staff: Any  # the agent's page (signed in)
    buyer_browser: Any
    hold_s: float
    timeout_ms: int


async def one_call(rig: Rig, index: int, ticket_id: int) -> CallResult:
    staff = rig.staff
    call_id, link = await start_call(staff, ticket_id)
    await staff.goto(f"{rig.base_url}/calls/{call_id}")
    await staff.click("#join")
    await staff.wait_for_selector('#call[data-state="waiting"]', timeout=rig.timeout_ms)

    context = await rig.buyer_browser.new_context(
        viewport=PHONE, locale="de-DE", is_mobile=True, has_touch=True
    )
    try:
        await context.add_init_script(INSTRUMENT)
        buyer = await context.new_page()
        await buyer.goto(link)
        await buyer.click("#allow-camera")
        await buyer.wait_for_selector("#connect:enabled", timeout=rig.timeout_ms)
        await buyer.click("#connect")
        await buyer.wait_for_function(
            "() => window.aftersailFirstFrameMs !== undefined", timeout=rig.timeout_ms
        )
        janus0, server0, wall0 = proc_times(rig.janus_pid)[0], proc_times(rig.server_pid)[0], time.monotonic()
        got = await buyer.evaluate(
            "[window.aftersailFirstFrameMs, window.aftersailConnectAt, window.__benchMarks]"
        )
        first, clicked, marks = float(got[0]), float(got[1]), list(got[2])
        await asyncio.sleep(rig.hold_s)
        janus1, server1, wall1 = proc_times(rig.janus_pid)[0], proc_times(rig.server_pid)[0], time.monotonic()
        children0 = proc_times(rig.server_pid)[1]
        ended_at = time.monotonic()
        await staff.click("#end-call")
        await staff.wait_for_selector('#call[data-state="ended"]', timeout=rig.timeout_ms)
    finally:
        await context.close()

    call: dict[str, Any] = {}
    while time.monotonic() - ended_at < 60:
        call = await api_get(staff, f"/api/v1/calls/{call_id}")
        if call["recording_status"] not in ("recording", "processing"):
            break
        await asyncio.sleep(0.1)
    recording_s = time.monotonic() - ended_at
    recording_cpu = proc_times(rig.server_pid)[1] - children0
    status = str(call.get("recording_status", "?"))
    duration, problem = 0.0, ""
    if status == "ready":
        chain = await api_get(staff, f"/api/v1/tickets/{ticket_id}/evidence")
        recordings = [
            e for e in chain["entries"] if e["kind"] == "recording" and e["meta"].get("seat") == "buyer"
        ]
        if recordings:
            duration = probe_video(blob_path(rig.data_dir, recordings[0]["sha256"]))
            if duration <= 1.0:
                problem = f"the buyer's recording has {duration:.2f} s of video"
        else:
            problem = "no buyer recording in the evidence chain"
    else:
        problem = f"recording {status}: {call.get('recording_error', '')}"
    return CallResult(
        index=index,
        call_id=call_id,
        sample=sample_of(marks, clicked, first),
        connected_s=wall1 - wall0,
        janus_cpu_s=janus1 - janus0,
        server_cpu_s=server1 - server0,
        recording_status=status,
        recording_s=recording_s,
        recording_cpu_s=recording_cpu,
        recording_duration_s=duration,
        recording_ok=status == "ready" and not problem,
        problem=problem,
    )


def phase_text(sample: Sample) -> str:
    if not sample.phases:
        return "phases unknown"
    return " / ".join(f"{sample.phases[p]:.0f}" for p in PHASES)


# --- the run ----------------------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, rig_parts: dict[str, Any]
) -> tuple[list[CallResult], list[Sample]]:
    from playwright.async_api import async_playwright

    calls: list[CallResult] = []
    echoes: list[Sample] = []
    video, audio = rig_parts["devices"]
    site = EchoSite()
    try:
        async with async_playwright() as playwright:
            launch = {"executable_path": args.chromium, "args": chromium_args(video, audio)}
            staff_browser = await playwright.chromium.launch(**launch)
            buyer_browser = await playwright.chromium.launch(**launch)
            try:
                staff = await (await staff_browser.new_context(locale="zh-CN")).new_page()
                base_url = rig_parts["base_url"]
                await staff.goto(f"{base_url}/login?lang=en&next=/inbox")
                await staff.get_by_label("Email").fill(rig_parts["agent_email"])
                await staff.get_by_label("Password").fill(PASSWORD)
                await staff.get_by_role("button", name="Sign in").click()
                await staff.wait_for_url(f"{base_url}/inbox")
                rig = Rig(
                    base_url=base_url,
                    data_dir=rig_parts["data_dir"],
                    server_pid=rig_parts["server_pid"],
                    janus_pid=rig_parts["janus_pid"],
                    staff=staff,
                    buyer_browser=buyer_browser,
                    hold_s=args.hold,
                    timeout_ms=int(args.timeout * 1000),
                )
                tickets_left = list(rig_parts["ticket_ids"])
                janus_url, token = rig_parts["janus_url"], rig_parts["token"]
                total = args.warmup + args.calls
                console.print("        echo ms (signalling / ICE / DTLS / frame)    call ms (same phases)")
                for index in range(total):
                    warm = index < args.warmup
                    label = "warm-up" if warm else f"{index - args.warmup + 1:>3}/{args.calls}"
                    echo = await echo_sample(buyer_browser, site, janus_url, token, rig.timeout_ms)
                    result = await one_call(rig, index, tickets_left.pop(0))
                    pct = (result.janus_cpu_s + result.server_cpu_s) * 100 / result.connected_s
                    console.print(
                        f"{label:>8} echo {echo.first_frame_ms:6.0f} ({phase_text(echo)})"
                        f"   call {result.call_id:>3}: {result.sample.first_frame_ms:6.0f}"
                        f" ({phase_text(result.sample)})   CPU {pct:4.1f} %"
                        f"   recording {result.recording_status} {result.recording_duration_s:.1f} s"
                        f" in {result.recording_s:.1f} s"
                        + (f"   [red]{result.problem}[/red]" if result.problem else ""),
                        soft_wrap=True,
                    )
                    if args.trace:
                        for name, sample in (("echo", echo), ("call", result.sample)):
                            console.print(
                                f"  {name}: " + ", ".join(f"{m} {t:.0f}" for m, t in sample.marks if t > -5)
                            )
                    if not warm:
                        echoes.append(echo)
                        calls.append(result)
            finally:
                await staff_browser.close()
                await buyer_browser.close()
    finally:
        site.close()
    return calls, echoes


def report(
    calls: list[CallResult], echoes: list[Sample], idle: tuple[float, float], elapsed: float
) -> dict[str, object]:
    call_ms = [c.sample.first_frame_ms for c in calls]
    echo_ms = [e.first_frame_ms for e in echoes]
    connected = sum(c.connected_s for c in calls)
    janus_pct = sum(c.janus_cpu_s for c in calls) * 100 / connected if connected else 0.0
    server_pct = sum(c.server_cpu_s for c in calls) * 100 / connected if connected else 0.0
    ratio = median(call_ms) / median(echo_ms) if echo_ms and median(echo_ms) else 0.0
    recordings_ok = bool(calls) and all(c.recording_ok for c in calls)

    def phase_medians(samples: list[Sample]) -> dict[str, float]:
        known = [s.phases for s in samples if s.phases]
        return {p: median([k[p] for k in known]) for p in PHASES} if known else {}

    call_phases, echo_phases = phase_medians([c.sample for c in calls]), phase_medians(echoes)

    table = Table(title="Video call: click to first remote frame", title_justify="left")
    table.add_column("figure")
    table.add_column("AfterSail call", justify="right")
    table.add_column("raw EchoTest", justify="right")
    table.add_row("samples", str(len(call_ms)), str(len(echo_ms)))
    table.add_row("median ms", f"{median(call_ms):.0f}", f"{median(echo_ms):.0f}")
    table.add_row("p90 ms", f"{p90(call_ms):.0f}", f"{p90(echo_ms):.0f}")
    table.add_row(
        "min / max ms", f"{min(call_ms):.0f} / {max(call_ms):.0f}", f"{min(echo_ms):.0f} / {max(echo_ms):.0f}"
    )
    for phase in PHASES:
        table.add_row(
            f"  {phase} (median ms)",
            f"{call_phases[phase]:.0f}" if call_phases else "-",
            f"{echo_phases[phase]:.0f}" if echo_phases else "-",
        )
    console.print(table)
    other = Table(title="Cost and recordings", title_justify="left")
    other.add_column("figure")
    other.add_column("value", justify="right")
    other.add_row(
        "ratio median / raw median",
        f"{ratio:.2f} (target ≤ {TARGET_RATIO}; median target ≤ {TARGET_MEDIAN_MS:.0f} ms)",
    )
    other.add_row("connected time measured", f"{connected:.1f} s over {len(calls)} calls, one at a time")
    other.add_row(
        "CPU % of a core: Janus + server",
        f"{janus_pct:.1f} + {server_pct:.1f} = {janus_pct + server_pct:.1f}",
    )
    other.add_row("idle CPU % after the calls: Janus + server", f"{idle[0]:.1f} + {idle[1]:.1f}")
    other.add_row(
        "recordings ready and playable",
        f"{sum(c.recording_ok for c in calls)} / {len(calls)}"
        + (f" ({'; '.join(c.problem for c in calls if c.problem)})" if not recordings_ok else ""),
    )
    other.add_row(
        "post-processing: wait / CPU per call",
        f"{median([c.recording_s for c in calls]):.1f} s"
        f" / {median([c.recording_cpu_s for c in calls]) * 1000:.0f} ms",
    )
    load = os.getloadavg()
    other.add_row(
        "load average (1 / 5 min) at the end", f"{load[0]:.2f} / {load[1]:.2f} on {os.cpu_count()} CPUs"
    )
    other.add_row("whole run", f"{elapsed:.0f} s")
    console.print(other)
    return {
        "first_frame_median_ms": round(median(call_ms), 1),
        "first_frame_p90_ms": round(p90(call_ms), 1),
        "raw_echo_median_ms": round(median(echo_ms), 1),
        "ratio": round(ratio, 3),
        "cpu_per_call_pct": round(janus_pct + server_pct, 2),
        "recordings_ok": recordings_ok,
        "raw_echo_p90_ms": round(p90(echo_ms), 1),
        "calls": len(call_ms),
        "echo_samples": len(echo_ms),
        "janus_cpu_pct": round(janus_pct, 2),
        "server_cpu_pct": round(server_pct, 2),
        "idle_cpu_pct": round(idle[0] + idle[1], 2),
        "recording_cpu_ms_per_call": round(median([c.recording_cpu_s for c in calls]) * 1000),
        "phases_ms": {k: round(v, 1) for k, v in call_phases.items()},
        "echo_phases_ms": {k: round(v, 1) for k, v in echo_phases.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=12, help="measured calls, and as many echo samples")
    parser.add_argument("--warmup", type=int, default=1, help="calls and echo samples before, not counted")
    parser.add_argument(
        "--hold", type=float, default=2.0, help="seconds each call stays up after its first frame"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds any one step may take")
    parser.add_argument("--chromium", default=os.environ.get("AFTERSAIL_BENCH_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument(
        "--trace", action="store_true", help="print each sample's timeline (ms from the click)"
    )
    parser.add_argument("--logs", type=Path, help="keep the server's and Janus's logs in this folder")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    started = time.monotonic()

    def fail(message: str) -> None:
        console.print(f"[red]{message}[/red]")
        print(json.dumps({"error": message}))
        raise SystemExit(1)

    missing = [tool for tool in ("janus-pp-rec", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if find_janus() is None:
        missing.append("janus")
    if not Path(args.chromium).exists():
        missing.append(f"Chromium ({args.chromium}; set AFTERSAIL_BENCH_CHROMIUM)")
    if missing:
        fail(f"needs {', '.join(missing)} (Debian packages janus, janus-tools, ffmpeg, chromium)")

    with tempfile.TemporaryDirectory(prefix="aftersail-bench-video-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        data_dir.mkdir()
        url = f"sqlite+aiosqlite:///{data_dir / 'aftersail.db'}"
        console.print(f"[bold]database[/bold] SQLite in {data_dir}: migrating and seeding")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # SQLite cannot reflect expression indexes
            upgrade(url)
        seeded = asyncio.run(seed(url, args.warmup + args.calls))
        devices = make_fake_devices(workdir / "camera")

        port, token_secret = free_port(), secrets.token_urlsafe(32)
        janus_ws_port = free_port()
        env = {
            **os.environ,
            "AFTERSAIL_ENV": "production",
            "AFTERSAIL_SECRET_KEY": secrets.token_urlsafe(48),
            "AFTERSAIL_DATABASE_URL": url,
            "AFTERSAIL_DATA_DIR": str(data_dir),
            "AFTERSAIL_LOG_LEVEL": "WARNING",
            "AFTERSAIL_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "AFTERSAIL_RUN_DISPATCHER": "true",
            "AFTERSAIL_ASSISTANT_WARM_UP": "false",
            "AFTERSAIL_VIDEO_MEDIA": "auto",
            "AFTERSAIL_JANUS_HTTP_PORT": str(free_port()),
            "AFTERSAIL_JANUS_WS_PORT": str(janus_ws_port),
            "AFTERSAIL_JANUS_TOKEN_SECRET": token_secret,
            "AFTERSAIL_JANUS_ADMIN_KEY": secrets.token_urlsafe(24),
        }
        for name in ("AFTERSAIL_REDIS_URL", "AFTERSAIL_JANUS_HTTP_URL", "AFTERSAIL_JANUS_BROWSER_URL"):
            env.pop(name, None)
        logs = args.logs or workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        server = ServerProcess(port, env, ["--no-access-log"], logs / "server.log")
        try:
            server.start()
            ready = httpx.get(f"{server.base_url}/readyz", timeout=5).json()
            video_state = str(ready.get("features", {}).get("video", ""))
            if not video_state.startswith("ok") or "raw" in video_state:
                fail(f"the server's video is not ready: {video_state!r}")
            server_pid = server.processes[0].pid
            janus = [
                pid
                for pid in descendants(server_pid)
                if Path(f"/proc/{pid}/comm").read_text().strip() == "janus"
            ]
            if len(janus) != 1:
                fail(f"expected one Janus process under the server, found {len(janus)}")
            janus_pid = janus[0]
            console.print(
                f"[bold]server[/bold] pid {server_pid} on {server.base_url}, Janus pid {janus_pid};"
                f" {args.warmup} warm-up + {args.calls} calls, each held {args.hold:.1f} s"
            )
            janus_token = sign_token(token_secret, (VIDEOROOM, ECHOTEST), int(time.time()) + 3600)
            calls, echoes = asyncio.run(
                measure(
                    args,
                    {
                        "devices": devices,
                        "base_url": server.base_url,
                        "agent_email": seeded.agent_email,
                        "ticket_ids": seeded.ticket_ids,
                        "data_dir": data_dir,
                        "server_pid": server_pid,
                        "janus_pid": janus_pid,
                        "janus_url": f"ws://127.0.0.1:{janus_ws_port}/",
                        "token": janus_token,
                    },
                )
            )
            idle_janus0, idle_server0 = proc_times(janus_pid)[0], proc_times(server_pid)[0]
            time.sleep(IDLE_SECONDS)  # the same processes with no call: what they cost anyway
            idle = (
                (proc_times(janus_pid)[0] - idle_janus0) * 100 / IDLE_SECONDS,
                (proc_times(server_pid)[0] - idle_server0) * 100 / IDLE_SECONDS,
            )
        except BenchError as exc:
            console.print(server.tail())
            fail(str(exc))
        except Exception as exc:  # a timeout in the browser, a server gone
            console.print(server.tail())
            fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            server.stop()
            if args.logs and (data_dir / "janus" / "janus.log").exists():
                shutil.copy(data_dir / "janus" / "janus.log", args.logs / "janus.log")
        result = report(calls, echoes, idle, time.monotonic() - started)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
