"""The OpenAI chat-completions wire format, which OpenAI, DeepSeek, Qwen, vLLM, Ollama and llama.cpp servers
all speak: `POST {base_url}/chat/completions`, streamed as `data:` chunks ending in `data: [DONE]`."""

from __future__ import annotations

import base64
import json
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

OPENAI_BASE_URL = "https://api.openai.com/v1"
_STOP_REASONS = {"stop": STOP_END, "length": STOP_MAX_TOKENS, "tool_calls": STOP_TOOL_CALLS}


def _wire_tool_call(call: ToolCall) -> dict[str, Any]:
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:  # content may be null beside tool calls, and only there
        calls = [_wire_tool_call(call) for call in message.tool_calls]
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        for image in message.images:
            url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        return {"role": message.role, "content": parts}
    return {"role": message.role, "content": message.content}


def _stop_reason(finish_reason: Any, tool_calls: Sequence[ToolCall]) -> str:
    if tool_calls:  # some servers (older Ollama) say "stop" beside tool calls
        return STOP_TOOL_CALLS
    if not isinstance(finish_reason, str):
        return STOP_END
    return _STOP_REASONS.get(finish_reason, finish_reason)


@dataclass
class _PendingCall:
    """A streamed tool call: its id and name come first, its arguments in fragments."""

    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


class OpenAICompatibleProvider:
    """A chat-completions server; base_url usually ends in /v1. Without an API key no Authorization header
    is sent (Ollama, llama.cpp)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        model: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        key = api_key.get_secret_value() if api_key is not None else ""
        self._endpoint = ModelEndpoint(
            f"{base_url.rstrip('/')}/chat/completions",
            {"Authorization": f"Bearer {key}"} if key else {},
            label=f"the model server at {base_url}",
            timeout_seconds=timeout_seconds,
            client=client,
        )

    def _payload(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int
    ) -> dict[str, Any]:
        # max_tokens rather than OpenAI's newer max_completion_tokens: every compatible server knows it.
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(message) for message in messages],
            "max_tokens": max_tokens,
        }
        if tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            payload["tool_choice"] = "auto"
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
        if json_output:  # the API refuses json_object unless the messages themselves mention JSON
            messages = with_json_instruction(messages)
        payload = self._payload(messages, tools, max_tokens)
        if json_output:
            payload["response_format"] = {"type": "json_object"}
        body = await self._endpoint.post_json(payload)
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise bad_answer(label, "answered without a message")
        content, wire_calls = message.get("content"), message.get("tool_calls") or []
        if not isinstance(content, str | None) or not isinstance(wire_calls, list):
            raise bad_answer(label, "answered with a message of the wrong shape")
        calls = tuple(self._tool_call(wire_call) for wire_call in wire_calls)
        text = content or ""
        if json_output and not calls:
            text = check_json_object(label, text)
        model = body.get("model") if isinstance(body.get("model"), str) else self.model
        stop_reason = _stop_reason(choice.get("finish_reason") if choice else None, calls)
        return ModelReply(text, calls, stop_reason, self.name, model or self.model)

    def _tool_call(self, wire_call: Any) -> ToolCall:
        function = wire_call.get("function") if isinstance(wire_call, dict) else None
        if not isinstance(function, dict):
            raise bad_answer(self._endpoint.label, "asked for a tool call of the wrong shape")
        return parse_tool_call(
            self._endpoint.label, wire_call.get("id"), function.get("name"), function.get("arguments")
        )

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> AsyncIterator[StreamEvent]:
        label = self._endpoint.label
        payload = self._payload(messages, tools, max_tokens) | {"stream": True}
        pending: dict[int, _PendingCall] = {}
        finish_reason: Any = None
        model = self.model
        async for event in self._endpoint.stream_events(payload):
            if event.data.strip() == "[DONE]":
                calls = [
                    parse_tool_call(label, call.id, call.name, "".join(call.fragments))
                    for _, call in sorted(pending.items())
                ]
                for call in calls:
                    yield ToolCallDone(call)
                yield StreamEnd(_stop_reason(finish_reason, calls), self.name, model)
                return
            chunk = decode_event_data(label, event.data)
            if "error" in chunk:
                raise stream_failure(label, chunk)
            if isinstance(chunk.get("model"), str) and chunk["model"]:
                model = chunk["model"]
            choices = chunk.get("choices") or []  # the usage chunk, when asked for, has none
            if not isinstance(choices, list):
                raise bad_answer(label, "streamed a chunk of the wrong shape")
            for choice in choices:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if not isinstance(delta, dict):
                    raise bad_answer(label, "streamed a chunk without a delta")
                if isinstance(delta.get("content"), str) and delta["content"]:
                    yield TextDelta(delta["content"])
                for position, fragment in enumerate(delta.get("tool_calls") or []):
                    self._add_fragment(pending, position, fragment)
                finish_reason = choice.get("finish_reason") or finish_reason
        raise bad_answer(label, "ended its stream before [DONE]")

    def _add_fragment(self, pending: dict[int, _PendingCall], position: int, fragment: Any) -> None:
        function = fragment.get("function") if isinstance(fragment, dict) else None
        if not isinstance(function, dict):
            raise bad_answer(self._endpoint.label, "streamed a tool call of the wrong shape")
        index = fragment.get("index", position)
        call = pending.setdefault(index if isinstance(index, int) else position, _PendingCall())
        call.id = fragment.get("id") or call.id
        call.name = function.get("name") or call.name  # sent whole, once; some servers repeat it
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.fragments.append(arguments)
        elif arguments is not None:
            raise bad_answer(self._endpoint.label, f"streamed arguments for {call.name} that are not text")

    async def aclose(self) -> None:
        await self._endpoint.aclose()
