"""Bakeries' shares of the portfolio's daily new-recipient budget: read from the database (rules in
``domain/shares.py``), cached per process for the rate gate, set by an admin."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.api.schemas_admin import ShareOut
from notification_service.config import NotificationSettings
from notification_service.domain.shares import ShareTable, portfolio_tier, share_table
from notification_service.repositories import recipients as recipients_repo
from notification_service.repositories import whatsapp_state as state_repo


async def load(session: AsyncSession, settings: NotificationSettings, now: datetime) -> ShareTable:
    """Every bakery's share now: the portfolio's tier, the configured shares and the active bakeries."""
    tier = portfolio_tier(await state_repo.messaging_limit_tiers(session))
    configured = await recipients_repo.configured_shares(session)
    since = now - timedelta(days=settings.recipient_share_active_days)
    active = await recipients_repo.active_tenants(session, since=since)
    return share_table(
        tier=tier, configured=configured, active=active, fallback_cap=settings.tenant_daily_new_recipient_cap
    )


async def set_share(
    session: AsyncSession,
    settings: NotificationSettings,
    tenant_id: uuid.UUID,
    daily_new_recipients: int | None,
    *,
    actor: str,
    now: datetime,
) -> ShareOut:
    """Configure a bakery's share (None: derived again); the answer is the share now in force. Dispatchers see it
    within ``RECIPIENT_SHARE_REFRESH_SECONDS``."""
    await recipients_repo.set_share(session, tenant_id, daily_new_recipients, actor=actor, now=now)
    share = (await load(session, settings, now)).share(tenant_id)
    return ShareOut(tenant_id=tenant_id, daily_new_recipients=share.daily, source=share.source, set_by=actor)


class ShareCache:
    """The share table a dispatcher uses, re-read every ``RECIPIENT_SHARE_REFRESH_SECONDS`` (the portfolio's
    limit changes at most every 6 hours; a configured share reaches every dispatcher within that refresh)."""

    def __init__(self, settings: NotificationSettings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._monotonic = monotonic
        self._table: ShareTable | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        self._table = None

    async def get(self, session: AsyncSession, now: datetime) -> ShareTable:
        if self._table is None or self._monotonic() - self._read_at >= self.settings.recipient_share_refresh_seconds:
            self._table = await load(session, self.settings, now)
            self._read_at = self._monotonic()
        return self._table
