"""A PostgreSQL connection owned by one long-lived task of the process (the order-intake writer, the outbox
dispatcher's claims), used on the driver itself: no pool checkout per unit of work, no ORM session, and
a transaction that opens with its row-level-security scope in one round trip.

The busiest loops of the service run hundreds of short transactions a second; through the pool and the
ORM session each one cost about 1 ms of Python before its first real statement (docs/performance.md).
Everything else keeps `Database.transaction`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# Errors after which the connection is not trusted again: the next use opens a new one.
_BROKEN = (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, OSError, TimeoutError)


def driver_dsn(url: str) -> str:
    """The libpq-style address of an SQLAlchemy `postgresql+asyncpg://` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def scope_statement(tenant_id: int | None, *, system: bool, local: bool) -> str:
    """The row-level-security scope as one statement (`local`: for the rest of the transaction only).
    The tenant id is an int, so the text is safe to send without parameters."""
    tenant = "" if tenant_id is None else str(int(tenant_id))
    is_local = "true" if local else "false"
    return (
        f"SELECT set_config('aftersail.tenant_id', '{tenant}', {is_local}),"
        f" set_config('aftersail.system', '{'on' if system else 'off'}', {is_local})"
    )


class OwnedConnection:
    """One connection, opened on first use and again after it broke. Its owner's tasks take turns: one
    statement (`run`) or transaction at a time.

    `system=True` scopes the whole session to every tenant (the dispatcher's claims); otherwise
    `transaction(tenant_id=…)` sets its tenant for that transaction only, and `run(tenant_id=…)` for the
    session (its autocommitted statements) until another tenant's turn."""

    def __init__(
        self,
        url: str,
        *,
        system: bool = False,
        name: str = "aftersail",
        server_settings: dict[str, str] | None = None,
    ) -> None:
        self.dsn = driver_dsn(url)
        self.system = system
        self.name = name
        self.server_settings = {**(server_settings or {}), "application_name": name[:60]}
        self._connection: asyncpg.Connection | None = None
        self._session_tenant: int | None = None  # the tenant the session (not a transaction) is scoped to
        self._turn = asyncio.Lock()

    async def _open(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            connection = await asyncpg.connect(self.dsn, server_settings=self.server_settings)
            for codec in ("json", "jsonb"):  # results decoded; parameters given as JSON text
                await connection.set_type_codec(
                    codec, encoder=_json_text, decoder=json.loads, schema="pg_catalog"
                )
            if self.system:
                await connection.execute(scope_statement(None, system=True, local=False))
            self._connection, self._session_tenant = connection, None
        return self._connection

    @asynccontextmanager
    async def run(self, *, tenant_id: int | None = None) -> AsyncIterator[asyncpg.Connection]:
        """The connection for autocommitted statements; dropped if it broke on the way. With `tenant_id`,
        the session is scoped to that tenant first (one statement, only when the tenant changes)."""
        async with self._turn:
            connection = await self._open()
            try:
                if tenant_id is not None and self._session_tenant != tenant_id:
                    await connection.execute(scope_statement(tenant_id, system=self.system, local=False))
                    self._session_tenant = tenant_id
                yield connection
            except _BROKEN:
                await self.discard()
                raise

    @asynccontextmanager
    async def transaction(self, *, tenant_id: int | None = None) -> AsyncIterator[asyncpg.Connection]:
        """BEGIN with the tenant's scope (one round trip), COMMIT on success, ROLLBACK on error."""
        async with self._turn, self._transaction(tenant_id) as connection:
            yield connection

    @asynccontextmanager
    async def _transaction(self, tenant_id: int | None) -> AsyncIterator[asyncpg.Connection]:
        begin = "BEGIN; " + scope_statement(tenant_id, system=self.system, local=True)
        connection = await self._open()
        try:
            await connection.execute(begin)
        except _BROKEN:
            # It died while idle (a restart, an idle timeout): nothing was done yet, so a new one begins.
            await self.discard()
            connection = await self._open()
            await connection.execute(begin)
        try:
            yield connection
        except BaseException:
            await self._roll_back(connection)
            raise
        try:
            await connection.execute("COMMIT")
        except _BROKEN:
            # Whether the commit happened is unknown: the caller hears of it as an error.
            await self.discard()
            raise

    async def _roll_back(self, connection: asyncpg.Connection) -> None:
        if connection.is_closed():
            self._connection = None
            return
        try:
            await connection.execute("ROLLBACK")
        except Exception:
            log.warning("%s: rollback failed; the connection is dropped", self.name, exc_info=True)
            await self.discard()

    async def discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await connection.close(timeout=5)
            except Exception:
                connection.terminate()


def _json_text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("give json parameters as JSON text (json.dumps), as the session's driver takes them")
    return value
