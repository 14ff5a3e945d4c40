"""Accepting purchase-order events: idempotent, and event + message in ONE transaction (outbox).

Never calls Meta or the tenant service: the dispatcher does that later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import Conflict, TooManyRequests
from bakery_shared.group_commit import GroupCommit
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.domain.decisions import KIND_TEST
from notification_service.domain.events import PurchaseOrderEvent, fingerprint
from notification_service.domain.kinds import KIND_PURCHASE_ORDER, KINDS
from notification_service.domain.statuses import MessageStatus
from notification_service.domain.templates import PO_NOTIFICATION, PO_NOTIFICATION_DOCUMENT, get_template
from notification_service.repositories import events as events_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories.signals import notify_in_transaction

log = logging.getLogger("notification.whatsapp.ingestion")
_PO = KINDS[KIND_PURCHASE_ORDER]


def _log_queued(message: dict[str, Any]) -> None:
    """The "queued" log line, in the request's log context (callers count the transition)."""
    if not log.isEnabledFor(logging.INFO):  # skip building the bound context for a line no handler takes
        return
    with bind(tenant_id=message["tenant_id"], notification_id=message["id"]):
        log.info(
            "whatsapp message queued (%s, template %s)",
            message["kind"],
            message["template_name"],
            extra={"status": "queued", "kind": message["kind"]},
        )


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class _Submitted:
    """One accepted-for-writing event: its key, fingerprint and the two rows that store it."""

    key: tuple[uuid.UUID, uuid.UUID]  # (tenant_id, event_id)
    payload_hash: str
    event_row: dict[str, Any]
    message: dict[str, Any]


def rows_for(event: PurchaseOrderEvent, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event row and the message row ingestion writes for ``event`` (the bench fills its queue with them)."""
    submitted = _submitted(event, now)
    return submitted.event_row, submitted.message


def _submitted(event: PurchaseOrderEvent, now: datetime) -> _Submitted:
    payload = event.canonical_payload()
    payload_hash = fingerprint(payload)
    return _Submitted(
        key=(event.tenant_id, event.event_id),
        payload_hash=payload_hash,
        event_row={
            "id": uuid.uuid4(),
            "tenant_id": event.tenant_id,
            "event_id": event.event_id,
            "occurred_at": event.occurred_at,
            "payload": payload,
            "payload_hash": payload_hash,
            "received_at": now,
        },
        message=new_message_values(
            tenant_id=event.tenant_id,
            event_id=event.event_id,
            kind=_PO.name,
            recipient=event.supplier.phone,  # the registry's recipient of a purchase order: its supplier
            # with lines, the purchase order's PDF goes in a document header (issue 17); without, the text template
            template_name=PO_NOTIFICATION_DOCUMENT if event.purchase_order.lines else _PO.template,
            template_values=_PO.values(event),
            requested_language=event.supplier.language,
            now=now,
        ),
    )


def _conflict(event_id: uuid.UUID) -> Conflict:
    return Conflict(
        f"event {event_id} was already received for this tenant with a different body", code="event_conflict"
    )


async def _stored(session: AsyncSession, key: tuple[uuid.UUID, uuid.UUID]) -> tuple[str, Accepted] | None:
    """The stored event's fingerprint and the answer for a replay of it (None: not stored)."""
    tenant_id, event_id = key
    stored = await events_repo.get_event(session, tenant_id, event_id)
    if stored is None:
        return None
    message = await messages_repo.get_for_event(session, tenant_id, event_id)
    if message is None:
        return None
    return stored["payload_hash"], Accepted(notification_id=message.id, status=message.status.value, created=False)


class PurchaseOrderIntake:
    """Accepts purchase-order events: idempotent per ``(tenant_id, event_id)``, event + message in one transaction.

    Concurrent requests share that transaction (:class:`~bakery_shared.group_commit.GroupCommit`): one multi-row
    ``INSERT … ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING`` for the events, one multi-row INSERT for
    the messages of the events it inserted, one ``pg_notify``, one commit per batch. Each caller gets the answer it
    would have got alone: a new event is created; an event already stored (or a copy of one earlier in the same
    batch) with the same fingerprint is a replay answered with the existing message; a different body under the
    same id is a 409 ``event_conflict``. A batch the database refuses is written again item by item, so a bad
    event fails only its own request, and an event never exists without its message.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, notify_other_processes: bool = True, max_batch: int = 200
    ) -> None:
        self._sessions = sessions
        self._notify = notify_other_processes
        self._group: GroupCommit[_Submitted, Accepted] = GroupCommit(
            self._write, max_batch=max_batch, name="purchase-order intake"
        )

    @property
    def batches(self) -> int:
        """Transactions committed so far (tests)."""
        return self._group.batches

    async def accept(self, event: PurchaseOrderEvent) -> Accepted:
        submitted = _submitted(event, utcnow())
        accepted = await self._group.submit(submitted)
        if accepted.created:
            _log_queued(submitted.message)
        return accepted

    async def aclose(self) -> None:
        await self._group.aclose()

    async def _write(self, items: Sequence[_Submitted]) -> list[Accepted | BaseException]:
        first: dict[tuple[uuid.UUID, uuid.UUID], _Submitted] = {}
        for item in items:
            first.setdefault(item.key, item)  # a second copy in the batch is answered from the first one
        leaders = list(first.values())
        found: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, Accepted] | None] = {}
        async with transaction(self._sessions) as session:
            inserted_ids = await events_repo.insert_new_events(session, [item.event_row for item in leaders])
            inserted = {item.key for item in leaders if str(item.event_row["id"]) in inserted_ids}
            await messages_repo.insert_messages(session, [item.message for item in leaders if item.key in inserted])
            if inserted and self._notify:
                await notify_in_transaction(session)
            for item in leaders:
                if item.key not in inserted:  # stored before (a replay or a conflict): rare, one look-up each
                    found[item.key] = await _stored(session, item.key)
        metrics.count_transition(MessageStatus.QUEUED.value, "ingested", n=len(inserted))
        results: list[Accepted | BaseException] = []
        for item in items:
            leader = first[item.key]
            if item.key in inserted:
                if item is leader:
                    results.append(Accepted(leader.message["id"], MessageStatus.QUEUED.value, created=True))
                elif item.payload_hash == leader.payload_hash:
                    results.append(Accepted(leader.message["id"], MessageStatus.QUEUED.value, created=False))
                else:
                    results.append(_conflict(item.key[1]))
                continue
            stored = found.get(item.key)
            if stored is None:  # skipped by the INSERT yet not readable: refuse this one, never half-answer
                results.append(RuntimeError(f"event {item.key[1]} was neither inserted nor found"))
            elif stored[0] != item.payload_hash:
                results.append(_conflict(item.key[1]))
            else:
                results.append(stored[1])
        return results


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
    metrics.count_transition(MessageStatus.QUEUED.value, "test_message")
    _log_queued(message)
    return Accepted(notification_id=message["id"], status=MessageStatus.QUEUED.value, created=True)
