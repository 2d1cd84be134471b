"""A language-model server for tests on 127.0.0.1, speaking OpenAI's chat completions
(`POST /v1/chat/completions`) and Anthropic's Messages API (`POST /v1/messages`).

It checks requests as the real APIs do (API key, required fields, message and content-block shapes, tool
schemas, tool calls answered in the next turn, images that really are images) and refuses bad ones with
the API's own error JSON. Valid requests are answered from a script of `Reply`s, in the API's exact wire
format, streamed or not as asked:

    with serve_in_thread(api_key="sk-test") as server:
        OpenAICompatibleProvider(f"{server.url}/v1", SecretStr("sk-test"), "gpt-test")
        AnthropicProvider(server.url, SecretStr("sk-test"), "claude-test")
        server.script(
            Reply(tool_calls=[("refund_order", {"order": "A-1001", "amount_minor": 2599})]),
            Reply(text="I have asked for your refund."),
        )
        ...
        server.requests[-1]["messages"]      # JSON bodies received, newest last (refused ones too)
        server.headers[-1]["authorization"]  # their headers, names in lower case
        server.reset()                       # empty script, nothing received, the starting API key

Each valid request takes the next `Reply` (one queue for both APIs); with none left the answer is HTTP 500
"no scripted reply left". A `Reply` is text and/or tool calls, plus how to misbehave:

    Reply(text="Your parcel is on its way.", pieces=4)      # a stream sends the text in 4 deltas
    Reply(tool_calls=[("lookup_order", {"order": "A-1"})])  # arguments streamed in `pieces` fragments
    Reply(tool_calls=[("lookup_order", '{"order": ')])      # a str is sent verbatim as the arguments' JSON
    Reply(delay_seconds=2)                                  # wait before answering (then answer as scripted)
    Reply(status=429)                                       # the API's error JSON with this HTTP status
    Reply(garbage="<html>bad gateway</html>")               # 200 with this body (JSON or SSE content type)
    Reply(text="{}", content_type="text/html")              # a 200 answer with the wrong content type
    Reply(text="Your parcel", truncate_after=3)             # a stream that stops after 3 events, no end

Like a model, the server stops a text after `max_tokens` words (finish_reason "length", stop_reason
"max_tokens"). An API key of None lets OpenAI requests through without one (as Ollama does); Anthropic
always wants an x-api-key header and an anthropic-version header.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

IMAGE_SIGNATURES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
DATA_URL = re.compile(r"^data:(image/[a-z]+);base64,(.*)$", re.DOTALL)
OPENAI_FIELDS = {
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream",
    "stream_options", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "seed",
    "user", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias", "metadata",
    "store", "service_tier", "reasoning_effort", "modalities", "prediction",
}  # fmt: skip
OPENAI_MESSAGE_FIELDS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}
ANTHROPIC_FIELDS = {
    "model", "messages", "max_tokens", "system", "tools", "tool_choice", "stream", "temperature", "top_p",
    "top_k", "stop_sequences", "metadata", "thinking", "service_tier",
}  # fmt: skip
ANTHROPIC_BLOCK_FIELDS = {
    "text": {"type", "text", "cache_control", "citations"},
    "image": {"type", "source", "cache_control"},
    "tool_use": {"type", "id", "name", "input", "cache_control"},
    "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
}
ANTHROPIC_ERRORS = {  # status: (type, message)
    400: ("invalid_request_error", "There was an issue with the format or content of your request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
OPENAI_ERRORS = {  # status: (message, type, code)
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),  # noqa: E501
    429: ("Rate limit reached for requests. Please try again in 20s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}  # fmt: skip


@dataclass
class Reply:
    """One scripted model turn; see the module docstring."""

    text: str = ""
    tool_calls: Sequence[tuple[str, dict[str, Any] | str]] = ()  # (name, arguments), in order
    pieces: int = 3  # streamed: text deltas, and argument fragments per tool call
    delay_seconds: float = 0.0
    status: int | None = None  # an HTTP error instead of the answer
    garbage: str | None = None  # a 200 body sent as it is instead of the answer
    content_type: str | None = None  # instead of application/json or text/event-stream
    truncate_after: int | None = None  # streamed: only the first N events (a slice bound: -1 drops the last)


class Invalid(Exception):
    """A request the real API would refuse with 400; `param` as OpenAI names it."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def image_type(data: bytes) -> str | None:
    for media_type, signatures in IMAGE_SIGNATURES.items():
        if data.startswith(signatures):
            return media_type
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def decode_base64(data: Any) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except (binascii.Error, ValueError):
        return None


