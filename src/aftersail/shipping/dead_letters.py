"""Tracking payloads that could not be read, kept whole: stored in the transaction of the request that
refused them (its answer is a 422, but the letter is committed), listed for an admin, and replayed through
the current parser once the cause is fixed (a code added to a mapping table, a parser corrected)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.errors import NotFound
from aftersail.kit.pagination import Page, paginate
from aftersail.shipping import service
from aftersail.shipping.models import DeadLetter
from aftersail.shipping.sources import UnreadablePayload, formats

MAX_ERROR = 2000
# Headers worth keeping beside the body (what sent it, which version, its signature); never cookies or keys.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "as-webhook-version",
        "aftership-hmac-sha256",
        "sign",
        "x-aftersail-signature",
        "x-request-id",
    }
)


def body_text(body: bytes) -> str:
    """The body as text for the `body` column: bytes that are not UTF-8 (already unreadable) and NUL, which
    PostgreSQL text cannot hold, become U+FFFD."""
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value[:500] for name, value in headers.items() if name.lower() in KEPT_HEADERS}


async def do_store(
    session: AsyncSession,
    tenant_id: int,
    *,
    source: str,
    body: str,
    error: str,
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> DeadLetter:
    letter = DeadLetter(
        tenant_id=tenant_id,
        source=source[:16],
        headers=dict(headers or {}),
        body=body,
        error=error[:MAX_ERROR],
        received_at=now or utcnow(),
        replay_result="",
    )
    session.add(letter)
    await session.flush()
    return letter


async def access_dead_letter(session: AsyncSession, tenant_id: int, letter_id: int) -> DeadLetter:
    letter = await session.get(DeadLetter, letter_id)
    if letter is None or letter.tenant_id != tenant_id:
        raise NotFound(f"Dead letter {letter_id} does not exist.", dead_letter_id=letter_id)
    return letter


async def list_dead_letters(
    session: AsyncSession,
    tenant_id: int,
    *,
    source: str | None = None,
    pending: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DeadLetter]:
    """Newest first. `pending`: only those never replayed successfully (True) or only those that were."""
    query = select(DeadLetter).where(DeadLetter.tenant_id == tenant_id)
    if source:
        query = query.where(DeadLetter.source == source)
    if pending is True:
        query = query.where(~DeadLetter.replay_result.startswith(REPLAYED))
    elif pending is False:
        query = query.where(DeadLetter.replay_result.startswith(REPLAYED))
    return await paginate(session, query, DeadLetter.id, cursor=cursor, limit=limit)


REPLAYED = "ingested"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Replayed:
    letter: DeadLetter
    ingested: service.Ingested | None  # None: still unreadable (`letter.replay_result` says why)
    error: UnreadablePayload | None = None


async def do_replay(
    session: AsyncSession, tenant_id: int, letter_id: int, *, now: datetime | None = None
) -> Replayed:
    """Read the stored body again with today's parser and ingest what it gives (idempotent as any delivery:
    replaying twice applies nothing new). The signature was checked when it arrived; it is not again."""
    letter = await access_dead_letter(session, tenant_id, letter_id)
    now = now or utcnow()
    fmt = formats().get(letter.source)
    letter.replayed_at = now
    if fmt is None:
        error = UnreadablePayload(f"source: no parser for {letter.source!r}", field="source")
        letter.replay_result = f"{FAILED}: {error.message}"[:MAX_ERROR]
        await session.flush()
        return Replayed(letter, None, error)
    try:
        updates = fmt.parse(letter.body.encode())
    except UnreadablePayload as exc:
        letter.replay_result = f"{FAILED}: {exc.message}"[:MAX_ERROR]
        await session.flush()
        return Replayed(letter, None, exc)
    ingested = await service.do_ingest(session, tenant_id, updates, now=now)
    letter.replay_result = (
        f"{REPLAYED}: {ingested.applied} applied, {ingested.duplicates} duplicates, {ingested.parked} parked"
    )
    await session.flush()
    return Replayed(letter, ingested)
