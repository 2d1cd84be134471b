"""Domain errors. Services raise these; `kit.http` maps them to HTTP responses in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base for every error a person can act on. `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule; `field` names the offending path."""

    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class TooLarge(DomainError):
    """An upload over its limit (HTTP 413)."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    """A file of a type this place does not take (HTTP 415)."""

    code = "unsupported_media_type"


class ServiceUnavailable(DomainError):
    """An outside service this needs is down or not configured (HTTP 503); nothing was changed."""

    code = "service_unavailable"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class PermissionDenied(DomainError):
    code = "permission_denied"


class IllegalTransition(DomainError):
    code = "illegal_transition"

    def __init__(self, machine: str, current: str, target: str) -> None:
        super().__init__(
            f"{machine}: cannot move from {current!r} to {target!r}", current=current, target=target
        )