def split(text: str, pieces: int) -> list[str]:
    """`text` in `pieces` non-empty parts of nearly equal length (fewer when it is shorter)."""
    count = max(1, min(pieces, len(text)))
    bounds = [round(i * len(text) / count) for i in range(count + 1)]
    return [text[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def arguments_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def words(text: str) -> int:
    return len(text.split())


def cut_to_max_tokens(text: str, max_tokens: Any) -> tuple[str, bool]:
    """The text as a model would give it within `max_tokens` (one word a token), and whether it was cut."""
    if not isinstance(max_tokens, int) or words(text) <= max_tokens:
        return text, False
    return " ".join(text.split()[:max_tokens]), True


# --- OpenAI chat completions -------------------------------------------------------------------------------


def check_openai_content(where: str, role: str, content: Any) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise Invalid(f"Invalid type for '{where}': expected a string or an array of content parts.", where)
    for position, part in enumerate(content):
        here = f"{where}[{position}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind != "image_url":
            raise Invalid(f"Invalid value: '{kind}'. Supported values are: 'text' and 'image_url'.", here)
        if role != "user":
            message = f"Image URLs are only allowed for messages with role 'user', but this message with role '{role}' contains an image URL."  # noqa: E501
            raise Invalid(message, here, "invalid_value")
        url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else None
        if not isinstance(url, str):
            raise Invalid(
                f"Missing required parameter: '{here}.image_url.url'.", here, "missing_required_parameter"
            )
        if url.startswith(("https://", "http://")):
            continue
        data_url = DATA_URL.match(url)
        data = decode_base64(data_url.group(2)) if data_url else None
        if data_url is None or data is None:
            message = f"Invalid '{here}.image_url.url'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got a value with an invalid format."  # noqa: E501
            raise Invalid(message, f"{here}.image_url.url", "invalid_value")
        if image_type(data) is None:
            message = "You uploaded an unsupported image. Please make sure your image has of one the following formats: ['png', 'jpeg', 'gif', 'webp']."  # noqa: E501
            raise Invalid(message, None, "invalid_image_format")


def check_openai_message(index: int, message: Any, messages: list[Any]) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise Invalid(f"Invalid type for '{where}': expected an object.", where, "invalid_type")
    role = message.get("role")
    if role not in OPENAI_MESSAGE_FIELDS:
        message_text = f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."  # noqa: E501
        raise Invalid(message_text, f"{where}.role", "invalid_value")
    extra = sorted(set(message) - OPENAI_MESSAGE_FIELDS[role])
    if extra:
        raise Invalid(
            f"Additional properties are not allowed ('{extra[0]}' was unexpected) - '{where}'", where
        )
    calls = message.get("tool_calls")
    content = message.get("content")
    if role == "assistant" and calls is not None:
        if not isinstance(calls, list) or not calls:
            raise Invalid(f"Invalid '{where}.tool_calls': empty array.", f"{where}.tool_calls", "empty_array")
        for position, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if (
                not isinstance(function, dict)
                or not isinstance(call.get("id"), str)
                or call.get("type") != "function"
                or not isinstance(function.get("name"), str)
                or not isinstance(function.get("arguments"), str)
            ):
                here = f"{where}.tool_calls[{position}]"
                raise Invalid(
                    f"Invalid '{here}': expected id, type 'function' and function name and arguments.", here
                )
        following = [m for m in messages[index + 1 :][: len(calls)] if isinstance(m, dict)]
        answered = {m.get("tool_call_id") for m in following if m.get("role") == "tool"}
        missing = [call["id"] for call in calls if call["id"] not in answered]
        if missing:
            text = f"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(missing)}"  # noqa: E501
            raise Invalid(text, f"messages.[{index}].role")
    if content is None and not (role == "assistant" and calls):
        raise Invalid("Invalid value for 'content': expected a string, got null.", f"{where}.content")
    if content is not None:
        check_openai_content(f"{where}.content", role, content)
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            text = "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'."
            raise Invalid(text, f"{where}.tool_call_id", "missing_required_parameter")
        previous: dict[str, Any] = next(
            (m for m in reversed(messages[:index]) if m.get("role") != "tool"), {}
        )
        offered = {call.get("id") for call in previous.get("tool_calls") or []}
        if previous.get("role") != "assistant" or message["tool_call_id"] not in offered:
            text = "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."  # noqa: E501
            raise Invalid(text, f"messages.[{index}].role")


def check_openai_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            raise Invalid("Invalid 'tools': empty array. Expected an array with minimum length 1.", "tools")
        for position, tool in enumerate(tools):
            where = f"tools[{position}]"
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or tool.get("type") != "function":
                raise Invalid(
                    f"Missing required parameter: '{where}.function'.", where, "missing_required_parameter"
                )
            name = function.get("name")
            if not isinstance(name, str) or not TOOL_NAME.match(name):
                text = f"Invalid '{where}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."  # noqa: E501
                raise Invalid(text, f"{where}.function.name", "invalid_value")
            schema = function.get("parameters", {"type": "object"})
            if not isinstance(schema, dict) or schema.get("type") != "object":
                kind = schema.get("type") if isinstance(schema, dict) else None
                text = f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."  # noqa: E501
                raise Invalid(text, f"{where}.function.parameters", "invalid_function_parameters")
    choice = body.get("tool_choice")
    if choice is not None:
        if tools is None:
            text = (
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
            )
            raise Invalid(text, "tool_choice")
        if choice not in ("none", "auto", "required") and not (
            isinstance(choice, dict) and choice.get("type") == "function"
        ):
            raise Invalid(f"Invalid value for 'tool_choice': {choice!r}.", "tool_choice", "invalid_value")


def check_openai_request(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid type for the request body: expected an object.")
    extra = sorted(set(body) - OPENAI_FIELDS)
    if extra:
        raise Invalid(f"Unrecognized request argument supplied: {extra[0]}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise Invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not messages:
        raise Invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages")
    for index, message in enumerate(messages):
        check_openai_message(index, message, messages)
    check_openai_tools(body)
    for name in ("max_tokens", "max_completion_tokens"):
        if name in body and (not isinstance(body[name], int) or body[name] < 1):
            text = f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {body[name]!r} instead."  # noqa: E501
            raise Invalid(text, name, "integer_below_min_value")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid(
            f"Invalid type for 'stream': expected a boolean, but got {body['stream']!r} instead.", "stream"
        )
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            text = f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'."
            raise Invalid(text, "response_format.type", "invalid_value")
        if kind == "json_object" and "json" not in json.dumps([m.get("content") for m in messages]).lower():
            text = "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."  # noqa: E501
            raise Invalid(text, "messages")


def openai_error(status: int, message: str, kind: str, param: str | None, code: str | None) -> JSONResponse:
    error = {"message": message, "type": kind, "param": param, "code": code}
    return JSONResponse({"error": error}, status_code=status)


def openai_status_error(status: int) -> JSONResponse:
    message, kind, code = OPENAI_ERRORS.get(
        status, (f"HTTP {status} from the test server", "server_error", None)
    )
    return openai_error(status, message, kind, None, code)


def openai_completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    text, cut = cut_to_max_tokens(reply.text, body.get("max_tokens", body.get("max_completion_tokens")))
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{secrets.token_hex(12)}",
                "type": "function",
                "function": {"name": name, "arguments": arguments_text(arguments)},
            }
            for name, arguments in reply.tool_calls
        ]
    finish_reason = "tool_calls" if reply.tool_calls else "length" if cut else "stop"
    prompt_words = words(json.dumps([m.get("content") for m in body["messages"]]))
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": words(text),
            "total_tokens": prompt_words + words(text),
        },
    }


