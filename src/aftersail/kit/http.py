"""HTTP edges shared by every router: domain errors → responses in one place, request ids, body limits."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftersail.kit.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
)
from aftersail.kit.logging import request_id_var
from aftersail.kit.ratelimit import RateLimited

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Unauthenticated: 401,
    PermissionDenied: 403,
    IllegalTransition: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
    ServiceUnavailable: 503,
}


def error_body(
    code: str, message: str, fields: list[dict[str, str]] | None = None, **details: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update({k: v for k, v in details.items() if v is not None})
    return {"error": body}


def _status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """("body", "lines", 0, "quantity") → "lines.0.quantity"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def domain_error_response(exc: DomainError) -> JSONResponse:
    """A domain error as the API answers it: its status, code, message and the field it concerns."""
    status = _status_for(exc)
    field = exc.details.get("field")
    fields = [{"path": str(field), "message": exc.message}] if field else None
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429 and "retry_after" in exc.details:
        headers = {"Retry-After": str(exc.details["retry_after"])}
    details = {k: v for k, v in exc.details.items() if k != "field"}
    return JSONResponse(
        error_body(exc.code, exc.message, fields, **details), status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"path": field_path(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()
        ]
        summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields[:5])
        return JSONResponse(
            error_body("validation_error", f"Invalid request — {summary}", fields), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthenticated",
            403: "permission_denied",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` (at most 64 characters), or a new one."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id" and value:
            return value.decode("latin-1")[:64]
    return os.urandom(8).hex()


class RequestIdMiddleware:
    """Takes `X-Request-ID` from the caller (or makes one), logs with it, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413 before the route sees them.

    A declared `Content-Length` over the limit is refused at once; a streamed (chunked) body is read up to
    the limit and replayed to the app, so the route never parses a truncated body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _too_large(send, limit)
                return
            await self.app(scope, receive, send)  # the server enforces the declared length
            return
        buffered: list[Message] = []
        received = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > limit:
                await _too_large(send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    response = JSONResponse(
        error_body("payload_too_large", f"Request body is over the {limit:,}-byte limit."), status_code=413
    )
    await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
