"""`POST /api/v1/orders` for live-stream bursts: the common request answered before the framework's
per-request work (its middleware stack, routing through every route, dependency solving, the response
classes), which cost more CPU per order than placing the order itself (docs/performance.md).

The route stays declared in `orders/api.py`: its documentation, and every case this module does not
take. `AfterSailApp` (app.py) hands this handler the requests for that path; it answers only a request it
can answer exactly as the route would — an API key this process knows, with the right to place orders;
a JSON body of declared length within the limit that `OrderCreate` accepts; no Idempotency-Key, or a
well-formed one — through the same `answer_new_order`. Anything else goes on to the framework with the
body replayed, so errors and edge cases answer the same either way (the API tests run both paths: a
key's first request goes through the framework). It does what the middleware it skips would do for
such a request: the request id, a 500 for an unexpected error.
"""

from __future__ import annotations

import logging
import re

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftersail.kit.errors import DomainError
from aftersail.kit.http import domain_error_response, request_id_of
from aftersail.kit.logging import request_id_var
from aftersail.orders.api import IDEMPOTENCY_KEY_PATTERN, OrderAnswer, answer_new_order
from aftersail.orders.ingest import MAX_KEY_LENGTH
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.deps import known_api_key_caller
from aftersail.web.routes import API_PREFIX
from aftersail.web.services import Services

log = logging.getLogger(__name__)

ORDERS_PATH = f"{API_PREFIX}/orders"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_JSON = b"application/json"


def takes(scope: Scope) -> bool:
    """Whether the request is one for this handler to look at."""
    return scope["type"] == "http" and scope["path"] == ORDERS_PATH and scope["method"] == "POST"


class OrderIntakeRoute:
    """The handler (see the module doc); `framework` answers whatever it does not take."""

    def __init__(self, framework: ASGIApp, services: Services, max_body_bytes: int) -> None:
        self.framework = framework
        self.services = services
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = content_type = length = key = b""
        keys = 0
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"idempotency-key":
                key, keys = value, keys + 1
        if (
            not length.isdigit()
            or int(length) > self.max_body_bytes
            or content_type.split(b";", 1)[0].strip().lower() != _JSON
            or keys > 1
        ):
            await self.framework(scope, receive, send)
            return
        principal = await known_api_key_caller(self.services, authorization.decode("latin-1"), "POST")
        if principal is None or not role_allows(principal.role, Permission.WRITE_ORDERS):
            await self.framework(scope, receive, send)
            return
        body, message = await _read_body(receive)
        if message["type"] == "http.disconnect":
            return
        replay = _replaying(body, receive)
        idempotency_key = key.decode("latin-1") if keys else None
        if idempotency_key is not None and (
            len(idempotency_key) > MAX_KEY_LENGTH or not _KEY.match(idempotency_key)
        ):
            await self.framework(scope, replay, send)
            return
        try:
            data = OrderCreate.model_validate_json(body)
        except (ValueError, ValidationError):  # not JSON, or not an order: the framework explains
            await self.framework(scope, replay, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        try:
            answer = await answer_new_order(self.services, principal, data, idempotency_key)
        except DomainError as error:
            response = domain_error_response(error)
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            return
        except Exception:
            log.exception("POST %s failed", ORDERS_PATH)  # as the framework's last resort answers
            await _send(send, _FAILED, request_id, b"text/plain; charset=utf-8")
            return
        finally:
            request_id_var.reset(token)
        await _send(send, answer, request_id)


_FAILED = OrderAnswer(500, b"Internal Server Error", {})


async def _send(send: Send, answer: OrderAnswer, request_id: str, content_type: bytes = _JSON) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(answer.body)).encode()),
        (b"x-request-id", request_id.encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _read_body(receive: Receive) -> tuple[bytes, Message]:
    """The whole body (the server holds it to the declared length), and the last message received."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), message


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the framework: the body already read, then whatever the server sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
