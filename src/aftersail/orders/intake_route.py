"""`POST /api/v1/orders` for live-stream bursts: the common request answered before the framework's
per-request work (routing through every route, dependency solving, its middleware), which cost more CPU
per order than placing the order itself (docs/performance.md).

The route stays declared in `orders/api.py`: its documentation, and every case this module does not
take. This middleware answers only a request it can answer exactly as the route would — an API key this
process knows, with the right to place orders; a JSON body of declared length within the limit that
`OrderCreate` accepts; no Idempotency-Key, or a well-formed one — through the same `answer_new_order`.
Anything else goes on to the framework with the body replayed, so errors and edge cases answer the same
either way (the API tests run both paths: a key's first request goes through the framework).
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftersail.kit.errors import DomainError
from aftersail.kit.http import domain_error_response
from aftersail.orders.api import IDEMPOTENCY_KEY_PATTERN, answer_new_order
from aftersail.orders.ingest import MAX_KEY_LENGTH
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.deps import known_api_key_caller
from aftersail.web.routes import API_PREFIX
from aftersail.web.services import Services

ORDERS_PATH = f"{API_PREFIX}/orders"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_JSON_TYPES = (b"application/json",)


class OrderIntakeRoute:
    """ASGI middleware: takes the common `POST /api/v1/orders` off the framework (see module doc)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ORDERS_PATH:
            await self.app(scope, receive, send)
            return
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
            or content_type.split(b";", 1)[0].strip().lower() not in _JSON_TYPES
            or keys > 1
        ):
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        principal = await known_api_key_caller(services, authorization.decode("latin-1"), "POST")
        if principal is None or not role_allows(principal.role, Permission.WRITE_ORDERS):
            await self.app(scope, receive, send)
            return
        body, message = await _read_body(receive)
        if message["type"] == "http.disconnect":
            return
        replay = _replaying(body, receive)
        idempotency_key = key.decode("latin-1") if keys else None
        if idempotency_key is not None and (
            len(idempotency_key) > MAX_KEY_LENGTH or not _KEY.match(idempotency_key)
        ):
            await self.app(scope, replay, send)
            return
        try:
            data = OrderCreate.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # not JSON, or not an order: the framework explains
            await self.app(scope, replay, send)
            return
        try:
            response = await answer_new_order(services, principal, data, idempotency_key)
        except DomainError as error:
            response = domain_error_response(error)
        await response(scope, receive, send)


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
