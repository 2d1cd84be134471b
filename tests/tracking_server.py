"""A tracking server for tests on 127.0.0.1 speaking 17TRACK's pull API (`POST /track/v2.2/gettrackinfo`).

It checks the `17token` header (401 with 17TRACK's error envelope otherwise), takes a JSON list of at most 40
`{"number": …}` objects, and answers `{"code": 0, "data": {"accepted": [...], "rejected": [...]}}`: numbers it
was given events for come back in `accepted` with their `track_info`, the others in `rejected` (error
-18019909, as for a number 17TRACK has no information about).

    with serve_in_thread(api_key="17-test-key") as server:
        server.track("JD0146…", [event, …])      # events as 17TRACK writes them (newest first)
        server.raw_answer = {...}                # answer this document instead, once
        server.fail_next(1)                      # the next request: 500
        server.requests                          # the numbers asked, request by request

    python -m tests.tracking_server --port 12117 --api-key 17-local
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.threaded_server import ThreadedServer
from tests.tracking_payloads import seventeen_tracking

MAX_NUMBERS = 40


class TrackingServer(ThreadedServer):
    what = "tracking"

    def __init__(self, api_key: str, port: int = 0) -> None:
        self.api_key = api_key
        self.tracked: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[list[str]] = []
        self.raw_answer: dict[str, Any] | None = None
        self._failures = 0
        app = Starlette(routes=[Route("/track/v2.2/gettrackinfo", self._gettrackinfo, methods=["POST"])])
        super().__init__(app, port)

    def track(self, number: str, events: list[dict[str, Any]]) -> None:
        self.tracked[number] = events

    def fail_next(self, count: int = 1) -> None:
        self._failures = count

    def reset(self) -> None:
        self.tracked.clear()
        self.requests.clear()
        self.raw_answer = None
        self._failures = 0

    async def _gettrackinfo(self, request: Request) -> JSONResponse:
        if request.headers.get("17token") != self.api_key:
            return JSONResponse(
                {
                    "code": 401,
                    "data": {"errors": [{"code": -18010002, "message": "Access token is invalid."}]},
                },
                status_code=401,
            )
        if self._failures:
            self._failures -= 1
            return JSONResponse({"code": -18010003, "data": {}}, status_code=500)
        try:
            asked = await request.json()
        except ValueError:
            return JSONResponse({"code": -18010012, "data": {}}, status_code=400)
        if not isinstance(asked, list) or not 1 <= len(asked) <= MAX_NUMBERS:
            return JSONResponse(
                {"code": 0, "data": {"errors": [{"code": -18010013, "message": "1 to 40 numbers."}]}}
            )
        numbers = [str(item.get("number", "")) for item in asked if isinstance(item, dict)]
        self.requests.append(numbers)
        if self.raw_answer is not None:
            answer, self.raw_answer = self.raw_answer, None
            return JSONResponse(answer)
        accepted = [seventeen_tracking(n, self.tracked[n]) for n in numbers if n in self.tracked]
        rejected = [
            {"number": n, "error": {"code": -18019909, "message": "No tracking information at this time."}}
            for n in numbers
            if n not in self.tracked
        ]
        return JSONResponse({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})


@contextmanager
def serve_in_thread(api_key: str = "17-test-key") -> Iterator[TrackingServer]:
    server = TrackingServer(api_key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=12117)
    parser.add_argument("--api-key", default="17-local")
    options = parser.parse_args()
    TrackingServer(options.api_key, options.port).serve_forever()