def openai_stream(body: dict[str, Any], reply: Reply) -> list[str]:
    """The `data:` events of a streamed completion, `data: [DONE]` last."""
    text, cut = cut_to_max_tokens(reply.text, body.get("max_tokens", body.get("max_completion_tokens")))
    head = {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_test",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return head | {"choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in split(text, reply.pieces)]
    for index, (name, arguments) in enumerate(reply.tool_calls):
        call_id = f"call_{secrets.token_hex(12)}"
        function = {"name": name, "arguments": ""}
        chunks.append(
            chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]})
        )
        for fragment in split(arguments_text(arguments), reply.pieces):
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
    chunks.append(chunk({}, "tool_calls" if reply.tool_calls else "length" if cut else "stop"))
    return [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]


# --- Anthropic Messages ------------------------------------------------------------------------------------


def check_anthropic_block(where: str, role: str, block: Any) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in ANTHROPIC_BLOCK_FIELDS:
        tags = ", ".join(f"'{tag}'" for tag in ANTHROPIC_BLOCK_FIELDS)
        raise Invalid(
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags: {tags}"
        )
    extra = sorted(set(block) - ANTHROPIC_BLOCK_FIELDS[kind])
    if extra:
        raise Invalid(f"{where}.{kind}.{extra[0]}: Extra inputs are not permitted")
    allowed_role = {"image": "user", "tool_result": "user", "tool_use": "assistant"}.get(kind, role)
    if role != allowed_role:
        raise Invalid(f"{where}: `{kind}` blocks are not allowed in {role} messages")
    if kind == "text" and (not isinstance(block.get("text"), str) or not block["text"].strip()):
        raise Invalid("messages: text content blocks must contain non-whitespace text")
    if kind == "image":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") != "base64":
            raise Invalid(
                f"{where}.image.source: Input tag '{source}' does not match 'base64', 'url' or 'file'"
            )
        media_type = source.get("media_type")
        if media_type not in ("image/jpeg", "image/png", "image/gif", "image/webp"):
            text = "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            raise Invalid(f"{where}.image.source.base64.media_type: {text}")
        data = decode_base64(source.get("data"))
        if data is None or image_type(data) is None:
            raise Invalid(
                f"{where}.image.source.base64.data: The image data is not a valid {media_type} image"
            )
        if image_type(data) != media_type:
            text = f"The image was specified using the {media_type} media type, but the image appears to be a {image_type(data)} image"  # noqa: E501
            raise Invalid(f"{where}.image.source.base64.data: {text}")
    if kind == "tool_use":
        for name, expected in (("id", str), ("name", str), ("input", dict)):
            if not isinstance(block.get(name), expected):
                raise Invalid(f"{where}.tool_use.{name}: Field required")
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise Invalid(f"{where}.tool_result.tool_use_id: Field required")
        content = block.get("content", "")
        if not isinstance(content, str | list):
            raise Invalid(f"{where}.tool_result.content: Input should be a valid string or list")


