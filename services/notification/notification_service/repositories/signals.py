"""Signals to other processes through PostgreSQL ``NOTIFY`` (delivered at commit; nothing on SQLite, where one
process runs the dispatcher). The listening side is :class:`notification_service.wakeup.PostgresListener`."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.wakeup import CHANNEL, OUTBOUND_CHANNEL, TENANT_CHANNEL


async def notify_in_transaction(session: AsyncSession) -> None:
    """PostgreSQL only: other dispatcher processes wake when this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


async def notify_tenant_changed(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """PostgreSQL only: every dispatcher process forgets this tenant's cached settings at commit."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :tenant)"), {"channel": TENANT_CHANNEL, "tenant": str(tenant_id)}
        )


async def notify_outbound(session: AsyncSession) -> None:
    """PostgreSQL only: every process's outbound event delivery wakes at commit (events stored or re-driven)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOUND_CHANNEL})
