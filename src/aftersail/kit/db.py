"""Database plumbing: the declarative base, portable column types, engines and sessions.

The request or job owns the transaction (`Database.transaction`); services only `flush()`.
On PostgreSQL every transaction also sets `aftersail.tenant_id` (or `aftersail.system`) so that
row-level security policies back up the tenant filter each query already carries.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, MetaData, String, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import JSON, TypeDecorator

from aftersail.kit.clock import as_utc, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias that autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantMixin:
    """Every tenant-owned table carries `tenant_id`; RLS policies key on it (docs/subsystems/tenancy.md).

    A table sets `tenant_index = False` when an index of its own leads with `tenant_id` or its rows are
    only ever reached through their parent (order lines through their order): a lone `tenant_id` index
    would cost every insert and serve no query (ADR 0007). `tenant_foreign_key = False` likewise drops
    the foreign key of such child rows (ADR 0009).
    """

    tenant_index: ClassVar[bool] = True
    # False on a table whose rows always belong to a parent row of the same tenant (order lines to their
    # order): deleting a tenant reaches them through the parent's cascade, and checking the tenant again
    # on every insert took a share lock on the one tenant row from every concurrent writer (ADR 0009).
    tenant_foreign_key: ClassVar[bool] = True

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        if not cls.tenant_foreign_key:
            return mapped_column(BigId, index=cls.tenant_index)
        return mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"), index=cls.tenant_index)


def Code(length: int = 64) -> String:
    return String(length)


READONLY_OPTION = "aftersail_readonly"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "isolation_level": None},
            json_serializer=lambda v: json.dumps(v, ensure_ascii=False),
        )
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_on_connect)

        # pysqlite's own transaction handling is off (isolation_level=None); begin explicitly so that
        # SAVEPOINTs work and a transaction spans every statement of a unit of work. IMMEDIATE takes the
        # write lock up front (waiting up to busy_timeout): a deferred transaction that read first and
        # writes later fails at once with "database is locked" if another writer committed in between.
        # Read-only units of work (`Database.transaction(readonly=True)`) begin deferred and never block.
        @event.listens_for(sync_engine, "begin")
        def _begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get(READONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        json_serializer=lambda v: json.dumps(v, ensure_ascii=False),
    )
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 5.0
_USED_AT = "aftersail_used_at"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    The pool's own pre-ping costs three round trips (BEGIN, a ping, ROLLBACK) on every checkout, that is
    on every transaction; a connection back from work a moment ago is known to be alive. One found dead
    is replaced by the pool (`DisconnectionError`); one that dies between two close uses fails its
    statement, and the pool then drops every connection of that generation."""
    pool_events = engine.sync_engine

    @event.listens_for(pool_events, "connect")
    def _connected(_dbapi: Any, record: Any) -> None:
        record.info[_USED_AT] = time.monotonic()

    @event.listens_for(pool_events, "checkin")
    def _returned(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info[_USED_AT] = time.monotonic()

    @event.listens_for(pool_events, "checkout")
    def _checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        used_at = record.info.get(_USED_AT)
        if used_at is not None and time.monotonic() - used_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi.ping()
        except Exception as error:
            raise DisconnectionError("connection lost while idle in the pool") from error
        record.info[_USED_AT] = time.monotonic()


class Database:
    """An engine and a session factory; `transaction()` is the unit of work of a request or job."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, echo=echo)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        # Called with the session once a transaction has committed (the realtime bus's fast path).
        self.after_commit: Callable[[AsyncSession], Awaitable[None]] | None = None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(
        self, *, tenant_id: int | None = None, system: bool = False, readonly: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction, committed on success and rolled back on error.

        `tenant_id` scopes the PostgreSQL RLS policies to one tenant; `system=True` is for the few
        cross-tenant reads that have no tenant yet (login by email, API key lookup, workers).
        On SQLite a unit of work takes the single write lock when it begins (so it never fails half-way on
        a lock); `readonly=True` begins without it, for polls and reads that must not wait on writers.
        """
        async with self.sessionmaker() as session:
            async with session.begin():
                if readonly:
                    await session.connection(execution_options={READONLY_OPTION: True})
                session.info["tenant_id"] = tenant_id
                if self.is_postgres:
                    await set_rls_context(session, tenant_id=tenant_id, system=system)
                yield session
            if self.after_commit is not None:
                await self.after_commit(session)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (PostgreSQL; the transaction has begun):
    for the few statements that run on the driver itself, inside the request's unit of work."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None and driver.is_in_transaction()
    return driver


def on_postgres(session: AsyncSession) -> bool:
    """Whether the session's database is PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT with the database's own `ON CONFLICT` clauses (PostgreSQL or SQLite)."""
    return (postgresql.insert if on_postgres(session) else sqlite.insert)(table)


RLS_CONTEXT = text(
    "SELECT set_config('aftersail.tenant_id', :tenant, true), set_config('aftersail.system', :system, true)"
)


async def set_rls_context(session: AsyncSession, *, tenant_id: int | None, system: bool) -> None:
    """Scope PostgreSQL row-level security for the rest of this transaction (SET LOCAL semantics). On the
    session's connection: every transaction starts with it, and the ORM has nothing to do with it."""
    connection = await session.connection()
    tenant = "" if tenant_id is None else str(tenant_id)
    await connection.execute(RLS_CONTEXT, {"tenant": tenant, "system": "on" if system else "off"})
