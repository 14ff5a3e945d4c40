"""The outbox inbox: purchase-order events."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import purchase_order_events


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


_INSERT_EVENT = sa.insert(purchase_order_events)  # one statement, compiled once (values go as parameters)


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_INSERT_EVENT, values)
