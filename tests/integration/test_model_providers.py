"""Both model providers against a local server speaking OpenAI's and Anthropic's real wire formats."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from aftersail.assistant.providers import (
    UNKNOWN_TOOL,
    AnthropicProvider,
    ChatMessage,
    ImagePart,
    ModelProvider,
    ModelReply,
    NoModelProvider,
    OpenAICompatibleProvider,
    ProviderUnavailable,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDone,
    ToolSpec,
    build_provider,
    run_tool_loop,
)
from tests.e2e.servers import free_port
from tests.model_server import ModelServer, Reply, serve_in_thread

API_KEY = "sk-test-4f1c9a"
MODELS = {"openai": "gpt-test", "anthropic": "claude-test"}
ASK = [
    ChatMessage("system", "You answer buyers of an online shop about their orders."),
    ChatMessage("user", "Where is my parcel? Order A-1001."),
]
LOOKUP_ORDER = ToolSpec(
    "lookup_order",
    "The status of an order by its number.",
    {"type": "object", "properties": {"order_number": {"type": "string"}}, "required": ["order_number"]},
)
TRACK_PARCEL = ToolSpec(
    "track_parcel",
    "The latest tracking events of a parcel.",
    {"type": "object", "properties": {"tracking_number": {"type": "string"}}},
)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    with serve_in_thread(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(model_server: ModelServer) -> Iterator[ModelServer]:
    yield model_server
    model_server.reset()


def make_provider(
    kind: str, server: ModelServer, *, key: str = API_KEY, timeout_seconds: float = 5.0
) -> ModelProvider:
    if kind == "openai":
        url = f"{server.url}/v1"
        return OpenAICompatibleProvider(url, SecretStr(key), MODELS[kind], timeout_seconds=timeout_seconds)
    return AnthropicProvider(server.url, SecretStr(key), MODELS[kind], timeout_seconds=timeout_seconds)


@pytest.fixture(params=["openai", "anthropic"])
async def provider(request: pytest.FixtureRequest, server: ModelServer) -> AsyncIterator[ModelProvider]:
    created = make_provider(request.param, server)
    yield created
    await created.aclose()


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


async def failure_of(
    provider: ModelProvider, mode: str, messages: list[ChatMessage] = ASK
) -> ProviderUnavailable:
    """The ProviderUnavailable that `complete` or a whole `stream` ends in."""
    with pytest.raises(ProviderUnavailable) as failure:
        if mode == "complete":
            await provider.complete(messages, tools=[LOOKUP_ORDER])
        else:
            await collect(provider.stream(messages, tools=[LOOKUP_ORDER]))
    assert failure.value.message == str(failure.value)
    return failure.value


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_a_plain_completion_in_each_wire_format(provider: ModelProvider, server: ModelServer) -> None:
    server.script(Reply(text="Your parcel left the warehouse in Frankfurt today."))

    reply = await provider.complete(ASK, max_tokens=200)

    assert reply == ModelReply(
        "Your parcel left the warehouse in Frankfurt today.", (), "end", provider.name, provider.model
    )
    body, headers = server.requests[-1], server.headers[-1]
    if provider.name == "openai":
        assert headers["authorization"] == f"Bearer {API_KEY}"
        assert body == {
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": ASK[0].content},
                {"role": "user", "content": ASK[1].content},
            ],
            "max_tokens": 200,
        }
    else:
        assert (headers["x-api-key"], headers["anthropic-version"]) == (API_KEY, "2023-06-01")
        assert "authorization" not in headers
        assert body == {
            "model": "claude-test",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": [{"type": "text", "text": ASK[1].content}]}],
            "system": ASK[0].content,
        }


async def test_streamed_text_arrives_in_order_from_several_deltas(
    provider: ModelProvider, server: ModelServer
) -> None:
    text = "Ihr Paket ist unterwegs und kommt morgen an."
    server.script(Reply(text=text, pieces=4))

    events = await collect(provider.stream(ASK))

    deltas = [event.text for event in events if isinstance(event, TextDelta)]
    assert len(deltas) == 4 and "".join(deltas) == text
    assert events[-1] == StreamEnd("end", provider.name, provider.model)
    assert len(events) == 5
    assert server.requests[-1]["stream"] is True


async def test_a_tool_call_is_parsed(provider: ModelProvider, server: ModelServer) -> None:
    server.script(
        Reply(tool_calls=[("lookup_order", {"order_number": "A-1001", "note": "Paket beschädigt"})])
    )

    reply = await provider.complete(ASK, tools=[LOOKUP_ORDER])

    (call,) = reply.tool_calls
    assert (call.name, call.arguments) == (
        "lookup_order",
        {"order_number": "A-1001", "note": "Paket beschädigt"},
    )
    assert call.id and reply.stop_reason == "tool_calls" and reply.text == ""
    tools = server.requests[-1]["tools"]
    if provider.name == "openai":
        function = {
            "name": "lookup_order",
            "description": LOOKUP_ORDER.description,
            "parameters": LOOKUP_ORDER.parameters,
        }
        assert tools == [{"type": "function", "function": function}]
        assert server.requests[-1]["tool_choice"] == "auto"
    else:
        assert tools == [
            {
                "name": "lookup_order",
                "description": LOOKUP_ORDER.description,
                "input_schema": LOOKUP_ORDER.parameters,
            }
        ]


async def test_streamed_tool_calls_are_assembled_from_argument_fragments(
    provider: ModelProvider, server: ModelServer
) -> None:
    server.script(
        Reply(
            text="Let me check both.",
            tool_calls=[
                ("lookup_order", {"order_number": "A-1001", "items": ["Wasserkocher", "Toaster"]}),
                ("track_parcel", {"tracking_number": "1Z999AA10123456784"}),
            ],
            pieces=6,
        )
    )

    events = await collect(provider.stream(ASK, tools=[LOOKUP_ORDER, TRACK_PARCEL]))

    assert "".join(event.text for event in events if isinstance(event, TextDelta)) == "Let me check both."
    calls = [event.call for event in events if isinstance(event, ToolCallDone)]
    assert [(call.name, call.arguments) for call in calls] == [
        ("lookup_order", {"order_number": "A-1001", "items": ["Wasserkocher", "Toaster"]}),
        ("track_parcel", {"tracking_number": "1Z999AA10123456784"}),
    ]
    assert all(call.id for call in calls) and calls[0].id != calls[1].id
    assert events[-1] == StreamEnd("tool_calls", provider.name, provider.model)
    assert isinstance(events[-2], ToolCallDone) and isinstance(events[-3], ToolCallDone)


async def test_the_tool_loop_runs_the_tools_and_sends_their_results_back(
    provider: ModelProvider, server: ModelServer
) -> None:
    server.script(
        Reply(
            tool_calls=[
                ("lookup_order", {"order_number": "A-1001"}),
                ("track_parcel", {"tracking_number": "1Z999"}),
            ]
        ),
        Reply(text="Your order A-1001 is in transit and arrives on Friday."),
    )
    executed: list[ToolCall] = []

    async def execute(call: ToolCall) -> dict[str, Any]:
        executed.append(call)
        if call.name == "lookup_order":
            return {"status": "shipped", "warehouse": "Frankfurt 仓"}
        return {"events": ["picked up", "in transit"]}

    result = await run_tool_loop(provider, ASK, [LOOKUP_ORDER, TRACK_PARCEL], execute)

    assert result.text == "Your order A-1001 is in transit and arrives on Friday."
    assert [call.name for call in executed] == ["lookup_order", "track_parcel"]
    assert result.calls == (
        (executed[0], {"status": "shipped", "warehouse": "Frankfurt 仓"}),
        (executed[1], {"events": ["picked up", "in transit"]}),
    )
    first, second = executed
    shipped = json.dumps({"status": "shipped", "warehouse": "Frankfurt 仓"}, ensure_ascii=False)
    events = json.dumps({"events": ["picked up", "in transit"]})
    messages = server.requests[-1]["messages"]
    if provider.name == "openai":
        assert messages[-3:] == [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": first.id,
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"order_number": "A-1001"}'},
                    },
                    {
                        "id": second.id,
                        "type": "function",
                        "function": {"name": "track_parcel", "arguments": '{"tracking_number": "1Z999"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": first.id, "content": shipped},
            {"role": "tool", "tool_call_id": second.id, "content": events},
        ]
    else:
        assert messages[-2:] == [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": first.id,
                        "name": "lookup_order",
                        "input": {"order_number": "A-1001"},
                    },
                    {
                        "type": "tool_use",
                        "id": second.id,
                        "name": "track_parcel",
                        "input": {"tracking_number": "1Z999"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": first.id, "content": shipped},
                    {"type": "tool_result", "tool_use_id": second.id, "content": events},
                ],
            },
        ]


async def test_the_tool_loop_never_runs_a_tool_it_did_not_offer(
    provider: ModelProvider, server: ModelServer
) -> None:
    server.script(
        Reply(tool_calls=[("refund_order", {"order_number": "A-1001", "amount_minor": 99_999})]),
        Reply(text="An agent will look at your refund."),
    )
    executed: list[ToolCall] = []

    async def execute(call: ToolCall) -> dict[str, Any]:
        executed.append(call)
        return {"refunded": True}

    result = await run_tool_loop(provider, ASK, [LOOKUP_ORDER], execute)

    assert executed == []
    assert result.text == "An agent will look at your refund."
    ((call, answer),) = result.calls
    assert (call.name, answer) == ("refund_order", UNKNOWN_TOOL) and UNKNOWN_TOOL == {"error": "unknown_tool"}
    last = server.requests[-1]["messages"][-1]
    if provider.name == "openai":
        assert last == {"role": "tool", "tool_call_id": call.id, "content": '{"error": "unknown_tool"}'}
    else:
        result_block = {"type": "tool_result", "tool_use_id": call.id, "content": '{"error": "unknown_tool"}'}
        assert last == {"role": "user", "content": [result_block]}


async def test_the_tool_loop_gives_up_after_max_rounds(provider: ModelProvider, server: ModelServer) -> None:
    server.script(*[Reply(tool_calls=[("lookup_order", {"order_number": f"A-{n}"})]) for n in range(3)])
    executed: list[ToolCall] = []

    async def execute(call: ToolCall) -> dict[str, Any]:
        executed.append(call)
        return {"status": "unknown"}

    with pytest.raises(ProviderUnavailable, match="still asked for tools after 2 rounds") as failure:
        await run_tool_loop(provider, ASK, [LOOKUP_ORDER], execute, max_rounds=2)

    assert failure.value.reason == "bad_answer"
    assert [call.arguments["order_number"] for call in executed] == ["A-0", "A-1"]


@pytest.mark.parametrize(
    "answer", ['{"grade": "B", "resellable": true}', '```json\n{"grade": "B", "resellable": true}\n```']
)
async def test_json_output_is_asked_for_and_checked(
    provider: ModelProvider, server: ModelServer, answer: str
) -> None:
    server.script(Reply(text=answer))

    reply = await provider.complete(ASK, json_output=True)

    assert json.loads(reply.text) == {"grade": "B", "resellable": True}
    body = server.requests[-1]
    if provider.name == "openai":
        assert body["response_format"] == {"type": "json_object"}
        system = body["messages"][0]
        assert system["role"] == "system" and system["content"].startswith(ASK[0].content)
        assert "JSON object" in system["content"]
    else:
        assert "response_format" not in body
        assert body["system"].startswith(ASK[0].content) and "JSON object" in body["system"]


@pytest.mark.parametrize("answer", ["Sure! The grade is B.", '["B", true]', '{"grade": "B"'])
async def test_json_output_that_is_not_a_json_object_is_a_bad_answer(
    provider: ModelProvider, server: ModelServer, answer: str
) -> None:
    server.script(Reply(text=answer))

    with pytest.raises(ProviderUnavailable, match="was asked for a JSON object") as failure:
        await provider.complete(ASK, json_output=True)
    assert failure.value.reason == "bad_answer"


async def test_an_image_goes_in_the_wire_shape_of_each_api(
    provider: ModelProvider, server: ModelServer
) -> None:
    photo = jpeg()
    encoded = base64.b64encode(photo).decode("ascii")
    server.script(Reply(text="The box is crushed at one corner."))
    question = ChatMessage(
        "user", "Is the parcel in this photo damaged?", images=(ImagePart("image/jpeg", photo),)
    )

    reply = await provider.complete([question])

    assert reply.text == "The box is crushed at one corner."
    content = server.requests[-1]["messages"][0]["content"]
    if provider.name == "openai":
        assert content == [
            {"type": "text", "text": "Is the parcel in this photo damaged?"},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{encoded}"}},
        ]
    else:
        assert content == [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": encoded}},
            {"type": "text", "text": "Is the parcel in this photo damaged?"},
        ]


async def test_an_image_that_is_not_one_is_rejected_by_the_api(
    provider: ModelProvider, server: ModelServer
) -> None:
    question = ChatMessage("user", "Damaged?", images=(ImagePart("image/jpeg", b"%PDF-1.7 not a photo"),))
    server.script(Reply(text="never sent"))

    failure = await failure_of(provider, "complete", [question])

    assert failure.reason == "rejected"
    assert "HTTP 400" in failure.message
    assert len(server.replies) == 1


async def test_a_request_the_api_refuses_is_rejected_with_its_reason(
    provider: ModelProvider, server: ModelServer
) -> None:
    orphan = ChatMessage("tool", '{"status": "shipped"}', tool_call_id="call_never_made")

    failure = await failure_of(provider, "complete", [*ASK, orphan])

    assert failure.reason == "rejected"
    expected = (
        "must be a response to a preceeding message"
        if provider.name == "openai"
        else "unexpected `tool_use_id`"
    )
    assert expected in failure.message


async def test_a_tool_schema_that_is_not_an_object_is_rejected(
    provider: ModelProvider, server: ModelServer
) -> None:
    listing = ToolSpec("list_orders", "All orders.", {"type": "array", "items": {"type": "string"}})

    with pytest.raises(ProviderUnavailable) as failure:
        await provider.complete(ASK, tools=[listing])
    assert failure.value.reason == "rejected"


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_a_text_longer_than_max_tokens_stops_at_max_tokens(
    provider: ModelProvider, server: ModelServer, mode: str
) -> None:
    server.script(Reply(text="one two three four five six"))

    if mode == "complete":
        reply = await provider.complete(ASK, max_tokens=3)
        text, stop_reason = reply.text, reply.stop_reason
    else:
        events = await collect(provider.stream(ASK, max_tokens=3))
        text = "".join(event.text for event in events if isinstance(event, TextDelta))
        end = events[-1]
        assert isinstance(end, StreamEnd)
        stop_reason = end.stop_reason

    assert (text, stop_reason) == ("one two three", "max_tokens")


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_a_wrong_api_key_is_unauthorized(server: ModelServer, mode: str) -> None:
    server.script(Reply(text="never sent"))
    for kind in MODELS:
        wrong = make_provider(kind, server, key="sk-wrong-key-123")
        try:
            failure = await failure_of(wrong, mode)
        finally:
            await wrong.aclose()
        assert failure.reason == "unauthorized"
        assert "refused the API key" in failure.message
        assert "sk-wrong-key-123" not in failure.message
    assert len(server.replies) == 1


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize(
    ("status", "reason"), [(429, "rate_limited"), (500, "provider_error"), (529, "provider_error")]
)
async def test_http_errors_have_their_reason(
    provider: ModelProvider, server: ModelServer, mode: str, status: int, reason: str
) -> None:
    server.script(Reply(status=status))

    failure = await failure_of(provider, mode)

    assert failure.reason == reason
    if status >= 500:
        assert f"failed with HTTP {status}" in failure.message


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_a_slow_server_times_out(server: ModelServer, mode: str) -> None:
    for kind in MODELS:
        server.script(Reply(text="Too late.", delay_seconds=1.5))
        slow = make_provider(kind, server, timeout_seconds=0.3)
        started = time.monotonic()
        try:
            failure = await failure_of(slow, mode)
        finally:
            await slow.aclose()
        assert failure.reason == "timeout"
        assert "did not answer within 0.3 s" in failure.message
        assert time.monotonic() - started < 1.2


@pytest.mark.parametrize(
    ("mode", "reply"),
    [
        ("complete", Reply(garbage="<html><body>502 Bad Gateway</body></html>")),
        ("complete", Reply(garbage='{"id": "x", "object": "something else"}')),
        ("complete", Reply(garbage="[1, 2, 3]")),
        ("complete", Reply(text="Fine.", content_type="text/html")),
        ("stream", Reply(garbage="<html><body>502 Bad Gateway</body></html>")),
        ("stream", Reply(garbage='data: {"choices": [{"delta": \n\n')),
        ("stream", Reply(text="Fine.", content_type="application/json")),
    ],
)
async def test_garbage_is_a_bad_answer(
    provider: ModelProvider, server: ModelServer, mode: str, reply: Reply
) -> None:
    server.script(reply)

    assert (await failure_of(provider, mode)).reason == "bad_answer"


async def test_an_error_inside_a_started_stream_has_its_reason(
    provider: ModelProvider, server: ModelServer
) -> None:
    if provider.name == "openai":
        error = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
        server.script(Reply(garbage=f"data: {json.dumps(error)}\n\n"))
    else:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        start = {"type": "message_start", "message": {"model": "claude-test", "content": []}}
        events = [("message_start", start), ("ping", {"type": "ping"}), ("error", error)]
        server.script(Reply(garbage="".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events)))

    failure = await failure_of(provider, "stream")

    assert failure.reason == "provider_error"
    assert ("The server had an error" if provider.name == "openai" else "Overloaded") in failure.message


@pytest.mark.parametrize(
    "reply",
    [
        Reply(text="Your parcel is on its way to you.", pieces=4, truncate_after=4),
        Reply(tool_calls=[("lookup_order", {"order_number": "A-1001"})], pieces=4, truncate_after=5),
        Reply(tool_calls=[("lookup_order", {"order_number": "A-1001"})], pieces=4, truncate_after=-1),
    ],
)
async def test_a_truncated_stream_is_a_bad_answer_and_yields_no_tool_call(
    provider: ModelProvider, server: ModelServer, reply: Reply
) -> None:
    server.script(reply)
    received: list[StreamEvent] = []

    with pytest.raises(ProviderUnavailable) as failure:
        async for event in provider.stream(ASK, tools=[LOOKUP_ORDER]):
            received.append(event)

    assert failure.value.reason == "bad_answer"
    assert "ended its stream before" in failure.value.message
    assert all(isinstance(event, TextDelta) for event in received)


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("arguments", ['{"order_number": "A-1', "[1, 2]", '"A-1001"'])
async def test_tool_arguments_that_are_not_a_json_object_are_a_bad_answer(
    provider: ModelProvider, server: ModelServer, mode: str, arguments: str
) -> None:
    server.script(Reply(tool_calls=[("lookup_order", arguments)], pieces=3))

    failure = await failure_of(provider, mode)

    assert failure.reason == "bad_answer"
    assert "lookup_order" in failure.message


@pytest.mark.parametrize("mode", ["complete", "stream"])
async def test_an_unreachable_server_is_unreachable(mode: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for unreachable in (
        OpenAICompatibleProvider(f"{nowhere}/v1", None, "gpt-test", timeout_seconds=2.0),
        AnthropicProvider(nowhere, SecretStr(API_KEY), "claude-test", timeout_seconds=2.0),
    ):
        try:
            assert (await failure_of(unreachable, mode)).reason == "unreachable"
        finally:
            await unreachable.aclose()


async def test_a_local_server_without_a_key_gets_no_authorization_header(server: ModelServer) -> None:
    server.api_key = None  # like Ollama or llama.cpp
    server.script(Reply(text="Hello from a local model."))
    local = OpenAICompatibleProvider(f"{server.url}/v1/", None, "qwen2.5:7b")
    try:
        reply = await local.complete(ASK)
    finally:
        await local.aclose()

    assert (reply.text, reply.model, reply.provider) == ("Hello from a local model.", "qwen2.5:7b", "openai")
    assert "authorization" not in server.headers[-1]


async def test_anthropic_joins_system_messages_at_the_top_level(server: ModelServer) -> None:
    server.script(Reply(text="Hallo!"))
    anthropic = make_provider("anthropic", server)
    try:
        await anthropic.complete(
            [ChatMessage("system", "Be brief."), *ASK, ChatMessage("system", "Answer in German.")]
        )
    finally:
        await anthropic.aclose()

    body = server.requests[-1]
    assert body["system"] == f"Be brief.\n\n{ASK[0].content}\n\nAnswer in German."
    assert [message["role"] for message in body["messages"]] == ["user"]


async def test_build_provider_builds_each_kind_from_tenant_settings(server: ModelServer) -> None:
    openai = build_provider("openai", f"{server.url}/v1", API_KEY, "gpt-test")
    anthropic = build_provider("anthropic", server.url, SecretStr(API_KEY), "claude-test")
    server.script(Reply(text="one"), Reply(text="two"))
    try:
        assert isinstance(openai, OpenAICompatibleProvider) and isinstance(anthropic, AnthropicProvider)
        assert (await openai.complete(ASK)).text == "one"
        assert (await anthropic.complete(ASK)).text == "two"
    finally:
        await openai.aclose()
        await anthropic.aclose()


async def test_a_client_that_is_passed_in_is_used_and_left_open(server: ModelServer) -> None:
    server.script(Reply(text="one"))
    async with httpx.AsyncClient() as client:
        provider = build_provider("anthropic", server.url, API_KEY, "claude-test", client=client)
        assert (await provider.complete(ASK)).text == "one"
        await provider.aclose()

        assert not client.is_closed


def test_build_provider_refuses_an_incomplete_configuration() -> None:
    unknown: Any = "gemini"  # a tenant setting read from the database, not a literal
    with pytest.raises(ValueError, match="unknown model provider 'gemini'"):
        build_provider(unknown, "http://127.0.0.1:1", "k", "m")
    with pytest.raises(ValueError, match="needs a model name"):
        build_provider("openai", "http://127.0.0.1:1/v1", None, "")
    with pytest.raises(ValueError, match="anthropic model provider needs an API key"):
        build_provider("anthropic", "", "", "claude-test")


async def test_no_model_provider_is_not_configured() -> None:
    provider = NoModelProvider()

    for mode in ("complete", "stream"):
        failure = await failure_of(provider, mode)
        assert (failure.reason, failure.message) == ("not_configured", "no language model is configured")
    await provider.aclose()


def test_messages_refuse_parts_that_do_not_belong_to_their_role() -> None:
    photo = ImagePart("image/jpeg", b"\xff\xd8\xff")
    with pytest.raises(ValueError, match="only user messages carry images"):
        ChatMessage("assistant", "Look", images=(photo,))
    with pytest.raises(ValueError, match="only assistant messages carry tool calls"):
        ChatMessage("user", "Do it", tool_calls=(ToolCall("call_1", "lookup_order", {}),))
    with pytest.raises(ValueError, match="needs the tool_call_id"):
        ChatMessage("tool", "{}")
    with pytest.raises(ValueError, match="image media type 'image/bmp'"):
        ImagePart("image/bmp", b"BM")
