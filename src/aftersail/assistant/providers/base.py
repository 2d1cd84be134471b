"""What every model provider shares: the conversation types, the `ModelProvider` Protocol, the one error
(`ProviderUnavailable`) and `ModelEndpoint`, the HTTP plumbing that turns every failure into that error."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

Role = Literal["system", "user", "assistant", "tool"]
UnavailableReason = Literal[
    "not_configured",
    "timeout",
    "unreachable",
    "unauthorized",
    "rate_limited",
    "rejected",
    "provider_error",
    "bad_answer",
]
# Media types both APIs accept for images (OpenAI: non-animated GIF only).
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Stop reasons every provider's own values are mapped to; others (content_filter, refusal …) pass through.
STOP_END = "end"
STOP_TOOL_CALLS = "tool_calls"
STOP_MAX_TOKENS = "max_tokens"
JSON_INSTRUCTION = (
    "Answer with a single JSON object and nothing else: no prose before or after it, no code fences."
)
DEFAULT_MAX_TOKENS = 1024
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may ask for; `parameters` is the JSON schema of its arguments (type "object")."""

    name: str
    description: str
    parameters: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class ImagePart:
    media_type: str
    data: bytes

    def __post_init__(self) -> None:
        if self.media_type not in IMAGE_MEDIA_TYPES:
            raise ValueError(f"image media type {self.media_type!r} is not one of {IMAGE_MEDIA_TYPES}")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn. Images go with user turns, tool calls with assistant turns; a tool turn answers one call."""

    role: Role
    content: str
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if self.images and self.role != "user":
            raise ValueError(f"only user messages carry images, not {self.role} messages")
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages carry tool calls, not {self.role} messages")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a tool message needs the tool_call_id it answers; only a tool message has one")


@dataclass(frozen=True, slots=True)
class ModelReply:
    """`stop_reason` is "end", "tool_calls", "max_tokens" or the provider's own word for anything else.
    With `json_output`, `text` is the JSON object's text (a surrounding code fence removed)."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    """A tool call whose argument fragments have all arrived and parsed as one JSON object."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class StreamEnd:
    stop_reason: str
    provider: str
    model: str


# A stream is text deltas as they come, then the completed tool calls, then exactly one StreamEnd. Tool calls
# are held back until the provider's end-of-stream marker, so a stream that breaks off never yields one.
StreamEvent = TextDelta | ToolCallDone | StreamEnd


class ProviderUnavailable(Exception):
    """No answer from the model this time. `reason` is one of: not_configured, timeout, unreachable,
    unauthorized, rate_limited, rejected, provider_error, bad_answer."""

    def __init__(self, message: str, *, reason: UnavailableReason) -> None:
        super().__init__(message)
        self.message = message
        self.reason: UnavailableReason = reason


class ModelProvider(Protocol):
    name: str
    model: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        json_output: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> ModelReply: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


class NoModelProvider:
    """Stands in for a tenant without a model: every call is ProviderUnavailable("not_configured")."""

    name = "none"
    model = ""

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        json_output: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> ModelReply:
        raise ProviderUnavailable("no language model is configured", reason="not_configured")

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> AsyncIterator[StreamEvent]:
        raise ProviderUnavailable("no language model is configured", reason="not_configured")
        yield  # an async generator like the real ones: the failure comes with the first iteration

    async def aclose(self) -> None:
        return None


def bad_answer(label: str, what: str) -> ProviderUnavailable:
    return ProviderUnavailable(f"{label} {what}", reason="bad_answer")


