"""Accepting the staff alert events of the registry's kinds (issue 17): idempotent per ``(tenant_id, event_id)``
like purchase orders, and event + one message per recipient in ONE transaction.

Unlike a purchase order, the recipients are not in the event: they are the bakery's staff numbers that take the
kind (notification settings, read through the cached tenant client before the transaction). A kind switched off
still stores its messages; the dispatcher skips them with the kind's reason, so the owner sees why nothing went.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.errors import Conflict, NotFound, ServiceUnavailable
from notification_service import metrics
from notification_service.domain.events import fingerprint
from notification_service.domain.kinds import KindSpec
from notification_service.domain.statuses import MessageStatus
from notification_service.repositories import events as events_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories.signals import notify_in_transaction
from notification_service.services.ingestion import new_message_values
from notification_service.tenant_client import TenantNotFound, TenantServiceUnavailable, TenantSettingsClient

log = logging.getLogger("notification.whatsapp.ingestion")


@dataclass(frozen=True, slots=True)
class AlertAccepted:
    notification_ids: list[uuid.UUID]
    created: bool  # False: the same event was already accepted (idempotent replay)


class AlertIntake:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tenants: TenantSettingsClient,
        *,
        notify_other_processes: bool = True,
    ) -> None:
        self._sessions = sessions
        self._tenants = tenants
        self._notify = notify_other_processes

    async def _replay(
        self, session: AsyncSession, tenant_id: uuid.UUID, event_id: uuid.UUID, payload_hash: str
    ) -> AlertAccepted | None:
        stored = await events_repo.get_event(session, tenant_id, event_id)
        if stored is None:
            return None
        if stored["payload_hash"] != payload_hash:
            raise Conflict(
                f"event {event_id} was already received for this tenant with a different body", code="event_conflict"
            )
        found = await messages_repo.list_for_event(session, tenant_id, event_id)
        return AlertAccepted([m.id for m in found], created=False)

    async def accept(self, kind: KindSpec, event: Any) -> AlertAccepted:
        payload = event.canonical_payload()
        payload_hash = fingerprint(payload)
        async with self._sessions() as session:
            replay = await self._replay(session, event.tenant_id, event.event_id, payload_hash)
        if replay is not None:
            return replay
        try:
            settings = await self._tenants.get(event.tenant_id)
        except TenantNotFound as exc:
            raise NotFound(
                f"tenant {event.tenant_id} is not known to the tenant service", code="tenant_not_found"
            ) from exc
        except TenantServiceUnavailable as exc:
            raise ServiceUnavailable(
                "the tenant service could not be reached to read the staff numbers; send the event again",
                code="tenant_service_unavailable",
            ) from exc
        now = utcnow()
        values = kind.values(event)
        messages = [
            new_message_values(
                tenant_id=event.tenant_id,
                event_id=event.event_id,
                kind=kind.name,
                recipient=recipient.phone,
                template_name=kind.template,
                template_values=values,
                requested_language=recipient.language,
                now=now,
            )
            for recipient in kind.recipients(event, settings)
        ]
        row = {
            "id": uuid.uuid4(),
            "tenant_id": event.tenant_id,
            "event_id": event.event_id,
            "occurred_at": event.occurred_at,
            "payload": payload,
            "payload_hash": payload_hash,
            "received_at": now,
        }
        async with transaction(self._sessions) as session:
            inserted = await events_repo.insert_new_events(session, [row])
            if not inserted:  # a concurrent copy won the race: answer as a replay (or a conflict)
                replay = await self._replay(session, event.tenant_id, event.event_id, payload_hash)
                if replay is None:  # pragma: no cover - skipped by the INSERT yet not readable
                    raise ServiceUnavailable("the event could not be stored; send it again", code="event_race")
                return replay
            await messages_repo.insert_messages(session, messages)
            if messages and self._notify:
                await notify_in_transaction(session)
        metrics.count_transition(MessageStatus.QUEUED.value, "ingested", n=len(messages))
        log.info(
            "%s event accepted: %d message(s) queued",
            kind.name,
            len(messages),
            extra={"tenant_id": str(event.tenant_id), "kind": kind.name},
        )
        return AlertAccepted([m["id"] for m in messages], created=True)
