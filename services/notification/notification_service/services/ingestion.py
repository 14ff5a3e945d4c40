"""Accepting purchase-order events: idempotent, and event + message in ONE transaction (outbox).

Never calls Meta or the tenant service: the dispatcher does that later.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import Conflict, TooManyRequests
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.domain.decisions import KIND_PURCHASE_ORDER, KIND_TEST
from notification_service.domain.events import PurchaseOrderEvent
from notification_service.domain.statuses import MessageStatus
from notification_service.domain.templates import PO_NOTIFICATION, get_template
from notification_service.repositories import events as events_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories.signals import notify_in_transaction

log = logging.getLogger("notification.whatsapp.ingestion")


def _log_queued(message: dict[str, Any], reason: str) -> None:
    metrics.count_transition(MessageStatus.QUEUED.value, reason)
    with bind(tenant_id=message["tenant_id"], notification_id=message["id"]):
        log.info(
            "whatsapp message queued (%s, template %s)",
            message["kind"],
            message["template_name"],
            extra={"status": "queued", "kind": message["kind"]},
        )


@dataclass(frozen=True)
class Accepted:
    notification_id: uuid.UUID
    status: str
    created: bool  # False: the same event was already accepted (idempotent replay)


def new_message_values(
    *,
    tenant_id: uuid.UUID,
    event_id: uuid.UUID | None,
    kind: str,
    recipient: str,
    template_name: str,
    template_values: dict[str, Any],
    requested_language: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "event_id": event_id,
        "kind": kind,
        "recipient_phone": recipient,
        "template_name": template_name,
        "requested_language": requested_language,
        "template_values": template_values,
        "status": MessageStatus.QUEUED.value,
        "attempts": 0,
        "transient_failures": 0,
        "throttle_count": 0,
        "possible_duplicates": 0,
        "created_at": now,
        "updated_at": now,
        "due_at": now,
    }


async def _existing(session: AsyncSession, event: PurchaseOrderEvent) -> Accepted | None:
    stored = await events_repo.get_event(session, event.tenant_id, event.event_id)
    if stored is None:
        return None
    if stored["payload_hash"] != event.payload_hash():
        raise Conflict(
            f"event {event.event_id} was already received for this tenant with a different body",
            code="event_conflict",
        )
    message = await messages_repo.get_for_event(session, event.tenant_id, event.event_id)
    assert message is not None, "an accepted event always has its message"
    return Accepted(notification_id=message.id, status=message.status.value, created=False)


async def accept_purchase_order(
    sessions: async_sessionmaker[AsyncSession], event: PurchaseOrderEvent, *, notify_other_processes: bool = True
) -> Accepted:
    # No look-up first: a new event (the common case) costs one transaction; a replay or a conflict hits the
    # unique index and is answered below (docs/benchmarks.md: ~1/3 of the ingestion's database work).
    now = utcnow()
    message = new_message_values(
        tenant_id=event.tenant_id,
        event_id=event.event_id,
        kind=KIND_PURCHASE_ORDER,
        recipient=event.supplier.phone,
        template_name=PO_NOTIFICATION,
        template_values=event.template_values(),
        requested_language=event.supplier.language,
        now=now,
    )
    try:
        async with transaction(sessions) as session:
            await events_repo.insert_event(
                session,
                {
                    "id": uuid.uuid4(),
                    "tenant_id": event.tenant_id,
                    "event_id": event.event_id,
                    "occurred_at": event.occurred_at,
                    "payload": event.canonical_payload(),
                    "payload_hash": event.payload_hash(),
                    "received_at": now,
                },
            )
            await messages_repo.insert_message(session, message)
            if notify_other_processes:
                await notify_in_transaction(session)
    except IntegrityError:
        # A concurrent request stored the same (tenant_id, event_id) first: answer like a replay.
        async with sessions() as session:
            found = await _existing(session, event)
        if found is None:
            raise
        return found
    _log_queued(message, "ingested")
    return Accepted(notification_id=message["id"], status=MessageStatus.QUEUED.value, created=True)


async def queue_test_message(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    to: str,
    language: str | None,
    per_hour: int,
    notify_other_processes: bool = True,
) -> Accepted:
    """A ``po_notification`` with sample values, through the same queue as real messages.

    At most ``per_hour`` test messages per tenant in any hour (a test message takes dispatcher time and one of the
    number's pair slots): the tenant's quota row is locked first, so concurrent requests count one by one."""
    now = utcnow()
    spec = get_template(PO_NOTIFICATION)
    message = new_message_values(
        tenant_id=tenant_id,
        event_id=None,
        kind=KIND_TEST,
        recipient=to,
        template_name=spec.name,
        template_values=dict(spec.sample_values),
        requested_language=language,
        now=now,
    )
    since = now - timedelta(hours=1)
    async with transaction(sessions) as session:
        await rate_repo.lock_key(session, f"testq:{tenant_id}", now)
        if await messages_repo.count_created(session, tenant_id=tenant_id, kind=KIND_TEST, since=since) >= per_hour:
            oldest = await messages_repo.oldest_created(session, tenant_id=tenant_id, kind=KIND_TEST, since=since)
            retry_after = int(((oldest or now) + timedelta(hours=1) - now).total_seconds()) + 1
            raise TooManyRequests(
                f"This bakery already sent {per_hour} test messages in the last hour; "
                f"try again in {retry_after // 60 + 1} minutes",
                retry_after=retry_after,
                code="test_message_quota",
            )
        await messages_repo.insert_message(session, message)
        if notify_other_processes:
            await notify_in_transaction(session)
    _log_queued(message, "test_message")
    return Accepted(notification_id=message["id"], status=MessageStatus.QUEUED.value, created=True)
