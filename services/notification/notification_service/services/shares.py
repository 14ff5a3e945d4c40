"""Bakeries' shares of the portfolio's daily new-recipient budget: read from the database (rules in
``domain/shares.py``), cached per process for the rate gate, set by an admin."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bakery_shared.contracts import WhatsAppAccount
from notification_service.api.schemas_admin import ShareOut
from notification_service.config import NotificationSettings
from notification_service.domain.shares import PortfolioShares, portfolio_shares
from notification_service.repositories import recipients as recipients_repo
from notification_service.repositories import whatsapp_state as state_repo


async def load(
    session: AsyncSession,
    settings: NotificationSettings,
    now: datetime,
    accounts: Sequence[WhatsAppAccount] = (),
) -> PortfolioShares:
    """Every bakery's share now, per portfolio (issue 18): each portfolio's tier (or its accounts' daily limit),
    the configured shares and the active bakeries, each in the portfolio of the account it last sent from.
    ``accounts``: the accounts as the tenant service lists them (none: the environment's alone)."""
    environment = settings.whatsapp_business_account_id
    portfolio_of = {a.waba_id: a.portfolio_id or a.waba_id for a in accounts}
    default = portfolio_of.get(environment, environment)

    def portfolio(waba: str | None) -> str:
        return portfolio_of.get(waba or environment, waba or default)

    tiers: dict[str, list[str]] = {}
    for waba, tier in await state_repo.messaging_limit_tiers_by_account(session):
        tiers.setdefault(portfolio(waba), []).append(tier)
    limits: dict[str, int | None] = {}
    for account in accounts:
        if account.daily_limit is not None and account.status == "active":
            limits[portfolio(account.waba_id)] = account.daily_limit
    configured = await recipients_repo.configured_shares(session)
    since = now - timedelta(days=settings.recipient_share_active_days)
    active = await recipients_repo.active_tenant_accounts(session, since=since)
    return portfolio_shares(
        tiers=tiers,
        daily_limits=limits,
        tenant_portfolio={t: portfolio(waba) for t, waba in active.items() if waba},
        configured=configured,
        active=active,
        fallback_cap=settings.tenant_daily_new_recipient_cap,
        default=default,
    )


async def set_share(
    session: AsyncSession,
    settings: NotificationSettings,
    tenant_id: uuid.UUID,
    daily_new_recipients: int | None,
    *,
    actor: str,
    now: datetime,
    accounts: Sequence[WhatsAppAccount] = (),
) -> ShareOut:
    """Configure a bakery's share (None: derived again); the answer is the share now in force. Dispatchers see it
    within ``RECIPIENT_SHARE_REFRESH_SECONDS``."""
    await recipients_repo.set_share(session, tenant_id, daily_new_recipients, actor=actor, now=now)
    share = (await load(session, settings, now, accounts)).share(tenant_id)
    return ShareOut(tenant_id=tenant_id, daily_new_recipients=share.daily, source=share.source, set_by=actor)


class ShareCache:
    """The share table a dispatcher uses, re-read every ``RECIPIENT_SHARE_REFRESH_SECONDS`` (the portfolio's
    limit changes at most every 6 hours; a configured share reaches every dispatcher within that refresh)."""

    def __init__(self, settings: NotificationSettings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._monotonic = monotonic
        self._table: PortfolioShares | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        self._table = None

    async def get(
        self, session: AsyncSession, now: datetime, accounts: Sequence[WhatsAppAccount] = ()
    ) -> PortfolioShares:
        if self._table is None or self._monotonic() - self._read_at >= self.settings.recipient_share_refresh_seconds:
            self._table = await load(session, self.settings, now, accounts)
            self._read_at = self._monotonic()
        return self._table
