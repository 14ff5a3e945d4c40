"""The outbox of events for the platform (issue 16): the only SQL on ``outbound_events``."""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.db import fit
from notification_service.domain.outbound_events import AMQP, DESTINATIONS, HTTP, OutboundEvent
from notification_service.models import outbound_events
from notification_service.repositories.common import dialect_name, in_values

E = outbound_events

#: a destination's delivery state on an event row
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"  # gave up after the retries: an admin re-drives it
OFF = "off"  # the destination was not configured when the event was stored
STATUSES = (PENDING, DELIVERED, DEAD, OFF)
#: first key of the two-key advisory locks taken per ordering key (see :func:`insert`)
_ORDERING_LOCKS = 0x0B0E


async def insert(
    session: AsyncSession, event: OutboundEvent, *, destinations: frozenset[str], now: datetime
) -> uuid.UUID:
    """Store ``event`` for ``destinations`` (in the caller's transaction); its id.

    PostgreSQL: a transaction-scoped advisory lock on the event's ordering key first, so two transactions storing
    events of one purchase order take their ``seq`` one after the other and commit in that order (without it the
    later ``seq`` could commit first and be delivered before the earlier one appears)."""
    event_id = event.id or uuid.uuid4()
    if dialect_name(session) == "postgresql":
        crc = zlib.crc32(event.ordering_key.encode("utf-8"))
        key = crc - (1 << 32) if crc >= 1 << 31 else crc  # the int4 the two-key lock takes
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _ORDERING_LOCKS, "key": key})
    await session.execute(
        sa.insert(E).values(
            id=event_id,
            name=event.name,
            tenant_id=event.tenant_id,
            ordering_key=event.ordering_key,
            payload=event.body(event_id),
            occurred_at=event.occurred_at,
            created_at=now,
            http_status=PENDING if HTTP in destinations else OFF,
            http_attempts=0,
            http_next_at=now if HTTP in destinations else None,
            amqp_status=PENDING if AMQP in destinations else OFF,
            amqp_attempts=0,
            amqp_next_at=now if AMQP in destinations else None,
        )
    )
    return event_id


# ---------------------------------------------------------------- delivery (outbound/worker.py)


@dataclass(frozen=True, slots=True)
class Columns:
    """One destination's delivery columns on ``table``."""

    status: sa.Column[Any]
    attempts: sa.Column[Any]
    next_at: sa.Column[Any]
    last_error: sa.Column[Any]
    delivered_at: sa.Column[Any]


def columns(destination: str, table: Any = E) -> Columns:
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown destination {destination!r}")
    c = table.c
    return Columns(
        c[f"{destination}_status"],
        c[f"{destination}_attempts"],
        c[f"{destination}_next_at"],
        c[f"{destination}_last_error"],
        c[f"{destination}_delivered_at"],
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """An event leased for one attempt at one destination; ``attempt`` (1-based) fences the outcome's write."""

    id: uuid.UUID
    seq: int
    name: str
    payload: dict[str, Any]
    attempt: int


async def claim_due(
    session: AsyncSession, destination: str, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` events due at ``destination``, each the first of its ordering key not yet delivered
    there (an earlier event still pending, in flight or dead blocks the later ones, so order per purchase order
    holds). The lease is the ``next_at`` pushed to ``lease_until`` and the attempt counted now: a process that dies
    mid-delivery leaves the event due again when the lease ends.

    PostgreSQL: candidates locked ``FOR UPDATE SKIP LOCKED`` (several processes claim disjoint events; a locked
    head also blocks its key, through the NOT EXISTS, since it is still pending). SQLite: one process, the UPDATE
    re-checks that each candidate is still due."""
    c = columns(destination)
    earlier = E.alias("earlier")
    ec = columns(destination, earlier)
    blocked = (
        sa.select(earlier.c.seq)
        .where(earlier.c.ordering_key == E.c.ordering_key, earlier.c.seq < E.c.seq, ec.status.in_((PENDING, DEAD)))
        .exists()
    )
    candidates = (
        sa.select(E.c.seq).where(c.status == PENDING, c.next_at <= now, ~blocked).order_by(E.c.seq).limit(limit)
    )
    if dialect_name(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=E)
    seqs = list((await session.execute(candidates)).scalars())
    if not seqs:
        return []
    stmt = (
        sa.update(E)
        .where(in_values(session, E.c.seq, seqs), c.status == PENDING, c.next_at <= now)
        .values({c.attempts: c.attempts + 1, c.next_at: lease_until})
        .returning(E.c.id, E.c.seq, E.c.name, E.c.payload, c.attempts)
    )
    rows = (await session.execute(stmt)).all()
    return sorted(
        (Claimed(id=r[0], seq=int(r[1]), name=str(r[2]), payload=dict(r[3]), attempt=int(r[4])) for r in rows),
        key=lambda claimed: claimed.seq,
    )


async def settle(
    session: AsyncSession,
    destination: str,
    event_id: uuid.UUID,
    *,
    attempt: int,
    status: str,
    now: datetime,
    next_at: datetime | None = None,
    error: str | None = None,
) -> bool:
    """Write the outcome of attempt ``attempt``: ``delivered``, ``dead``, or ``pending`` again at ``next_at``.
    False when the lease was lost (another process claimed the event after it expired, or it was re-driven)."""
    if status not in (PENDING, DELIVERED, DEAD):
        raise ValueError(f"cannot settle an event as {status!r}")
    c = columns(destination)
    values: dict[Any, Any] = {c.status: status, c.next_at: next_at if status == PENDING else None}
    if status == DELIVERED:
        values[c.delivered_at] = now
    if error is not None:
        values[c.last_error] = fit(error, c.last_error)
    result = await session.execute(
        sa.update(E).where(E.c.id == event_id, c.status == PENDING, c.attempts == attempt).values(values)
    )
    return bool(getattr(result, "rowcount", 0))


# ---------------------------------------------------------------- admin (services/outbound_events.py)


async def get(session: AsyncSession, event_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    query = sa.select(E).where(E.c.id == event_id)
    if for_update and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def redrive(session: AsyncSession, event_id: uuid.UUID, destination: str, *, now: datetime) -> bool:
    """A dead delivery becomes pending again with a fresh count of attempts, due now. False if it was not dead."""
    c = columns(destination)
    result = await session.execute(
        sa.update(E)
        .where(E.c.id == event_id, c.status == DEAD)
        .values({c.status: PENDING, c.attempts: 0, c.next_at: now})
    )
    return bool(getattr(result, "rowcount", 0))


async def list_events(
    session: AsyncSession,
    *,
    status: str | None,
    destination: str | None,
    tenant_id: uuid.UUID | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first. ``status`` matches at ``destination``, or at any destination when that is None."""
    query = sa.select(E).order_by(E.c.seq.desc()).limit(limit)
    if status is not None:
        wanted = [columns(d).status == status for d in ([destination] if destination else DESTINATIONS)]
        query = query.where(sa.or_(*wanted))
    if tenant_id is not None:
        query = query.where(E.c.tenant_id == tenant_id)
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def backlog(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(destination, status) → events, for ``pending`` and ``dead`` (the gauges)."""
    counts: dict[tuple[str, str], int] = {}
    for destination in DESTINATIONS:
        c = columns(destination)
        rows = await session.execute(
            sa.select(c.status, sa.func.count()).where(c.status.in_((PENDING, DEAD))).group_by(c.status)
        )
        for status, n in rows.all():
            counts[(destination, str(status))] = int(n)
    return counts
