"""What every part of a dispatcher shares: settings, database, clients, identity, clock."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.graph import GraphClient
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.accounts import Accounts
from notification_service.config import NotificationSettings
from notification_service.dispatch.outcomes import Policy
from notification_service.domain import button_payloads
from notification_service.domain.message import ErrorInfo, MessageUpdate
from notification_service.domain.statuses import MessageStatus
from notification_service.tenant_client import TenantSettingsClient

log = logging.getLogger("notification.whatsapp.dispatcher")


@dataclass
class DispatchContext:
    settings: NotificationSettings
    sessions: async_sessionmaker[AsyncSession]
    graph: GraphClient
    tenants: TenantSettingsClient
    owner: str
    clock: Callable[[], datetime]
    rng: random.Random
    wake: Callable[[], None]
    #: the accounts' tokens (a number's account sends with its own) and the directory of accounts (issue 18)
    accounts: Accounts
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @functools.cached_property
    def button_key(self) -> bytes:
        """The key that signs the purchase-order buttons' payloads (domain/button_payloads.py)."""
        return button_payloads.derive_key(
            self.settings.button_payload_secret.get_secret_value(), self.settings.jwt_secret.get_secret_value()
        )

    @property
    def policy(self) -> Policy:
        return Policy.from_settings(self.settings)

    def lease_until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.settings.dispatch_lease_seconds)


def count_applied(
    updates: Iterable[MessageUpdate], applied: set[uuid.UUID], tenant_of: Mapping[uuid.UUID, uuid.UUID]
) -> None:
    """Metrics and one log line per applied status change (re-queues are DEBUG: pacing makes many)."""
    for update in updates:
        if update.message_id not in applied or not update.changes_status:
            continue
        reason = update.reason if isinstance(update.reason, str) else None
        metrics.count_transition(update.status.value, reason)
        if update.status is MessageStatus.SENT and reason is None:
            continue  # the send itself is logged with its wamid
        error_code = update.error.code if isinstance(update.error, ErrorInfo) else None
        level = {MessageStatus.QUEUED: logging.DEBUG, MessageStatus.FAILED: logging.WARNING}.get(
            update.status, logging.INFO
        )
        if update.status is MessageStatus.QUEUED and error_code:
            level = logging.INFO  # a Graph error we retry
        if not log.isEnabledFor(level):
            continue
        with bind(tenant_id=tenant_of.get(update.message_id), notification_id=update.message_id):
            log.log(
                level,
                "whatsapp message %s: %s%s",
                update.status.value,
                reason or "",
                f" (error {error_code})" if error_code else "",
                extra={
                    "status": update.status.value,
                    "reason_code": metrics.reason_code(reason),
                    "error_code": error_code,
                },
            )