def check_anthropic_messages(messages: Any, tools: Any) -> None:
    if messages is None:
        raise Invalid("messages: Field required")
    if not isinstance(messages, list):
        raise Invalid("messages: Input should be a valid list")
    if not messages:
        raise Invalid("messages: at least one message is required")
    turns: list[tuple[str, int, list[tuple[str, dict[str, Any]]]]] = []  # role, last index, blocks
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            text = 'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.'  # noqa: E501
            raise Invalid(text)
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            raise Invalid(f"messages.{index}.{extra[0]}: Extra inputs are not permitted")
        content = message.get("content")
        if isinstance(content, str):
            blocks: Any = [{"type": "text", "text": content}] if content else []
        else:
            blocks = content
        if not isinstance(blocks, list):
            raise Invalid(f"messages.{index}.content: Input should be a valid string or list")
        if not blocks and not (role == "assistant" and index == len(messages) - 1):
            text = "all messages must have non-empty content except for the optional final assistant message"
            raise Invalid(f"messages.{index}: {text}")
        for position, block in enumerate(blocks):
            where = f"messages.{index}.content.{position}"
            check_anthropic_block(where, role, block)
            if block["type"] in ("tool_use", "tool_result") and not tools:
                raise Invalid(
                    f"{where}: Requests which include `tool_use` or `tool_result` blocks must define tools."
                )
        located = [(f"messages.{index}.content.{position}", block) for position, block in enumerate(blocks)]
        if turns and turns[-1][0] == role:  # the API joins consecutive turns of one role
            turns[-1] = (role, index, turns[-1][2] + located)
        else:
            turns.append((role, index, located))
    check_tool_pairs(turns)


