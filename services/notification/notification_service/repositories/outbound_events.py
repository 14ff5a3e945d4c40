"""The outbox of events for the platform (issue 16): the only SQL on ``outbound_events``."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.outbound_events import AMQP, HTTP, OutboundEvent
from notification_service.models import outbound_events

E = outbound_events

#: a destination's delivery state on an event row
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"  # gave up after the retries: an admin re-drives it
OFF = "off"  # the destination was not configured when the event was stored


async def insert(
    session: AsyncSession, event: OutboundEvent, *, destinations: frozenset[str], now: datetime
) -> uuid.UUID:
    """Store ``event`` for ``destinations`` (in the caller's transaction); its id."""
    event_id = event.id or uuid.uuid4()
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
