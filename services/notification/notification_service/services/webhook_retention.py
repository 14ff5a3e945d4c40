"""Bounded storage for webhooks: raw bodies (``webhook_events``) and their ``webhook_statuses`` rows are removed
``WHATSAPP_WEBHOOK_RETENTION_DAYS`` after they were received, except what a message still needs:

* an event that is not processed yet (the sweeper may still apply it) is never removed;
* an event with a status row about a message still in flight (``queued``, ``sending``, ``held`` or ``sent``:
  Meta has not reported it delivered, read or failed, and it was not skipped) is kept, with its status rows,
  as the latest evidence of what Meta said about that message, until the message settles.

A removed event takes its status rows with it. Meta retries a delivery for at most 7 days, so a retention of
7 days or more never lets a retried body be processed twice (and processing is idempotent anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from notification_service import metrics
from notification_service.domain.statuses import MessageStatus
from notification_service.repositories import whatsapp_state as state_repo

log = logging.getLogger("notification.whatsapp.retention")

#: Messages whose webhook evidence is kept whatever its age.
IN_FLIGHT = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD, MessageStatus.SENT)


@dataclass(frozen=True)
class Purged:
    events: int = 0
    statuses: int = 0


class WebhookRetention:
    """Run by the webhook sweeper (``app._sweep_webhooks``) at most once per ``interval_seconds``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        retention_days: float,
        clock: Callable[[], datetime] = utcnow,
        interval_seconds: float = 3600.0,
        batch_size: int = 500,
    ) -> None:
        self.sessions = sessions
        self.retention_days = retention_days
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size
        self._last_run: datetime | None = None

    async def run_if_due(self) -> Purged | None:
        now = self.clock()
        if self._last_run is not None and (now - self._last_run).total_seconds() < self.interval_seconds:
            return None
        self._last_run = now
        return await self.purge()

    async def purge(self) -> Purged:
        """Remove what is older than the retention and no longer needed, in batches (one transaction each)."""
        if self.retention_days <= 0:
            return Purged()
        cutoff = self.clock() - timedelta(days=self.retention_days)
        in_flight = [status.value for status in IN_FLIGHT]
        events = statuses = 0
        after_id = 0
        while True:
            async with transaction(self.sessions) as session:
                candidates, last_id = await state_repo.expired_events(
                    session, older_than=cutoff, after_id=after_id, limit=self.batch_size
                )
                if last_id is None:
                    break
                removed_events, removed_statuses = await state_repo.delete_unneeded_events(
                    session, candidates, in_flight=in_flight
                )
            metrics.WEBHOOK_ROWS_PURGED.labels(table="webhook_events").inc(removed_events)
            metrics.WEBHOOK_ROWS_PURGED.labels(table="webhook_statuses").inc(removed_statuses)
            events += removed_events
            statuses += removed_statuses
            after_id = last_id
            await asyncio.sleep(0)  # let the webhooks in between batches
        if events or statuses:
            log.info("webhook retention: %d events and %d status rows older than %s removed", events, statuses, cutoff)
        return Purged(events=events, statuses=statuses)
