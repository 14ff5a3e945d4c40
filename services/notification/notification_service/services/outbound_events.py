"""Events for the platform (issue 16): recording them, and the admin's view and re-drive.

Call :func:`record` in the transaction that stores the event's cause (a decision, a reply, an opt-out), so the
event exists exactly when its cause does. Delivery (signed HTTP, RabbitMQ) happens later, off this path, by the
worker in ``outbound/worker.py``; :func:`redrive` is the admin's way to send a dead event again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.errors import Conflict, InvalidInput, NotFound
from notification_service.api.schemas_outbound import DeliveryOut, OutboundEventOut, OutboundEventsOut, RedriveOut
from notification_service.config import NotificationSettings
from notification_service.domain.outbound_events import DESTINATIONS, OutboundEvent
from notification_service.repositories import outbound_events as repo
from notification_service.repositories.signals import notify_outbound


async def record(
    session: AsyncSession, settings: NotificationSettings, event: OutboundEvent, *, now: datetime
) -> uuid.UUID:
    """Store ``event`` for every destination configured now; its id. On PostgreSQL every process's delivery
    wakes when the transaction commits."""
    destinations = settings.outbound_destinations
    event_id = await repo.insert(session, event, destinations=destinations, now=now)
    if destinations:
        await notify_outbound(session)
    return event_id


def _view(row: dict[str, Any]) -> OutboundEventOut:
    def delivery(d: str) -> DeliveryOut:
        return DeliveryOut(
            status=row[f"{d}_status"],
            attempts=row[f"{d}_attempts"],
            next_attempt_at=row[f"{d}_next_at"] if row[f"{d}_status"] == repo.PENDING else None,
            last_error=row[f"{d}_last_error"],
            delivered_at=row[f"{d}_delivered_at"],
        )

    return OutboundEventOut(
        id=row["id"],
        seq=row["seq"],
        type=row["name"],
        tenant_id=row["tenant_id"],
        ordering_key=row["ordering_key"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        http=delivery("http"),
        amqp=delivery("amqp"),
        body=row["payload"],
    )


async def list_events(
    session: AsyncSession,
    *,
    status: str | None = None,
    destination: str | None = None,
    tenant_id: uuid.UUID | None = None,
    limit: int = 100,
) -> OutboundEventsOut:
    """Newest first; ``status`` at ``destination`` (at either destination without one)."""
    if status is not None and status not in repo.STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(repo.STATUSES)}", field="query.status")
    if destination is not None and destination not in DESTINATIONS:
        raise InvalidInput(f"destination must be one of {', '.join(DESTINATIONS)}", field="query.destination")
    rows = await repo.list_events(session, status=status, destination=destination, tenant_id=tenant_id, limit=limit)
    return OutboundEventsOut(events=[_view(r) for r in rows])


async def redrive(session: AsyncSession, event_id: uuid.UUID, *, destination: str | None, now: datetime) -> RedriveOut:
    """Make the event's dead deliveries (at ``destination``, or every dead one) pending again, due now, with a fresh
    count of attempts. :class:`NotFound` for an unknown event, :class:`Conflict` when nothing there is dead."""
    if destination is not None and destination not in DESTINATIONS:
        raise InvalidInput(f"destination must be one of {', '.join(DESTINATIONS)}", field="query.destination")
    row = await repo.get(session, event_id, for_update=True)
    if row is None:
        raise NotFound(f"no outbound event {event_id}")
    wanted = [destination] if destination else list(DESTINATIONS)
    redriven = [d for d in wanted if row[f"{d}_status"] == repo.DEAD]
    if not redriven:
        states = ", ".join(f"{d}: {row[f'{d}_status']}" for d in wanted)
        raise Conflict(f"event {event_id} has no dead delivery to re-drive ({states})")
    for d in redriven:
        await repo.redrive(session, event_id, d, now=now)
    await notify_outbound(session)
    updated = await repo.get(session, event_id)
    assert updated is not None  # noqa: S101 - locked above, in this transaction
    return RedriveOut(event=_view(updated), redriven=redriven)  # type: ignore[arg-type]