def check_tool_pairs(turns: list[tuple[str, int, list[tuple[str, dict[str, Any]]]]]) -> None:
    """Every tool_use answered by a tool_result in the very next turn, and no tool_result without one."""
    uses: list[str] = []
    use_index = 0
    for role, index, blocks in turns:
        if role == "assistant":
            uses = [block["id"] for _, block in blocks if block["type"] == "tool_use"]
            use_index = index
            continue
        results = [(where, block["tool_use_id"]) for where, block in blocks if block["type"] == "tool_result"]
        for where, tool_use_id in results:
            if tool_use_id not in uses:
                text = f"unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."  # noqa: E501
                raise Invalid(f"{where}: {text}")
        missing = [use for use in uses if use not in {tool_use_id for _, tool_use_id in results}]
        if missing:
            text = f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."  # noqa: E501
            raise Invalid(f"messages.{use_index}: {text}")
        uses = []
    if uses:
        text = f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(uses)}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."  # noqa: E501
        raise Invalid(f"messages.{use_index}: {text}")


def check_anthropic_request(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("Input should be a valid dictionary")
    extra = sorted(set(body) - ANTHROPIC_FIELDS)
    if extra:
        raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    if "max_tokens" not in body:
        raise Invalid("max_tokens: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    system = body.get("system", "")
    if not isinstance(system, str) and not (
        isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in system)
    ):
        raise Invalid("system: Input should be a valid string or a list of text blocks")
    check_anthropic_messages(body.get("messages"), body.get("tools"))
    for position, tool in enumerate(body.get("tools") or []):
        where = f"tools.{position}.custom"
        if not isinstance(tool, dict):
            raise Invalid(f"tools.{position}: Input should be a valid dictionary")
        extra = sorted(set(tool) - {"type", "name", "description", "input_schema", "cache_control"})
        if extra:
            raise Invalid(f"{where}.{extra[0]}: Extra inputs are not permitted")
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.match(tool["name"]):
            raise Invalid(f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if "input_schema" not in tool:
            raise Invalid(f"{where}.input_schema: Field required")
        if not isinstance(tool["input_schema"], dict) or tool["input_schema"].get("type") != "object":
            raise Invalid(f"{where}.input_schema.type: Input should be 'object'")
    choice = body.get("tool_choice")
    if choice is not None and (
        not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none")
    ):
        raise Invalid(
            "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
        )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid("stream: Input should be a valid boolean")


def anthropic_error(status: int, message: str | None = None) -> JSONResponse:
    kind, usual_message = ANTHROPIC_ERRORS.get(status, ("api_error", f"HTTP {status}"))
    error = {"type": kind, "message": message or usual_message}
    body = {"type": "error", "error": error, "request_id": f"req_{secrets.token_hex(12)}"}
    return JSONResponse(body, status_code=status)


def anthropic_content(reply: Reply, text: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for name, arguments in reply.tool_calls:
        try:
            value = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            value = arguments  # sent as it is: a string where an object belongs
        blocks.append(
            {"type": "tool_use", "id": f"toolu_01{secrets.token_hex(11)}", "name": name, "input": value}
        )
    return blocks


def anthropic_message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    text, cut = cut_to_max_tokens(reply.text, body["max_tokens"])
    return {
        "id": f"msg_01{secrets.token_hex(11)}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": anthropic_content(reply, text),
        "stop_reason": "tool_use" if reply.tool_calls else "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": words(json.dumps(body["messages"])), "output_tokens": words(text)},
    }


def anthropic_stream(body: dict[str, Any], reply: Reply) -> list[str]:
    """The named events of a streamed message, `message_stop` last."""
    message = anthropic_message(body, reply)
    scripted_arguments = iter(arguments for _, arguments in reply.tool_calls)
    start = message | {"content": [], "stop_reason": None, "usage": message["usage"] | {"output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        opening = block | {"text": ""} if block["type"] == "text" else block | {"input": {}}
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        if block["type"] == "text":
            deltas = [{"type": "text_delta", "text": piece} for piece in split(block["text"], reply.pieces)]
        else:  # as scripted, so that a str of broken JSON streams as it is
            fragments = split(arguments_text(next(scripted_arguments)), reply.pieces)
            deltas = [{"type": "input_json_delta", "partial_json": fragment} for fragment in fragments]
        for delta in deltas:
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.insert(min(2, len(events)), ("ping", {"type": "ping"}))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(("message_delta", {"type": "message_delta", "delta": stop, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events]


# --- the server --------------------------------------------------------------------------------------------


def create_app(server: ModelServer) -> Starlette:
    async def received(request: Request) -> Any:
        """The JSON body (None when it is not JSON), recorded with the headers."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        server.requests.append(body)
        server.headers.append({name.lower(): value for name, value in request.headers.items()})
        return body

    def answer(reply: Reply, *, events: list[str] | None = None, message: Any = None) -> Response:
        """The scripted answer: `events` streamed, or `message` as JSON, or the reply's garbage instead."""
        if reply.garbage is not None:
            media_type = reply.content_type or ("application/json" if events is None else "text/event-stream")
            return Response(reply.garbage, media_type=media_type)
        if events is not None:
            sent = events if reply.truncate_after is None else events[: reply.truncate_after]
            return StreamingResponse(stream_out(sent), media_type=reply.content_type or "text/event-stream")
        return JSONResponse(message, media_type=reply.content_type or "application/json")

    async def chat_completions(request: Request) -> Response:
        body = await received(request)
        authorization = request.headers.get("authorization")
        if server.api_key and authorization != f"Bearer {server.api_key}":
            if not authorization:
                text = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."  # noqa: E501
                return openai_error(401, text, "invalid_request_error", None, None)
            shown = authorization.removeprefix("Bearer ")
            text = f"Incorrect API key provided: {shown[:3]}{'*' * 8}{shown[-4:]}. You can find your API key at https://platform.openai.com/account/api-keys."  # noqa: E501
            return openai_error(401, text, "invalid_request_error", None, "invalid_api_key")
        if body is None:
            text = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"  # noqa: E501
            return openai_error(400, text, "invalid_request_error", None, None)
        try:
            check_openai_request(body)
        except Invalid as invalid:
            return openai_error(400, invalid.message, "invalid_request_error", invalid.param, invalid.code)
        reply = await server.next_reply()
        if reply is None:
            return openai_error(500, "no scripted reply left", "server_error", None, None)
        if reply.status:
            return openai_status_error(reply.status)
        if body.get("stream"):
            return answer(reply, events=openai_stream(body, reply))
        return answer(reply, message=openai_completion(body, reply))

    async def messages(request: Request) -> Response:
        body = await received(request)
        api_key = request.headers.get("x-api-key")
        if not api_key:
            return anthropic_error(401, "x-api-key header is required")
        if server.api_key and api_key != server.api_key:
            return anthropic_error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        if body is None:
            return anthropic_error(400, "There was an error parsing the body as JSON")
        try:
            check_anthropic_request(body)
        except Invalid as invalid:
            return anthropic_error(400, invalid.message)
        reply = await server.next_reply()
        if reply is None:
            return anthropic_error(500, "no scripted reply left")
        if reply.status:
            return anthropic_error(reply.status)
        if body.get("stream"):
            return answer(reply, events=anthropic_stream(body, reply))
        return answer(reply, message=anthropic_message(body, reply))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )


async def stream_out(events: list[str]) -> AsyncIterator[str]:
    for event in events:
        yield event
        await asyncio.sleep(0)  # each event its own write, as a model's tokens come


class ModelServer(ThreadedServer):
    """The server on 127.0.0.1 (port 0: a free one) in a daemon thread; `url` once started."""

    what = "model"

    def __init__(self, port: int = 0, *, api_key: str | None = None) -> None:
        self.api_key = self._initial_api_key = api_key
        self.replies: deque[Reply] = deque()
        self.requests: list[Any] = []
        self.headers: list[dict[str, str]] = []
        super().__init__(create_app(self), port)

    def script(self, *replies: Reply) -> None:
        """Queues replies for the next valid requests, in order."""
        self.replies.extend(replies)

    async def next_reply(self) -> Reply | None:
        if not self.replies:
            return None
        reply = self.replies.popleft()
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        return reply

    def reset(self) -> None:
        """An empty script, nothing received, the API key it started with."""
        self.api_key = self._initial_api_key
        self.replies.clear()
        self.requests.clear()
        self.headers.clear()


@contextmanager
def serve_in_thread(port: int = 0, *, api_key: str | None = None) -> Iterator[ModelServer]:
    """A started server, stopped on leaving."""
    server = ModelServer(port, api_key=api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()
