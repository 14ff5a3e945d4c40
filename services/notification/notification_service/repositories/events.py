"""The outbox inbox: purchase-order events."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import purchase_order_events
from notification_service.repositories.common import dialect_name

E = purchase_order_events


async def get_event(session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        (
            await session.execute(
                sa.select(purchase_order_events).where(
                    purchase_order_events.c.tenant_id == tenant_id, purchase_order_events.c.event_id == event_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


#: ``INSERT … ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING id``, built once per dialect; the id comes back
#: as its stored text (no UUID parsing per row).
_RETURNED_ID = sa.type_coerce(E.c.id, sa.String())
_INSERT_NEW_EVENTS = {
    "postgresql": postgresql.insert(E)
    .on_conflict_do_nothing(index_elements=[E.c.tenant_id, E.c.event_id])
    .returning(_RETURNED_ID),
    "sqlite": sqlite.insert(E)
    .on_conflict_do_nothing(index_elements=[E.c.tenant_id, E.c.event_id])
    .returning(_RETURNED_ID),
}


async def insert_new_events(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the events whose ``(tenant_id, event_id)`` is not stored yet (one multi-row INSERT: SQLAlchemy's
    "insertmanyvalues"); returns the ids (as text) of the rows it inserted. A key already stored is skipped (on
    PostgreSQL after waiting for a concurrent transaction that holds it). Callers pass each key once."""
    if not rows:
        return set()
    result = await session.execute(_INSERT_NEW_EVENTS[dialect_name(session)], rows)
    return {row[0] for row in result}
