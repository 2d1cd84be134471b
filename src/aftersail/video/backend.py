"""Which media backend this process uses, from the settings: a local Janus started beside the server
(`video_media=auto`, when Janus is installed), an external Janus, or none — with the reason a person reads in
the console and in /readyz."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aftersail.kit.config import Settings
from aftersail.video.janus_server import JanusLayout, JanusProcess, find_janus, free_port
from aftersail.video.media import JanusBackend, MediaBackend

log = logging.getLogger(__name__)

INSTALL_HINT = "install the Debian packages janus and janus-tools (see the README)"


@dataclass(frozen=True, slots=True)
class MediaState:
    backend: MediaBackend | None
    problem: str = ""  # why video calls are off; empty when they are on


def browser_url(state: MediaState | None) -> str:
    """The media server's address for browsers, or "" when video calls are off."""
    return state.backend.browser_media(60).url if state is not None and state.backend is not None else ""


def video_off_reason(state: MediaState | None) -> str:
    """Why video calls cannot start here, or "" when they can."""
    if state is not None and state.backend is not None:
        return ""
    return state.problem if state is not None else "Video calls are not available."


def ice_servers(settings: Settings) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if settings.stun_url:
        servers.append({"urls": settings.stun_url})
    if settings.turn_url:
        password = settings.turn_password.get_secret_value() if settings.turn_password else ""
        servers.append(
            {"urls": settings.turn_url, "username": settings.turn_username, "credential": password}
        )
    return servers


def _secret(settings: Settings, value: Any, purpose: str) -> str:
    return str(value.get_secret_value()) if value is not None else settings.derived_secret(purpose)


def janus_backend(settings: Settings) -> JanusBackend:
    local = settings.video_media == "auto"
    http_url = f"http://127.0.0.1:{settings.janus_http_port}/janus" if local else settings.janus_http_url
    browser_url = settings.janus_browser_url or (f"ws://127.0.0.1:{settings.janus_ws_port}/" if local else "")
    return JanusBackend(
        http_url=http_url,
        browser_url=browser_url,
        token_secret=_secret(settings, settings.janus_token_secret, "janus-token"),
        admin_key=_secret(settings, settings.janus_admin_key, "janus-admin"),
        ice_servers=ice_servers(settings),
    )


def media_from_settings(settings: Settings) -> MediaState:
    """The backend a worker or the server uses (it does not start anything)."""
    if settings.video_media == "off":
        return MediaState(None, "Video calls are switched off (AFTERSAIL_VIDEO_MEDIA=off).")
    if settings.video_media == "external":
        if not settings.janus_http_url or not settings.janus_browser_url:
            return MediaState(
                None, "Video calls need AFTERSAIL_JANUS_HTTP_URL and AFTERSAIL_JANUS_BROWSER_URL."
            )
        return MediaState(janus_backend(settings))
    if find_janus() is None:
        return MediaState(None, f"Video calls are off: Janus is not installed; {INSTALL_HINT}.")
    return MediaState(janus_backend(settings))


def recording_tools_problem() -> str:
    missing = [tool for tool in ("janus-pp-rec", "ffmpeg") if shutil.which(tool) is None]
    if not missing:
        return ""
    return f"Recordings stay raw (.mjr): {', '.join(missing)} not installed; {INSTALL_HINT}."


async def start_local_janus(settings: Settings) -> tuple[JanusProcess | None, MediaState]:
    """With `video_media=auto` and Janus installed, start it on 127.0.0.1 with a generated configuration
    under the data directory (ports 0 in the settings pick free ones, written back for this process)."""
    state = media_from_settings(settings)
    found = find_janus()
    if settings.video_media != "auto" or found is None:
        return None, state
    if settings.janus_http_port == 0:
        settings.janus_http_port = free_port()
    if settings.janus_ws_port == 0:
        settings.janus_ws_port = free_port()
    backend = janus_backend(settings)
    if await _answers(backend.http_url):  # another server process of this host started it
        return None, MediaState(backend)
    binary, lib_dir = found
    layout = JanusLayout(
        lib_dir=lib_dir,
        ws_port=settings.janus_ws_port,
        http_port=settings.janus_http_port,
        token_secret=_secret(settings, settings.janus_token_secret, "janus-token"),
        admin_key=_secret(settings, settings.janus_admin_key, "janus-admin"),
        rtp_ports=settings.janus_rtp_ports,
        interfaces=tuple(i.strip() for i in settings.janus_interfaces.split(",") if i.strip()),
        public_ip=settings.janus_public_ip,
        stun_server=settings.stun_url.removeprefix("stun:"),
        turn=_turn(settings),
    )
    folder = Path(settings.data_dir) / "janus"
    process = JanusProcess(binary, folder / "config", layout, folder / "janus.log")
    try:
        await process.start()
    except RuntimeError as exc:
        log.warning("video calls are off: %s", exc)
        return None, MediaState(None, f"Video calls are off: the local Janus did not start ({exc}).")
    log.info("local Janus started: HTTP %s, browsers %s", backend.http_url, backend.browser_url)
    return process, MediaState(backend)


def _turn(settings: Settings) -> tuple[str, int, str, str, str] | None:
    """(host, port, transport, user, password) of the TURN server for Janus's own relay candidates."""
    if not settings.turn_url:
        return None
    address, _, query = settings.turn_url.removeprefix("turns:").removeprefix("turn:").partition("?")
    host, _, port = address.partition(":")
    transport = query.removeprefix("transport=") if query.startswith("transport=") else "udp"
    password = settings.turn_password.get_secret_value() if settings.turn_password else ""
    return host, int(port or 3478), transport, settings.turn_username, password


async def _answers(http_url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=0.5) as client:
            return (await client.get(f"{http_url}/info")).status_code == 200
    except httpx.HTTPError:
        return False


async def video_readiness(media: MediaState | None) -> str:
    """For /readyz: "ok", "disabled: <why>" or "error: <why>"."""
    if media is None:
        return "disabled: the server has not started its background services"
    if media.backend is None:
        return f"disabled: {media.problem}"
    answer = await media.backend.check()
    if answer != "ok":
        return answer
    tools = recording_tools_problem()
    return f"ok ({tools})" if tools else "ok"
