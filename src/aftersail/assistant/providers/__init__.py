"""Language models a tenant may plug in, behind one small Protocol (`ModelProvider`): any OpenAI-compatible
chat-completions server, or Anthropic's Messages API. Tool calls, JSON output, streaming and images work
the same through both; every failure is a `ProviderUnavailable` whose message a person can read.

The model only proposes: `run_tool_loop` hands each tool call to the caller's `execute`, which goes through
the same policy-checked actions an agent uses and decides.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from aftersail.assistant.providers.anthropic import ANTHROPIC_BASE_URL, AnthropicProvider
from aftersail.assistant.providers.base import (
    DEFAULT_TIMEOUT_SECONDS,
    IMAGE_MEDIA_TYPES,
    STOP_END,
    STOP_MAX_TOKENS,
    STOP_TOOL_CALLS,
    ChatMessage,
    ImagePart,
    ModelProvider,
    ModelReply,
    NoModelProvider,
    ProviderUnavailable,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDone,
    ToolSpec,
)
from aftersail.assistant.providers.openai import OPENAI_BASE_URL, OpenAICompatibleProvider

__all__ = [
    "ANTHROPIC_BASE_URL",
    "IMAGE_MEDIA_TYPES",
    "OPENAI_BASE_URL",
    "STOP_END",
    "STOP_MAX_TOKENS",
    "STOP_TOOL_CALLS",
    "UNKNOWN_TOOL",
    "AnthropicProvider",
    "ChatMessage",
    "ImagePart",
    "ModelProvider",
    "ModelReply",
    "NoModelProvider",
    "OpenAICompatibleProvider",
    "ProviderUnavailable",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDone",
    "ToolLoopResult",
    "ToolSpec",
    "build_provider",
    "run_tool_loop",
]

UNKNOWN_TOOL: dict[str, Any] = {"error": "unknown_tool"}


@dataclass(frozen=True, slots=True)
class ToolLoopResult:
    """The model's final text, and every tool call it made with the result it was given, in order
    (a call for a tool it was not offered carries UNKNOWN_TOOL)."""

    text: str
    calls: tuple[tuple[ToolCall, dict[str, Any]], ...] = field(hash=False)


async def run_tool_loop(
    provider: ModelProvider,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec],
    execute: Callable[[ToolCall], Awaitable[dict[str, Any]]],
    *,
    max_rounds: int = 4,
) -> ToolLoopResult:
    """Asks the model, runs the tools it asks for through `execute` and sends back their results, until it
    answers with text; ProviderUnavailable("bad_answer") if it still wants tools after `max_rounds` answers.

    `execute` returns a JSON-serialisable result for the model (a refusal is a result too, e.g.
    {"error": "not_allowed", ...}); whatever it raises propagates. The loop decides nothing itself: a tool
    that was not offered is never executed, the model is told {"error": "unknown_tool"} instead."""
    offered = {tool.name for tool in tools}
    conversation = list(messages)
    calls: list[tuple[ToolCall, dict[str, Any]]] = []
    for _ in range(max_rounds):
        reply = await provider.complete(conversation, tools=tools)
        if not reply.tool_calls:
            return ToolLoopResult(reply.text, tuple(calls))
        conversation.append(ChatMessage("assistant", reply.text, tool_calls=reply.tool_calls))
        for call in reply.tool_calls:
            result = await execute(call) if call.name in offered else dict(UNKNOWN_TOOL)
            calls.append((call, result))
            content = json.dumps(result, ensure_ascii=False)
            conversation.append(ChatMessage("tool", content, tool_call_id=call.id))
    raise ProviderUnavailable(
        f"the model ({provider.name} {provider.model}) still asked for tools after {max_rounds} rounds",
        reason="bad_answer",
    )


def build_provider(
    kind: Literal["openai", "anthropic"],
    base_url: str | None,
    api_key: SecretStr | str | None,
    model: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    client: httpx.AsyncClient | None = None,
) -> ModelProvider:
    """The provider a tenant's settings name; an empty base_url means the vendor's own API.
    Raises ValueError for an incomplete configuration."""
    key = SecretStr(api_key) if isinstance(api_key, str) else api_key
    if key is not None and not key.get_secret_value():
        key = None
    if not model:
        raise ValueError(f"the {kind} model provider needs a model name")
    if kind == "openai":
        return OpenAICompatibleProvider(
            base_url or OPENAI_BASE_URL, key, model, timeout_seconds=timeout_seconds, client=client
        )
    if kind == "anthropic":
        if key is None:
            raise ValueError("the anthropic model provider needs an API key")
        return AnthropicProvider(
            base_url or ANTHROPIC_BASE_URL, key, model, timeout_seconds=timeout_seconds, client=client
        )
    raise ValueError(f"unknown model provider {kind!r}: expected 'openai' or 'anthropic'")
