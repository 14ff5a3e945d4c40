"""Suppliers marked unreachable per bakery (Meta error 131026) and the bakeries' configured shares of the
portfolio's daily new-recipient budget: the only SQL on ``unreachable_recipients`` and ``tenant_recipient_shares``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import tenant_recipient_shares, unreachable_recipients, whatsapp_messages
from notification_service.repositories.common import dialect_name, fit_to_columns, in_values

U = unreachable_recipients
S = tenant_recipient_shares
M = whatsapp_messages


@dataclass(frozen=True, slots=True)
class Unreachable:
    tenant_id: uuid.UUID
    recipient_phone: str
    error_code: str
    error_message: str | None
    message_id: uuid.UUID | None
    failures: int
    first_marked_at: datetime
    marked_at: datetime


@dataclass(frozen=True, slots=True)
class Mark:
    """One failure that marks a supplier unreachable for a bakery."""

    tenant_id: uuid.UUID
    recipient_phone: str
    error_code: str
    error_message: str | None
    message_id: uuid.UUID | None


async def mark_unreachable(session: AsyncSession, marks: Sequence[Mark], now: datetime) -> None:
    """Insert or refresh (``marked_at`` = now, one more failure) each (tenant, recipient)."""
    if not marks:
        return
    insert = postgresql.insert(U) if dialect_name(session) == "postgresql" else sqlite.insert(U)
    unique = {(m.tenant_id, m.recipient_phone): m for m in marks}
    # one row per key, in key order (concurrent writers take the row locks in one order)
    ordered = [unique[k] for k in sorted(unique, key=lambda k: (str(k[0]), k[1]))]
    rows = [
        fit_to_columns(
            U,
            {
                "tenant_id": m.tenant_id,
                "recipient_phone": m.recipient_phone,
                "error_code": m.error_code,
                "error_message": m.error_message,
                "message_id": m.message_id,
                "failures": 1,
                "first_marked_at": now,
                "marked_at": now,
            },
        )
        for m in ordered
    ]
    stmt = insert.on_conflict_do_update(
        index_elements=["tenant_id", "recipient_phone"],
        set_={
            "error_code": insert.excluded.error_code,
            "error_message": insert.excluded.error_message,
            "message_id": insert.excluded.message_id,
            "failures": U.c.failures + 1,
            "marked_at": insert.excluded.marked_at,
        },
    )
    await session.execute(stmt, rows)


async def active_unreachable(
    session: AsyncSession, pairs: Iterable[tuple[uuid.UUID, str]], *, since: datetime | None
) -> list[Unreachable]:
    """The rows of these (tenant, recipient) pairs still in force (marked after ``since``; None: any age)."""
    pairs = set(pairs)
    if not pairs:
        return []
    query = sa.select(U).where(
        in_values(session, U.c.tenant_id, {t for t, _ in pairs}),
        in_values(session, U.c.recipient_phone, {p for _, p in pairs}),
    )
    if since is not None:
        query = query.where(U.c.marked_at > since)
    rows = (await session.execute(query)).mappings().all()
    return [_row(r) for r in rows if (r["tenant_id"], r["recipient_phone"]) in pairs]


async def list_unreachable(session: AsyncSession, tenant_id: uuid.UUID, *, since: datetime | None) -> list[Unreachable]:
    query = sa.select(U).where(U.c.tenant_id == tenant_id).order_by(U.c.marked_at.desc(), U.c.recipient_phone)
    if since is not None:
        query = query.where(U.c.marked_at > since)
    return [_row(r) for r in (await session.execute(query)).mappings()]


async def clear_unreachable(session: AsyncSession, tenant_id: uuid.UUID, recipient_phone: str) -> bool:
    result = await session.execute(
        sa.delete(U).where(U.c.tenant_id == tenant_id, U.c.recipient_phone == recipient_phone)
    )
    return bool(getattr(result, "rowcount", 0))


def _row(r: sa.RowMapping) -> Unreachable:
    return Unreachable(
        tenant_id=r["tenant_id"],
        recipient_phone=r["recipient_phone"],
        error_code=r["error_code"],
        error_message=r["error_message"],
        message_id=r["message_id"],
        failures=int(r["failures"]),
        first_marked_at=r["first_marked_at"],
        marked_at=r["marked_at"],
    )


# ---------------------------------------------------------------- shares of the daily new-recipient budget


async def configured_shares(session: AsyncSession) -> dict[uuid.UUID, int]:
    rows = await session.execute(sa.select(S.c.tenant_id, S.c.daily_new_recipients))
    return {tid: int(n) for tid, n in rows.all()}


async def set_share(
    session: AsyncSession, tenant_id: uuid.UUID, daily_new_recipients: int | None, *, actor: str, now: datetime
) -> None:
    """Configure a bakery's share (None: back to the derived share)."""
    await session.execute(sa.delete(S).where(S.c.tenant_id == tenant_id))
    if daily_new_recipients is not None:
        await session.execute(
            sa.insert(S).values(
                **fit_to_columns(
                    S,
                    {
                        "tenant_id": tenant_id,
                        "daily_new_recipients": daily_new_recipients,
                        "set_by": actor,
                        "updated_at": now,
                    },
                )
            )
        )


async def active_tenant_accounts(session: AsyncSession, *, since: datetime) -> dict[uuid.UUID, str | None]:
    """Bakeries with a purchase-order message created since ``since``, each with the account (WABA id) it sent
    from (None: none of those messages went out yet)."""
    query = (
        sa.select(M.c.tenant_id, sa.func.max(M.c.waba_id))
        .where(M.c.created_at >= since, M.c.kind == "purchase_order")
        .group_by(M.c.tenant_id)
    )
    return {row[0]: row[1] for row in (await session.execute(query)).all()}
