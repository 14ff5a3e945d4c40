"""Dialect helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from notification_service.domain.webhook_payload import clean_text


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_ignore(session: AsyncSession, table: sa.Table, index_elements: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (...) DO NOTHING`` for PostgreSQL and SQLite."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


async def ping(session: AsyncSession) -> None:
    """One round trip to the database (raises when it is unreachable)."""
    await session.execute(sa.text("SELECT 1"))


async def try_advisory_lock(conn: AsyncConnection, key: int) -> bool:
    """PostgreSQL session-level advisory lock: True when this connection got it (never waits)."""
    return bool((await conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())


async def advisory_unlock(conn: AsyncConnection, key: int) -> None:
    await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def fit_to_columns(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """String values cut to their column's length (and cleaned of NUL / lone surrogates, which PostgreSQL refuses)."""
    fitted: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            length = getattr(table.c[key].type, "length", None)
            value = clean_text(value, length if isinstance(length, int) else None)
        fitted[key] = value
    return fitted


def in_values(session: AsyncSession, column: sa.ColumnElement[Any], values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)``. PostgreSQL: ``column = ANY(:array)``, one parameter whatever the number of values,
    so the SQL text stays the same from call to call and asyncpg reuses its prepared statement (an IN list renders
    one placeholder per value: every new length was a new statement to prepare, one more round trip)."""
    if dialect_name(session) == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))
