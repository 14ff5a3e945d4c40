"""Sending holds keyed by scope (``account`` / ``phone_number`` / ``template``) and kind (``credential``,
``restricted``, ``quality``, ``account_update``, ``template``): the only SQL on ``sending_holds``. Releasing a
hold's messages is ``services/holds.py``'s."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.decisions import PHONE_NUMBER_SCOPE, hold_key
from notification_service.models import sending_holds
from notification_service.repositories.common import insert_ignore

H = sending_holds


@dataclass(frozen=True, slots=True)
class Hold:
    id: uuid.UUID
    scope: str
    scope_key: str
    kind: str
    reason: str
    error_code: str | None
    probe_phone_number_id: str | None
    probe_failures: int
    next_probe_at: datetime | None
    probe_message_id: uuid.UUID | None
    created_at: datetime
    #: the account of the number (or the account) held (migration 0012, issue 18); None: unknown / older holds
    waba_id: str | None = None

    @property
    def key(self) -> str:
        return hold_key(self.scope, self.scope_key)

    @classmethod
    def from_row(cls, row: Any) -> Hold:
        return cls(
            id=row["id"],
            scope=row["scope"],
            scope_key=row["scope_key"],
            kind=row["kind"],
            reason=row["reason"],
            error_code=row["error_code"],
            probe_phone_number_id=row["probe_phone_number_id"],
            probe_failures=int(row["probe_failures"]),
            next_probe_at=row["next_probe_at"],
            probe_message_id=row["probe_message_id"],
            created_at=row["created_at"],
            waba_id=row.get("waba_id"),
        )


async def holds(session: AsyncSession) -> list[Hold]:
    """Every active hold, oldest first."""
    rows = await session.execute(_ALL_HOLDS)
    return [Hold.from_row(r) for r in rows.mappings()]


_ALL_HOLDS = sa.select(H).order_by(H.c.created_at)  # built once: read by every batch


async def hold_kinds(session: AsyncSession, scope: str, scope_key: str) -> list[str]:
    """The kinds of the holds on one scope (``phone_number`` + number id, or ``account`` + ``master``)."""
    rows = await session.execute(sa.select(H.c.kind).where(H.c.scope == scope, H.c.scope_key == scope_key))
    return sorted(str(r[0]) for r in rows.all())


async def hold_exists(session: AsyncSession, scope: str, scope_key: str, kind: str) -> bool:
    query = sa.select(H.c.id).where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind).limit(1)
    return (await session.execute(query)).first() is not None


async def count_held_numbers(session: AsyncSession) -> int:
    """Phone numbers with at least one hold."""
    query = sa.select(sa.func.count(sa.distinct(H.c.scope_key))).where(H.c.scope == PHONE_NUMBER_SCOPE)
    return int((await session.execute(query)).scalar_one())


async def find(session: AsyncSession, *, scope: str, scope_key: str, kind: str) -> Hold | None:
    query = sa.select(H).where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind)
    row = (await session.execute(query)).mappings().first()
    return Hold.from_row(row) if row else None


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
    waba_id: str | None = None,
) -> bool:
    """Create the hold, or refresh its reason when it already exists (idempotent across dispatchers).

    Returns True when this call created it."""
    result = await session.execute(
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
            waba_id=waba_id,
        )
    )
    created = bool(getattr(result, "rowcount", 0))
    if not created:
        await session.execute(
            sa.update(H)
            .where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind)
            .values(reason=reason, error_code=error_code, updated_at=now)
        )
    return created


async def due_probes(session: AsyncSession, now: datetime) -> list[Hold]:
    rows = await session.execute(sa.select(H).where(H.c.next_probe_at.is_not(None), H.c.next_probe_at <= now))
    return [Hold.from_row(r) for r in rows.mappings()]


async def schedule_probe(
    session: AsyncSession,
    hold_id: uuid.UUID,
    *,
    failures: int,
    next_probe_at: datetime | None,
    now: datetime,
    reason: str | None = None,
    probe_message_id: uuid.UUID | None = None,
) -> None:
    """Record a probe cycle: how many failed so far, when the next one is due (None: no more automatic probes),
    and the message sent as the probe (None: none in flight)."""
    values: dict[str, Any] = {
        "probe_failures": failures,
        "next_probe_at": next_probe_at,
        "probe_message_id": probe_message_id,
        "updated_at": now,
    }
    if reason:
        values["reason"] = reason[:500]
    await session.execute(sa.update(H).where(H.c.id == hold_id).values(**values))


async def delete_hold(session: AsyncSession, *, scope: str, scope_key: str, kind: str) -> int:
    """Remove a hold; returns how many holds remain on that scope."""
    await session.execute(sa.delete(H).where(H.c.scope == scope, H.c.scope_key == scope_key, H.c.kind == kind))
    remaining = (
        await session.execute(sa.select(sa.func.count()).where(H.c.scope == scope, H.c.scope_key == scope_key))
    ).scalar_one()
    return int(remaining)
