"""The base of the test stand-ins for outside services (payments, translation, the model): an ASGI app served
by uvicorn on 127.0.0.1 in a daemon thread, started and stopped by the test that needs it."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp


class ThreadedServer:
    """The server on 127.0.0.1 (port 0: a free one) in a daemon thread; `url` once built."""

    what = "test"  # named when it does not start: "the payment test server did not start"

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> str:
        """Starts serving in the daemon thread (10 s at the most); returns the base URL."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.what} test server did not start")
            time.sleep(0.01)
        return self.url

    def serve_forever(self) -> None:
        """Serves in this thread until interrupted (for running a stand-in by hand)."""
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
