"""Queue figures read by readiness and the Prometheus gauges: depth, held, oldest pending message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.domain.statuses import MessageStatus
from notification_service.models import whatsapp_messages

M = whatsapp_messages
PENDING_STATUSES = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value, MessageStatus.HELD.value)


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int  # queued or sending
    held: int
    oldest_created_at: datetime | None  # of the queued or sending messages


@dataclass(frozen=True, slots=True)
class PendingGroup:
    status: str
    count: int
    oldest_created_at: datetime | None


async def queue_stats(session: AsyncSession) -> QueueStats:
    pending = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
    row = (
        await session.execute(sa.select(sa.func.count(), sa.func.min(M.c.created_at)).where(M.c.status.in_(pending)))
    ).one()
    held = (
        await session.execute(sa.select(sa.func.count()).where(M.c.status == MessageStatus.HELD.value))
    ).scalar_one()
    return QueueStats(depth=int(row[0]), held=int(held), oldest_created_at=row[1])


async def pending_by_status(session: AsyncSession) -> list[PendingGroup]:
    """Messages not settled yet (queued, sending, held), grouped by status, with the oldest creation time of each."""
    rows = await session.execute(
        sa.select(M.c.status, sa.func.count(), sa.func.min(M.c.created_at))
        .where(M.c.status.in_(PENDING_STATUSES))
        .group_by(M.c.status)
    )
    return [PendingGroup(status=str(s), count=int(n), oldest_created_at=first) for s, n, first in rows.all()]
