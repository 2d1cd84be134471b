"""The raw limit of the chat benchmark: a bare WebSocket echo served by the same stack as `aftersail serve`
— uvicorn with the product's protocol options (`serving.PROTOCOL_OPTIONS`: WebSocket implementation,
compression, HTTP protocol), its event loop and garbage collector settings — and nothing else: each text
frame is sent straight back.

Run as its own process: `python -m benchmarks.chat_echo --port N`. `GET /stack` says what serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.metadata import version

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from aftersail.web.serving import PROTOCOL_OPTIONS, tune_collector


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return


async def stack(request: Request) -> JSONResponse:
    loop = type(asyncio.get_running_loop())
    return JSONResponse(
        {
            "uvicorn": version("uvicorn"),
            "ws": PROTOCOL_OPTIONS["ws"],
            "deflate": PROTOCOL_OPTIONS["ws_per_message_deflate"],
            "websockets": version("websockets"),
            "starlette": version("starlette"),
            "loop": f"{loop.__module__}.{loop.__qualname__}",
            "python": sys.version.split()[0],
        }
    )


async def ready(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[WebSocketRoute("/echo", echo), Route("/stack", stack), Route("/readyz", ready)],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    import uvicorn

    tune_collector()
    options = {"log_config": None, "access_log": False, "lifespan": "off", **PROTOCOL_OPTIONS}
    uvicorn.run(app, host=args.host, port=args.port, **options)


if __name__ == "__main__":
    main()
