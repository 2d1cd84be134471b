"""A translation server for tests on 127.0.0.1, speaking LibreTranslate's and OpenAI's wire formats.

It translates a phrase table of after-sales sentences, answers anything else with a marked copy such as
`[de→zh] original`, validates requests as the real servers do, and can be told to fail, to be slow or to
answer garbage — from Python (`server.behaviour`) or over HTTP (`POST /_test/behaviour`).

    with serve_in_thread(api_key="k") as server:      # from a pytest fixture
        LibreTranslateTranslator(server.url, "k")      # OpenAI-compatible: f"{server.url}/v1"
    with serve_in_subprocess(api_key="k") as url:      # its own process, e.g. beside a browser test

    python -m tests.translation_server --port 5055 [--api-key K] [--chinese-code zh-Hans]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

PHRASES: tuple[dict[str, str], ...] = (
    {
        "de": "Mein Paket ist beschädigt angekommen.",
        "zh": "我的包裹到达时已损坏。",
        "en": "My parcel arrived damaged.",
        "fr": "Mon colis est arrivé endommagé.",
    },
    {
        "de": "Wir senden Ihnen sofort einen Ersatz.",
        "zh": "我们会立即为您补发。",
        "en": "We will send you a replacement right away.",
    },
    {
        "de": "Wo ist meine Bestellung?",
        "zh": "我的订单在哪里？",
        "en": "Where is my order?",
        "fr": "Où est ma commande ?",
        "es": "¿Dónde está mi pedido?",
        "ja": "注文した商品はどこですか？",
        "ar": "أين طلبي؟",
    },
    {"de": "Ich möchte mein Geld zurück.", "zh": "我想要退款。", "en": "I would like a refund."},
    {
        "de": "Bitte senden Sie uns ein Foto des Schadens.",
        "zh": "请发一张损坏的照片给我们。",
        "en": "Please send us a photo of the damage.",
    },
    {
        "zh": "非常抱歉给您带来不便。",
        "de": "Es tut uns sehr leid für die Unannehmlichkeiten.",
        "en": "We are very sorry for the inconvenience.",
        "ja": "ご不便をおかけして大変申し訳ございません。",
    },
)
ROOT = Path(__file__).resolve().parent.parent
BANNER = "translation test server on "
LANGUAGES = ("en", "zh", "es", "fr", "de", "it", "pt", "ja", "ko", "ar")
_INDEX = {" ".join(text.split()): (language, entry) for entry in PHRASES for language, text in entry.items()}


@dataclass
class Behaviour:
    """What the server does; tests change it and `reset()` puts it back."""

    api_key: str | None = None  # when set, requests without it are refused (403 / 401)
    chinese_code: str = "zh"  # newer LibreTranslate servers call it "zh-Hans" (and traditional "zt")
    fail_status: int | None = None  # answer every translation with this error status
    delay_seconds: float = 0.0  # wait this long before answering
    garbled: bool = False  # answer 200 with a body of the wrong shape
    char_limit: int = 5_000
    received: list[dict[str, Any]] = field(default_factory=list)  # request bodies, newest last

    def to_internal(self, code: str) -> str | None:
        """The server's code → ours, or None when this server does not know it."""
        if code == self.chinese_code or (code == "zt" and self.chinese_code != "zh"):
            return "zh"
        return code if code in LANGUAGES and code != "zh" else None

    def to_remote(self, code: str) -> str:
        return self.chinese_code if code == "zh" else code


