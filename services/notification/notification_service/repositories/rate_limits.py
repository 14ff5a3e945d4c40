"""Rate-limit state shared by every dispatcher process (rows locked FOR UPDATE on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.rate_gate import Counter
from notification_service.models import rate_limit_state, tenant_daily_recipients
from notification_service.repositories.common import dialect_name, insert_ignore

R = rate_limit_state
D = tenant_daily_recipients


async def ensure_keys(session: AsyncSession, keys: Iterable[str], now: datetime) -> None:
    """Create missing rows (sorted, so concurrent dispatchers take row locks in one order)."""
    rows = [{"key": k, "tat": None, "counter": 0, "updated_at": now} for k in sorted(set(keys))]
    if rows:
        await session.execute(insert_ignore(session, R, ["key"]), rows)


async def lock_key(session: AsyncSession, key: str, now: datetime) -> None:
    """Take one key's row lock for the rest of the transaction (a per-tenant mutex; on SQLite the insert
    takes the database's write lock)."""
    await ensure_keys(session, [key], now)
    await session.execute(sa.update(R).where(R.c.key == key).values(updated_at=now))


async def lock_keys(session: AsyncSession, keys: Iterable[str]) -> dict[str, Counter]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    if dialect_name(session) == "postgresql":
        rows = (await session.execute(_LOCK_KEYS_PG, {"keys": wanted})).all()
    else:
        query = sa.select(R.c.key, R.c.tat, R.c.counter).where(R.c.key.in_(wanted)).order_by(R.c.key)
        rows = (await session.execute(query)).all()
    return {row.key: Counter(key=row.key, tat=row.tat, counter=row.counter) for row in rows}


async def write_back(session: AsyncSession, counters: Iterable[Counter], now: datetime) -> None:
    changed = [c for c in counters if c.changed]
    if not changed:
        return
    conn = await session.connection()
    if dialect_name(session) == "postgresql":
        # one statement, the rows as arrays (an executemany is one execution per row on the server)
        params = {
            "keys": [c.key for c in changed],
            "tats": [c.tat for c in changed],
            "counters": [c.counter for c in changed],
            "now": now,
        }
        await conn.execute(_WRITE_BACK_PG, params)
        return
    stmt = (
        sa.update(R)
        .where(R.c.key == sa.bindparam("b_key"))
        .values(tat=sa.bindparam("b_tat"), counter=sa.bindparam("b_counter"), updated_at=now)
    )
    await conn.execute(stmt, [{"b_key": c.key, "b_tat": c.tat, "b_counter": c.counter} for c in changed])


def _write_back_pg() -> sa.Update:
    rows = (
        sa.func.unnest(
            sa.bindparam("keys", type_=postgresql.ARRAY(R.c.key.type)),
            sa.bindparam("tats", type_=postgresql.ARRAY(R.c.tat.type)),
            sa.bindparam("counters", type_=postgresql.ARRAY(R.c.counter.type)),
        )
        .table_valued(sa.column("key", R.c.key.type), sa.column("tat", R.c.tat.type), sa.column("counter"))
        .render_derived(name="v")
    )
    return (
        sa.update(R)
        .where(R.c.key == rows.c.key)
        .values(tat=rows.c.tat, counter=rows.c.counter, updated_at=sa.bindparam("now", type_=R.c.updated_at.type))
    )


_WRITE_BACK_PG = _write_back_pg()


# PostgreSQL statements built once (SQLAlchemy memoizes a statement's cache key: no construction per batch); the
# lists go as one array parameter each, so the SQL text never changes and asyncpg reuses its prepared statement
_LOCK_KEYS_PG = (
    sa.select(R.c.key, R.c.tat, R.c.counter)
    .where(R.c.key == sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(R.c.key.type))))
    .order_by(R.c.key)
    .with_for_update()
)
_KNOWN_RECIPIENTS_PG = sa.select(D.c.tenant_id, D.c.recipient_phone).where(
    D.c.day == sa.bindparam("day", type_=D.c.day.type),
    D.c.tenant_id == sa.any_(sa.bindparam("tenants", type_=postgresql.ARRAY(D.c.tenant_id.type))),
    D.c.recipient_phone == sa.any_(sa.bindparam("phones", type_=postgresql.ARRAY(D.c.recipient_phone.type))),
)


async def push_tat(session: AsyncSession, key: str, not_before: datetime, now: datetime) -> None:
    """Meta throttled us: nothing else goes out on this key before ``not_before``."""
    await ensure_keys(session, [key], now)
    await session.execute(
        sa.update(R)
        .where(R.c.key == key, sa.or_(R.c.tat.is_(None), R.c.tat < not_before))
        .values(tat=not_before, updated_at=now)
    )


async def known_recipients(
    session: AsyncSession, day: date, pairs: Sequence[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str]]:
    """Which (tenant, recipient) pairs were already counted on ``day``."""
    if not pairs:
        return set()
    tenants = {t for t, _ in pairs}
    phones = {p for _, p in pairs}
    if dialect_name(session) == "postgresql":
        params = {"day": day, "tenants": list(tenants), "phones": list(phones)}
        return {(row.tenant_id, row.recipient_phone) for row in await session.execute(_KNOWN_RECIPIENTS_PG, params)}
    rows = await session.execute(
        sa.select(D.c.tenant_id, D.c.recipient_phone).where(
            D.c.day == day, D.c.tenant_id.in_(list(tenants)), D.c.recipient_phone.in_(list(phones))
        )
    )
    return {(row.tenant_id, row.recipient_phone) for row in rows}


async def add_recipients(
    session: AsyncSession, day: date, pairs: Iterable[tuple[uuid.UUID, str]], now: datetime
) -> None:
    rows: list[dict[str, Any]] = [
        {"tenant_id": t, "day": day, "recipient_phone": p, "created_at": now} for t, p in sorted(set(pairs), key=str)
    ]
    if rows:
        await session.execute(insert_ignore(session, D, ["tenant_id", "day", "recipient_phone"]), rows)


async def cleanup(session: AsyncSession, *, older_than: datetime, day_before: date) -> None:
    """Forget pacing rows long past and daily recipient lists of previous days."""
    await session.execute(sa.delete(R).where(R.c.key.like("pair:%"), R.c.tat < older_than))
    await session.execute(sa.delete(R).where(R.c.key.like("cap:%"), R.c.updated_at < older_than))
    await session.execute(sa.delete(D).where(D.c.day < day_before))


async def recipients_counted(session: AsyncSession, day: date, tenant_id: uuid.UUID | None) -> dict[uuid.UUID, int]:
    """New recipients the rate gate counted against each bakery's share on ``day``."""
    query = sa.select(D.c.tenant_id, sa.func.count()).where(D.c.day == day).group_by(D.c.tenant_id)
    if tenant_id is not None:
        query = query.where(D.c.tenant_id == tenant_id)
    return {tid: int(n) for tid, n in (await session.execute(query)).all()}
