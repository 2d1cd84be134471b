"""What the video tests share: a fake camera and microphone (a y4m and a wav made by ffmpeg), Chromium started
with them, and the app with a real Janus beside it (free ports) served by uvicorn."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Playwright

from aftersail.app import create_app
from aftersail.video.janus_server import find_janus
from tests.e2e.conftest import CHROMIUM_ARGS, make_settings
from tests.e2e.servers import free_port


def need_media_tools() -> None:
    missing = [tool for tool in ("janus-pp-rec", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if find_janus() is None:
        missing.append("janus")
    if missing:
        pytest.skip(f"video tests need {', '.join(missing)} (Debian packages janus, janus-tools, ffmpeg)")


@dataclass(frozen=True)
class FakeDevices:
    video: Path
    audio: Path

    def chromium_args(self) -> list[str]:
        return [
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={self.video}",
            f"--use-file-for-fake-audio-capture={self.audio}",
        ]


def make_fake_devices(folder: Path, seconds: int = 10) -> FakeDevices:
    """A moving test pattern with a frame counter (320×240, 15 fps) and a 440 Hz tone."""
    folder.mkdir(parents=True, exist_ok=True)
    video, audio = folder / "camera.y4m", folder / "microphone.wav"
    if not video.exists():
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
             "-t", str(seconds), "-pix_fmt", "yuv420p", str(video)],
            check=True,
        )  # fmt: skip
    if not audio.exists():
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
             "sine=frequency=440:sample_rate=48000", "-t", str(seconds), str(audio)],
            check=True,
        )  # fmt: skip
    return FakeDevices(video, audio)


async def launch_with_camera(playwright: Playwright, chromium: str, devices: FakeDevices) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium, args=devices.chromium_args())


@dataclass
class VideoServer:
    app: FastAPI
    base_url: str


@asynccontextmanager
async def video_server(db_url: str, data_dir: Path, **overrides: object) -> AsyncIterator[VideoServer]:
    """The app with its own Janus (video_media=auto, free ports) and its job dispatcher, behind uvicorn."""
    port = free_port()
    settings = make_settings(
        db_url,
        data_dir,
        video_media="auto",
        janus_http_port=0,
        janus_ws_port=0,
        run_dispatcher=True,
        public_base_url=f"http://127.0.0.1:{port}",
        port=port,
        **overrides,
    )
    app = create_app(settings, configure_logs=False)
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        try:
            yield VideoServer(app, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task
