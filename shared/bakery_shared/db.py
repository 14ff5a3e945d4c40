"""Async SQLAlchemy 2 helpers for the embedded SQLite default and PostgreSQL."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

#: JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # the common case first (the dispatcher binds thousands a second)
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UUIDStr(TypeDecorator[uuid.UUID]):
    """UUIDs stored as 36-character strings on every database (portable, readable in SQL)."""

    impl = String(36)
    cache_ok = True

    def process_bind_param(self, value: uuid.UUID | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if type(value) is uuid.UUID:  # already a UUID: its text is canonical
            return str(value)
        return str(uuid.UUID(str(value)))

    def process_result_value(self, value: str | None, dialect: Dialect) -> uuid.UUID | None:
        return None if value is None else uuid.UUID(value)


def fit(value: str, column: Any) -> str:
    """``value`` cut to the length of a ``String(n)`` column (an actor name must never make a write fail)."""
    length = getattr(column.type, "length", None)
    return value[:length] if length else value


def make_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for services that want one; each service may also use its own metadata."""

    metadata = make_metadata()


#: Connection execution option that makes the SQLite ``begin`` event take the write lock (``BEGIN IMMEDIATE``).
WRITE_TRANSACTION = "bakery_write_transaction"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


#: ``SQL_STATEMENT_COUNTER=1``: count every statement this process sends (benchmarks, ``make bench``).
SQL_STATEMENT_COUNTS: dict[str, int] = {"statements": 0, "executemany": 0}


def _count_statements(engine: AsyncEngine) -> None:
    if os.environ.get("SQL_STATEMENT_COUNTER", "") in ("", "0", "false"):
        return

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        SQL_STATEMENT_COUNTS["statements"] += 1
        SQL_STATEMENT_COUNTS["executemany"] += int(executemany)

    if not SQL_STATEMENT_COUNTS.get("_registered"):
        SQL_STATEMENT_COUNTS["_registered"] = 1
        atexit.register(_report_statements)


def report_statement_counts() -> None:
    """Write this process's statement count now (a server's shutdown; uvicorn re-raises SIGTERM after its
    lifespan ends, so ``atexit`` never runs there). No-op unless ``SQL_STATEMENT_COUNTER`` is on."""
    if SQL_STATEMENT_COUNTS.get("_registered"):
        _report_statements()


def _report_statements() -> None:
    totals = {k: v for k, v in SQL_STATEMENT_COUNTS.items() if not k.startswith("_")}
    logging.getLogger("bakery.sql").warning("SQL statements sent by pid %s: %s", os.getpid(), totals)
    directory = os.environ.get("SQL_STATEMENT_COUNTER_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{os.getpid()}.json").write_text(json.dumps({"pid": os.getpid(), **totals}))


def create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, ping_after_idle: float | None = None, **kwargs: Any
) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, foreign keys and a busy timeout.

    PostgreSQL connections are pinged before every check-out (``pool_pre_ping``: one round trip per transaction),
    unless ``ping_after_idle`` is given: then only a connection that sat unused in the pool for that many seconds
    is pinged (a busy loop that checks connections out many times a second pays nothing; a connection left idle,
    e.g. across a database restart, is still tested and replaced before use). A connection that breaks in between
    fails its statement; SQLAlchemy then drops the pool's older connections (the caller's retry gets new ones).
    """
    engine = _create_engine(url, echo=echo, pool_size=pool_size, ping_after_idle=ping_after_idle, **kwargs)
    _count_statements(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine, seconds: float) -> None:
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["bakery_idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("bakery_idle_since")
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return  # brand new, or back in the pool moments ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool discards it and connects again
            raise DisconnectionError(f"stale pooled connection: {type(exc).__name__}") from exc
        if not alive:
            raise DisconnectionError("stale pooled connection")


#: Prepared statements each pooled PostgreSQL connection keeps (SQLAlchemy's asyncpg LRU: it prunes back to this
#: number once it holds 1.5 times as many). SQLAlchemy's default, 100 (150 before a prune), held 2.5-3.5 times what
#: the hot paths use: the notification API's soak census found 41 distinct statements, and each connection's cache
#: filled the rest with single-use texts (a multi-row INSERT for each row count, ~1-2.5 KB of SQL each): 100-150
#: statements and 200-390 KB of SQL text per connection, paid again by every connection the pool opens, so the
#: memory grew long after the warm-up. 64 keeps the hot statements with room to spare and is full within seconds.
PREPARED_STATEMENTS_PER_CONNECTION = 64


def _create_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, ping_after_idle: float | None = None, **kwargs: Any
) -> AsyncEngine:
    ensure_sqlite_directory(url)
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # pysqlite/aiosqlite sends no BEGIN before a SELECT, so a read-then-write unit of work reads outside
            # any transaction and writes back what another writer may have changed meanwhile (a lost update).
            # Write transactions therefore take SQLite's write lock up front; the driver then sees a transaction
            # in progress and commits or rolls it back as usual.
            if conn.get_execution_options().get(WRITE_TRANSACTION):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs["connect_args"] = {"prepared_statement_cache_size": PREPARED_STATEMENTS_PER_CONNECTION} | kwargs.get(
        "connect_args", {}
    )
    engine = create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=ping_after_idle is None, **kwargs
    )
    if ping_after_idle is not None:
        _ping_after_idle(engine, ping_after_idle)
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


#: SQLite engine → the in-process queue for its single write lock (see :func:`transaction`).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()
#: How long a write transaction queues in-process before it goes to SQLite's own busy wait anyway.
_SQLITE_QUEUE_SECONDS = 30.0


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back on any error.

    On SQLite it starts with ``BEGIN IMMEDIATE`` (the database's single write lock, waited for up to the busy
    timeout), so that what the block reads cannot change before it writes; the write transactions of one process
    queue for it on an asyncio lock first (SQLite's busy handler would otherwise sleep in the driver's thread, up
    to 100 ms a try, while the lock is free again). On PostgreSQL row locks (``FOR UPDATE``) do that job.
    """
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        async with factory() as session, session.begin():
            yield session
        return
    lock = _SQLITE_WRITERS.setdefault(bind.sync_engine, asyncio.Lock())
    queued = False
    try:
        await asyncio.wait_for(lock.acquire(), timeout=_SQLITE_QUEUE_SECONDS)
        queued = True
    except TimeoutError:
        logging.getLogger("bakery.db").warning(
            "SQLite write transaction waited %ss in-process; going to the database's busy wait", _SQLITE_QUEUE_SECONDS
        )
    try:
        async with factory() as session, session.begin():
            await session.connection(execution_options={WRITE_TRANSACTION: True})
            yield session
    finally:
        if queued:
            lock.release()
