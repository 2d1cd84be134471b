"""Cursor pagination over an integer id, newest first: opaque cursors, stable under inserts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        last_id = int(value)
        if not 0 < last_id <= MAX_ID:
            raise ValueError(value)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor: not a cursor this API returned", field="cursor") from exc


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}", field="limit")
    return limit


async def paginate(
    session: AsyncSession, query: Select[Any], id_column: Any, *, cursor: str | None, limit: int
) -> Page[Any]:
    """Newest first by `id_column`; `query` selects one entity and already carries the tenant filter."""
    check_limit(limit)
    if cursor:
        query = query.where(id_column < decode_cursor(cursor))
    rows = list((await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1].id) if has_more and rows else None)
