"""Recording events for the platform (issue 16): the one entry point that puts an event in the outbox.

Call :func:`record` in the transaction that stores the event's cause (a decision, a reply, an opt-out), so the
event exists exactly when its cause does. Delivery (signed HTTP, RabbitMQ) happens later, off this path.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.config import NotificationSettings
from notification_service.domain.outbound_events import OutboundEvent
from notification_service.repositories import outbound_events as repo


async def record(
    session: AsyncSession, settings: NotificationSettings, event: OutboundEvent, *, now: datetime
) -> uuid.UUID:
    """Store ``event`` for every destination configured now; its id."""
    return await repo.insert(session, event, destinations=settings.outbound_destinations, now=now)