def guess_language(text: str) -> str:
    """As crude as a test needs: by script, and English for any Latin text not in the phrase table."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", text):
        return "ko"
    if re.search(r"[\u0600-\u06ff]", text):
        return "ar"
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def translate_text(text: str, source: str | None, target: str) -> tuple[str, str]:
    """(translation, source language) in internal codes; source None means detect."""
    known = _INDEX.get(" ".join(text.split()))
    if known is not None and source in (None, known[0]):
        language, entry = known
        if target in entry:
            return entry[target], language
    source = source or (known[0] if known else guess_language(text))
    return (text if source == target else f"[{source}→{target}] {text}"), source


def create_app(behaviour: Behaviour) -> Starlette:
    async def misbehave(error: dict[str, Any]) -> JSONResponse | None:
        if behaviour.delay_seconds:
            await asyncio.sleep(behaviour.delay_seconds)
        if behaviour.fail_status:
            return JSONResponse(error, status_code=behaviour.fail_status)
        return None

    async def libretranslate(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "Invalid request: expected a JSON object"}, status_code=400)
        behaviour.received.append(body)
        if behaviour.api_key and body.get("api_key") != behaviour.api_key:
            return JSONResponse({"error": "Invalid API key"}, status_code=403)
        for name in ("q", "source", "target"):
            if not body.get(name):
                return JSONResponse({"error": f"Invalid request: missing {name} parameter"}, status_code=400)
        q, source_code, target_code = body["q"], body["source"], body["target"]
        if body.get("format", "text") not in ("text", "html"):
            return JSONResponse({"error": f"{body['format']} format is not supported"}, status_code=400)
        if not isinstance(q, str) or len(q) > behaviour.char_limit:
            size = len(q) if isinstance(q, str) else "?"
            message = f"Invalid request: request ({size}) exceeds text limit ({behaviour.char_limit})"
            return JSONResponse({"error": message}, status_code=400)
        source = None if source_code == "auto" else behaviour.to_internal(source_code)
        target = behaviour.to_internal(target_code)
        if source_code != "auto" and source is None:
            return JSONResponse({"error": f"{source_code} is not supported"}, status_code=400)
        if target is None:
            return JSONResponse({"error": f"{target_code} is not supported"}, status_code=400)
        failure = await misbehave({"error": "Cannot translate text: the translation engine crashed"})
        if failure is not None:
            return failure
        if behaviour.garbled:
            return JSONResponse({"translation": "wrong shape"})
        translated, detected = translate_text(q, source, target)
        answer: dict[str, Any] = {"translatedText": translated}
        if source is None:
            answer["detectedLanguage"] = {"confidence": 90.0, "language": behaviour.to_remote(detected)}
        return JSONResponse(answer)

    async def languages(request: Request) -> JSONResponse:
        codes = [behaviour.to_remote(code) for code in LANGUAGES]
        return JSONResponse([{"code": code, "name": code, "targets": codes} for code in codes])

    def openai_error(message: str, status: int, code: str | None = None) -> JSONResponse:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        return JSONResponse({"error": error}, status_code=status)

    async def chat_completions(request: Request) -> JSONResponse:
        if behaviour.api_key and request.headers.get("authorization") != f"Bearer {behaviour.api_key}":
            return openai_error("Incorrect API key provided.", 401, "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return openai_error("We could not parse the JSON body of your request.", 400)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not messages:
            return openai_error("'model' and a non-empty 'messages' list are required.", 400)
        behaviour.received.append(body)
        failure = await misbehave({"error": {"message": "The server had an error", "type": "server_error"}})
        if failure is not None:
            return failure
        if behaviour.garbled:
            return JSONResponse({"id": "chatcmpl-test", "object": "chat.completion", "choices": []})
        system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
        text = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        # Like a model reading its instructions: "from German (de) into Simplified Chinese (zh)".
        codes = re.findall(r"\(([a-z]{2})\)", system)
        content = translate_text(text, codes[0] if len(codes) > 1 else None, codes[-1])[0] if codes else text
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )

    async def set_behaviour(request: Request) -> JSONResponse:
        changes = await request.json()
        for name, value in changes.items():
            if name == "received" or name not in Behaviour.__dataclass_fields__:
                return JSONResponse({"error": f"unknown setting {name}"}, status_code=400)
            setattr(behaviour, name, value)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/translate", libretranslate, methods=["POST"]),
            Route("/languages", languages, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/_test/behaviour", set_behaviour, methods=["POST"]),
        ]
    )


class TranslationServer(ThreadedServer):
    """The server on 127.0.0.1 (port 0: a free one) in a daemon thread; `url` once started."""

    what = "translation"

    def __init__(self, port: int = 0, **behaviour: Any) -> None:
        self._initial = behaviour
        self.behaviour = Behaviour(**behaviour)
        super().__init__(create_app(self.behaviour), port)

    def reset(self) -> None:
        """Back to the behaviour it started with, with no requests received."""
        fresh = Behaviour(**self._initial)
        for spec in fields(Behaviour):
            setattr(self.behaviour, spec.name, getattr(fresh, spec.name))


@contextmanager
def serve_in_thread(port: int = 0, **behaviour: Any) -> Iterator[TranslationServer]:
    """A started server (keyword arguments set its `Behaviour`), stopped on leaving."""
    server = TranslationServer(port, **behaviour)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serve_in_subprocess(
    port: int = 0, *, api_key: str | None = None, chinese_code: str = "zh"
) -> Iterator[str]:
    """The server as its own process (`python -m tests.translation_server`); yields its base URL."""
    command = [sys.executable, "-m", "tests.translation_server", "--port", str(port)]
    command += ["--chinese-code", chinese_code] + (["--api-key", api_key] if api_key else [])
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        if not banner.startswith(BANNER):
            raise RuntimeError(f"the translation test server did not start: {banner!r}")
        url = banner.removeprefix(BANNER).strip()
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/languages", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the translation test server at {url} did not answer") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--api-key", default=None, help="refuse requests without this key")
    parser.add_argument("--chinese-code", default="zh", help='"zh" or, like newer servers, "zh-Hans"')
    args = parser.parse_args()
    server = TranslationServer(args.port, api_key=args.api_key, chinese_code=args.chinese_code)
    print(f"{BANNER}{server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
