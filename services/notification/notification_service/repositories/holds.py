"""Sending holds keyed by scope (``account`` / ``phone_number``) and kind (``credential``; issue 5: ``quality``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.decisions import hold_key
from notification_service.models import sending_holds
from notification_service.repositories import messages as messages_repo
from notification_service.repositories.common import insert_ignore

H = sending_holds


async def active_holds(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(sa.select(H).order_by(H.c.created_at))
    return [dict(r) for r in rows.mappings()]


async def active_hold_reasons(session: AsyncSession) -> dict[str, str]:
    """hold key (``account:master``, ``phone_number:<id>``) → reason of the oldest hold on it."""
    reasons: dict[str, str] = {}
    for row in await active_holds(session):
        reasons.setdefault(hold_key(row["scope"], row["scope_key"]), row["reason"])
    return reasons


async def place_hold(
    session: AsyncSession,
    *,
    scope: str,
    scope_key: str,
    kind: str,
    reason: str,
    error_code: str | None,
    probe_phone_number_id: str | None,
    now: datetime,
    next_probe_at: datetime | None,
) -> None:
    """Create the hold, or refresh its reason when it already exists (idempotent across dispatchers)."""
    await session.execute(
        insert_ignore(session, H, ["scope", "scope_key", "kind"]).values(
            id=str(uuid.uuid4()),
            scope=scope,
            scope_key=scope_key,
            kind=kind,
            reason=reason,
            error_code=error_code,
            probe_phone_number_id=probe_phone_number_id,
            probe_failures=0,
            next_probe_at=next_probe_at,
            created_at=now,
            updated_at=now,
        )
    )
    await session.execute(
        sa.update(H)
        .where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind)
        .values(reason=reason, error_code=error_code, updated_at=now)
    )


async def due_probes(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    rows = await session.execute(sa.select(H).where(H.c.next_probe_at.is_not(None), H.c.next_probe_at <= now))
    return [dict(r) for r in rows.mappings()]


async def postpone_probe(
    session: AsyncSession,
    hold_id: uuid.UUID,
    *,
    failures: int,
    next_probe_at: datetime,
    now: datetime,
    reason: str | None = None,
) -> None:
    values: dict[str, Any] = {"probe_failures": failures, "next_probe_at": next_probe_at, "updated_at": now}
    if reason:
        values["reason"] = reason
    await session.execute(sa.update(H).where(H.c.id == hold_id).values(**values))


async def release_hold(session: AsyncSession, *, scope: str, scope_key: str, kind: str, now: datetime) -> int:
    """Lift a hold; when no other hold remains on that scope, its held messages are queued again.

    Returns the number of messages re-queued.
    """
    await session.execute(sa.delete(H).where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind))
    remaining = (
        await session.execute(sa.select(sa.func.count()).where(H.c.scope == scope, H.c.scope_key == scope_key))
    ).scalar_one()
    if remaining:
        return 0
    return await messages_repo.requeue_held(session, hold_key(scope, scope_key), now)
