"""Lifting holds: the one place a hold's messages go back to the queue (counted once, here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from notification_service import metrics
from notification_service.domain import transitions
from notification_service.domain.decisions import hold_key
from notification_service.domain.statuses import MessageStatus
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import messages as messages_repo


async def release_hold(session: AsyncSession, *, scope: str, scope_key: str, kind: str, now: datetime) -> int:
    """Lift one hold; when no other hold remains on its scope, its held messages are due now.

    Returns the number of messages re-queued."""
    if await holds_repo.delete_hold(session, scope=scope, scope_key=scope_key, kind=kind):
        return 0
    return await _requeue(session, hold_key(scope, scope_key), now)


async def release_orphans(session: AsyncSession, now: datetime) -> int:
    """Held messages whose hold no longer exists (lifted while a dispatcher was holding them) go back to the queue."""
    requeued = 0
    for key in await messages_repo.orphaned_hold_keys(session):
        requeued += await _requeue(session, key, now)
    return requeued


async def _requeue(session: AsyncSession, key: str, now: datetime) -> int:
    requeued = await messages_repo.apply(session, transitions.released(key, now))
    metrics.count_transition(MessageStatus.QUEUED.value, "hold_released", requeued)
    return requeued
