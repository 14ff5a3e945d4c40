"""Dialect helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


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
