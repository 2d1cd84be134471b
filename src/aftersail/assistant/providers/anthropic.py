"""Anthropic's Messages API: `POST {base_url}/v1/messages` with content blocks, the system prompt at the top
level, and a stream of named events (message_start … message_stop)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from aftersail.assistant.providers.base import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TIMEOUT_SECONDS,
    STOP_END,
    STOP_MAX_TOKENS,
    STOP_TOOL_CALLS,
    ChatMessage,
    ModelEndpoint,
    ModelReply,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDone,
    ToolSpec,
    bad_answer,
    check_json_object,
    decode_event_data,
    parse_tool_call,
    stream_failure,
    with_json_instruction,
)

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_STOP_REASONS = {
    "end_turn": STOP_END,
    "stop_sequence": STOP_END,
    "max_tokens": STOP_MAX_TOKENS,
    "tool_use": STOP_TOOL_CALLS,
}


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    blocks: list[dict[str, Any]] = []
    for image in message.images:  # images before the text about them, as Anthropic recommends
        data = base64.b64encode(image.data).decode("ascii")
        source = {"type": "base64", "media_type": image.media_type, "data": data}
        blocks.append({"type": "image", "source": source})
    if message.content.strip():  # the API refuses blank text blocks
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    return blocks


def wire_conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages): system turns joined at the top level; tool results become tool_result
    blocks of a user turn; consecutive turns of one role merge into one (tool results first)."""
    system = [message.content for message in messages if message.role == "system"]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(_blocks(message))
        else:
            turns.append({"role": role, "content": _blocks(message)})
    return "\n\n".join(system), turns


def _stop_reason(stop_reason: Any, calls: Sequence[ToolCall]) -> str:
    if calls:
        return STOP_TOOL_CALLS
    if not isinstance(stop_reason, str):
        return STOP_END
    return _STOP_REASONS.get(stop_reason, stop_reason)


@dataclass
class _PendingCall:
    id: Any
    name: Any
    fragments: list[str] = field(default_factory=list)


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        model: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self._endpoint = ModelEndpoint(
            f"{base_url.rstrip('/')}/v1/messages",
            {"x-api-key": api_key.get_secret_value(), "anthropic-version": ANTHROPIC_VERSION},
            label=f"Anthropic's API at {base_url}",
            timeout_seconds=timeout_seconds,
            client=client,
        )

    def _payload(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        system, turns = wire_conversation(messages)
        payload: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "messages": turns}
        if system:
            payload["system"] = system
        if tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
        return payload

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        json_output: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> ModelReply:
        label = self._endpoint.label
        if json_output:  # the API has no JSON mode: ask for it, then check
            messages = with_json_instruction(messages)
        body = await self._endpoint.post_json(self._payload(messages, tools, max_tokens))
        content = body.get("content")
        if body.get("type") != "message" or not isinstance(content, list):
            raise bad_answer(label, "answered without a message")
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind is None or (kind == "text" and not isinstance(block.get("text"), str)):
                raise bad_answer(label, "answered with a content block of the wrong shape")
            if kind == "text":
                texts.append(block["text"])
            elif kind == "tool_use":
                calls.append(parse_tool_call(label, block.get("id"), block.get("name"), block.get("input")))
            # other kinds (thinking, redacted_thinking …) are not part of the answer
        text = "".join(texts)
        if json_output and not calls:
            text = check_json_object(label, text)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        stop_reason = _stop_reason(body.get("stop_reason"), calls)
        return ModelReply(text, tuple(calls), stop_reason, self.name, model or self.model)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> AsyncIterator[StreamEvent]:
        label = self._endpoint.label
        payload = self._payload(messages, tools, max_tokens) | {"stream": True}
        pending: dict[Any, _PendingCall] = {}
        calls: list[ToolCall] = []
        stop_reason: Any = None
        model = self.model
        async for event in self._endpoint.stream_events(payload):
            data = decode_event_data(label, event.data)
            kind = data.get("type")
            if kind == "message_start":
                message = data.get("message")
                if isinstance(message, dict) and isinstance(message.get("model"), str):
                    model = message["model"] or model
            elif kind == "content_block_start":
                block = data.get("content_block")
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    pending[data.get("index")] = _PendingCall(block.get("id"), block.get("name"))
            elif kind == "content_block_delta":
                delta = data.get("delta")
                if not isinstance(delta, dict):
                    raise bad_answer(label, "streamed a content block delta without a delta")
                if delta.get("type") == "text_delta":
                    if not isinstance(delta.get("text"), str):
                        raise bad_answer(label, "streamed a text delta without text")
                    yield TextDelta(delta["text"])
                elif delta.get("type") == "input_json_delta":
                    call = pending.get(data.get("index"))
                    if call is None or not isinstance(delta.get("partial_json"), str):
                        raise bad_answer(label, "streamed tool arguments that belong to no tool call")
                    call.fragments.append(delta["partial_json"])
            elif kind == "content_block_stop" and data.get("index") in pending:
                call = pending.pop(data.get("index"))
                calls.append(parse_tool_call(label, call.id, call.name, "".join(call.fragments)))
            elif kind == "message_delta":
                delta = data.get("delta")
                stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else stop_reason
            elif kind == "message_stop":
                for done in calls:
                    yield ToolCallDone(done)
                yield StreamEnd(_stop_reason(stop_reason, calls), self.name, model)
                return
            elif kind == "error":
                raise stream_failure(label, data)
            # ping, and event types added later, are skipped as the API asks
        raise bad_answer(label, "ended its stream before message_stop")

    async def aclose(self) -> None:
        await self._endpoint.aclose()