def with_json_instruction(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The conversation with JSON_INSTRUCTION added to its (first) system prompt, or as a new one."""
    for position, message in enumerate(messages):
        if message.role == "system":
            extended = ChatMessage("system", f"{message.content}\n\n{JSON_INSTRUCTION}".strip())
            return [*messages[:position], extended, *messages[position + 1 :]]
    return [ChatMessage("system", JSON_INSTRUCTION), *messages]


_CODE_FENCE = re.compile(r"\A```(?:json)?\s*(.*?)\s*```\Z", re.DOTALL)


def check_json_object(label: str, text: str) -> str:
    """The reply's JSON object text (a code fence around it removed), or bad_answer."""
    stripped = text.strip()
    fenced = _CODE_FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        decoded = json.loads(stripped)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise bad_answer(label, f"was asked for a JSON object but answered {text[:80]!r}")
    return stripped


def parse_tool_call(label: str, call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """A ToolCall from the wire; arguments are a JSON object or its text ("" for none), else bad_answer."""
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise bad_answer(label, "asked for a tool without an id or a name")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise bad_answer(label, f"asked for {name} with arguments that are not JSON") from None
    if not isinstance(arguments, dict):
        raise bad_answer(label, f"asked for {name} with arguments that are not a JSON object")
    return ToolCall(call_id, name, arguments)


def decode_event_data(label: str, data: str) -> dict[str, Any]:
    try:
        decoded = json.loads(data)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise bad_answer(label, f"streamed an event that is not a JSON object: {data[:80]!r}")
    return decoded


def _error_detail(body: Any) -> tuple[str | None, str]:
    """(type, message) of OpenAI's {"error": {...}} or Anthropic's {"type": "error", "error": {...}}."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind = error.get("type") if isinstance(error.get("type"), str) else None
        return kind, str(error.get("message") or kind or "no details")[:200]
    return None, str(error)[:200] if error else "no details"


def refusal(label: str, status: int, body: Any) -> ProviderUnavailable:
    """The ProviderUnavailable for an HTTP error answer."""
    _, detail = _error_detail(body)
    if status in (401, 403):
        return ProviderUnavailable(f"{label} refused the API key ({detail})", reason="unauthorized")
    if status == 429:
        return ProviderUnavailable(f"{label} is rate-limiting requests ({detail})", reason="rate_limited")
    if status >= 500:  # including Anthropic's 529 overloaded_error
        return ProviderUnavailable(f"{label} failed with HTTP {status} ({detail})", reason="provider_error")
    return ProviderUnavailable(f"{label} rejected the request (HTTP {status}: {detail})", reason="rejected")


_STREAM_ERROR_STATUS = {
    "authentication_error": 401,
    "permission_error": 403,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
}


def stream_failure(label: str, body: dict[str, Any]) -> ProviderUnavailable:
    """An error sent inside a stream that had already started with 200 (e.g. Anthropic's overloaded_error)."""
    kind, _ = _error_detail(body)
    return refusal(label, _STREAM_ERROR_STATUS.get(kind or "", 500), body)


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str


async def read_server_sent_events(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Events from text/event-stream lines as the HTML spec reads them (fields until a blank line, `data`
    lines joined with newlines, comments skipped), except that a last event without its blank line still
    counts: some servers end on `data: [DONE]` alone, and a cut-off event fails to decode anyway."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class ModelEndpoint:
    """One model API URL with its headers and timeout. Owns its HTTP client unless one is given.

    `post_json` gives the whole answer `timeout_seconds` in total; `stream_events` gives the first byte and
    then each next read `timeout_seconds` (a long answer may stream for longer)."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        label: str,
        timeout_seconds: float,
        client: httpx.AsyncClient | None,
    ) -> None:
        self.url = url
        self.label = label
        self._headers = headers
        self._seconds = timeout_seconds
        self._timeout = httpx.Timeout(timeout_seconds)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=self._timeout)

    def _timed_out(self) -> ProviderUnavailable:
        message = f"{self.label} did not answer within {self._seconds:g} s"
        return ProviderUnavailable(message, reason="timeout")

    async def post_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._seconds):
                response = await self._client.post(
                    self.url, json=payload, headers=self._headers, timeout=self._timeout
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise self._timed_out() from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.label} is unreachable: {exc}", reason="unreachable") from exc
        if response.status_code != 200:
            raise refusal(self.label, response.status_code, _json_or_none(response))
        media_type = _media_type(response)
        if not media_type.endswith("json"):
            raise bad_answer(self.label, f"answered with {media_type or 'no content type'}, not JSON")
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise bad_answer(self.label, "answered with a body that is not a JSON object")
        return body

    async def stream_events(self, payload: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
        answering = False
        try:
            async with self._client.stream(
                "POST", self.url, json=payload, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise refusal(self.label, response.status_code, _json_or_none(response))
                if _media_type(response) != "text/event-stream":
                    media_type = _media_type(response) or "no content type"
                    raise bad_answer(self.label, f"answered a stream request with {media_type}")
                answering = True
                async for event in read_server_sent_events(response.aiter_lines()):
                    yield event
        except httpx.TimeoutException as exc:
            raise self._timed_out() from exc
        except httpx.HTTPError as exc:
            if answering:
                raise bad_answer(self.label, f"broke off its answer: {exc}") from exc
            raise ProviderUnavailable(f"{self.label} is unreachable: {exc}", reason="unreachable") from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
