"""The raw limit of the chat benchmark: a bare WebSocket echo served by the same stack as `aftersail serve`
— uvicorn with the product's WebSocket implementation, its HTTP protocol and event loop, its garbage
collector settings — and nothing else: each text frame is sent straight back.

Run as its own process: `python -m benchmarks.chat_echo --port N`. `GET /stack` says what serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import re
import sys
from importlib.metadata import version

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

FALLBACK_WS = "websockets-sansio"


def product_ws_implementation() -> str:
    """The `ws=` option `aftersail serve` gives uvicorn, read from its source so that the baseline follows
    the product if it changes implementation (the options are built inside the command, not exported)."""
    from aftersail.cli import server

    found = re.search(r"""["']ws["']\s*:\s*["']([\w-]+)["']""", inspect.getsource(server.serve))
    if found is None:
        print(f"could not read `ws=` of aftersail serve; assuming {FALLBACK_WS}", file=sys.stderr)
        return FALLBACK_WS
    return found.group(1)


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
            "ws": request.app.state.ws_implementation,
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

    from aftersail.web.serving import CoalescingHttpToolsProtocol, tune_collector

    app.state.ws_implementation = ws_implementation = product_ws_implementation()
    tune_collector()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws=ws_implementation,
        http=CoalescingHttpToolsProtocol,
    )


if __name__ == "__main__":
    main()
