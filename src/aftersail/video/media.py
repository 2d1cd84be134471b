"""The media backend behind inspection calls: a small interface (open a recorded room for two, close it,
kick a stale feed, hand a browser what it needs to join) and its Janus implementation over its HTTP API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from aftersail.kit.errors import DomainError

VIDEOROOM = "janus.plugin.videoroom"
ECHOTEST = "janus.plugin.echotest"


class MediaUnavailable(DomainError):
    code = "media_unavailable"


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """A room for one call: two publishers at most, recorded into `recordings_dir`, admitting only the seats'
    tokens and the pin."""

    room: int
    pin: str
    seat_tokens: tuple[str, ...]
    recordings_dir: Path
    bitrate: int
    description: str = ""


@dataclass(frozen=True, slots=True)
class BrowserMedia:
    """What a page needs to reach the media server: its WebSocket URL, a short-lived token, ICE servers."""

    url: str
    token: str
    ice_servers: list[dict[str, Any]] = field(default_factory=list)


class MediaBackend(Protocol):
    name: str

    async def check(self) -> str:
        """Return "ok", or why the backend cannot take calls."""
        ...

    async def open_room(self, spec: RoomSpec) -> None: ...

    async def close_room(self, room: int) -> None:
        """Destroy the room; its recordings are closed and complete on disk when this returns."""
        ...

    async def kick(self, room: int, feed_id: int) -> None: ...

    def browser_media(self, lifetime_seconds: int) -> BrowserMedia: ...


def sign_token(secret: str, plugins: tuple[str, ...], expires_at: int, realm: str = "janus") -> str:
    """A Janus HMAC-signed token (`token_auth_secret`): "<expiry>,<realm>,<plugins…>:<base64 HMAC-SHA1>"."""
    data = ",".join([str(expires_at), realm, *plugins])
    mac = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(mac).decode()}"


def new_pin() -> str:
    return secrets.token_urlsafe(16)


class JanusBackend:
    """Janus with the VideoRoom plugin, reached over its HTTP API by the server and its WebSocket API by
    browsers. Rooms are created with the plugin's admin key, which browsers never see."""

    name = "janus"

    def __init__(
        self,
        *,
        http_url: str,
        browser_url: str,
        token_secret: str,
        admin_key: str,
        ice_servers: list[dict[str, Any]] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.http_url = http_url.rstrip("/")
        self.browser_url = browser_url
        self._token_secret = token_secret
        self._admin_key = admin_key
        self._ice_servers = ice_servers or []
        self._timeout = timeout

    def _token(self, lifetime_seconds: int = 60) -> str:
        return sign_token(self._token_secret, (VIDEOROOM, ECHOTEST), int(time.time()) + lifetime_seconds)

    def browser_media(self, lifetime_seconds: int) -> BrowserMedia:
        return BrowserMedia(self.browser_url, self._token(lifetime_seconds), self._ice_servers)

    async def check(self) -> str:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.get(f"{self.http_url}/info")
            if answer.status_code != 200:
                return f"error: Janus answered {answer.status_code}"
            plugins = answer.json().get("plugins", {})
            return "ok" if VIDEOROOM in plugins else "error: Janus has no VideoRoom plugin"
        except httpx.HTTPError as exc:
            return f"error: Janus unreachable ({type(exc).__name__})"

    async def open_room(self, spec: RoomSpec) -> None:
        spec.recordings_dir.mkdir(parents=True, exist_ok=True)
        await self._videoroom(
            {
                "request": "create",
                "room": spec.room,
                "description": spec.description[:100],
                "pin": spec.pin,
                "secret": self._secret(spec.room),
                "is_private": True,
                "allowed": list(spec.seat_tokens),
                "publishers": 2,
                "bitrate": spec.bitrate,
                "bitrate_cap": True,
                "fir_freq": 2,
                "videocodec": "vp8",
                "audiocodec": "opus",
                "record": True,
                "rec_dir": str(spec.recordings_dir.resolve()),
                "lock_record": True,
                "notify_joining": True,
                "permanent": False,
            }
        )

    async def close_room(self, room: int) -> None:
        try:
            await self._videoroom({"request": "destroy", "room": room, "secret": self._secret(room)})
        except MediaUnavailable as exc:
            if "No such room" not in str(exc):
                raise

    async def kick(self, room: int, feed_id: int) -> None:
        try:
            await self._videoroom(
                {"request": "kick", "room": room, "id": feed_id, "secret": self._secret(room)}
            )
        except MediaUnavailable as exc:
            if "No such" not in str(exc):
                raise

    def _secret(self, room: int) -> str:
        """The room's moderator secret, derived from the token secret: never handed to a browser."""
        return hmac.new(self._token_secret.encode(), f"room:{room}".encode(), hashlib.sha256).hexdigest()

    async def _videoroom(self, body: dict[str, Any]) -> dict[str, Any]:
        """One synchronous VideoRoom request on a throwaway session."""
        body = {"admin_key": self._admin_key, **body}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                session = await self._post(client, self.http_url, {"janus": "create"})
                session_url = f"{self.http_url}/{session['data']['id']}"
                try:
                    handle = await self._post(client, session_url, {"janus": "attach", "plugin": VIDEOROOM})
                    answer = await self._post(
                        client, f"{session_url}/{handle['data']['id']}", {"janus": "message", "body": body}
                    )
                finally:
                    await self._post(client, session_url, {"janus": "destroy"}, check=False)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"The media server cannot be reached ({type(exc).__name__}).") from exc
        data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
        if data.get("error_code"):
            raise MediaUnavailable(f"The media server refused: {data.get('error')}", janus=data["error_code"])
        return data

    async def _post(
        self, client: httpx.AsyncClient, url: str, message: dict[str, Any], *, check: bool = True
    ) -> dict[str, Any]:
        message = {**message, "transaction": secrets.token_hex(8), "token": self._token()}
        answer = await client.post(url, json=message)
        payload: dict[str, Any] = answer.json()
        if check and payload.get("janus") == "error":
            error = payload.get("error", {})
            raise MediaUnavailable(
                f"The media server refused: {error.get('reason')}", janus=error.get("code")
            )
        return payload
