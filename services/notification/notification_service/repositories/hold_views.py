"""Read-only views of the sending holds, for the admin pages, readiness, the gauges and the state service.

Placing, probing and releasing holds (the writes) live in :mod:`notification_service.repositories.holds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.decisions import PHONE_NUMBER_SCOPE
from notification_service.models import sending_holds

H = sending_holds


@dataclass(frozen=True, slots=True)
class HoldView:
    scope: str
    scope_key: str
    kind: str
    reason: str
    error_code: str | None
    created_at: datetime
    next_probe_at: datetime | None


async def list_holds(session: AsyncSession) -> list[HoldView]:
    """Every active hold, oldest first."""
    rows = await session.execute(
        sa.select(
            H.c.scope, H.c.scope_key, H.c.kind, H.c.reason, H.c.error_code, H.c.created_at, H.c.next_probe_at
        ).order_by(H.c.created_at)
    )
    return [HoldView(**r) for r in rows.mappings()]


async def hold_kinds(session: AsyncSession, scope: str, scope_key: str) -> list[str]:
    """The kinds of the holds on one scope (``phone_number`` + number id, or ``account`` + ``master``)."""
    rows = await session.execute(sa.select(H.c.kind).where(H.c.scope == scope, H.c.scope_key == scope_key))
    return sorted(str(r[0]) for r in rows.all())


async def hold_exists(session: AsyncSession, scope: str, scope_key: str, kind: str) -> bool:
    row = (
        await session.execute(
            sa.select(H.c.id).where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind).limit(1)
        )
    ).first()
    return row is not None


async def count_held_numbers(session: AsyncSession) -> int:
    """Phone numbers with at least one hold."""
    count = (
        await session.execute(
            sa.select(sa.func.count(sa.distinct(H.c.scope_key))).where(H.c.scope == PHONE_NUMBER_SCOPE)
        )
    ).scalar_one()
    return int(count)
