"""Each bakery's share of the portfolio's daily new-recipient budget (pure rules).

Meta sets the messaging limit (unique users a business may start conversations with in a moving 24 h) for the
whole **business portfolio** since 2025-10-07, shared by every phone number in it, and re-evaluates it every 6
hours (Meta, "Messaging limits": developers.facebook.com/docs/whatsapp/messaging-limits). Every bakery's number
draws on that one budget, so one busy bakery could use it up for all. Each bakery therefore gets a share:

* **configured** by an admin (``PUT /api/v1/admin/whatsapp/tenants/{id}/recipient-share``), or else
* **derived**: what the configured shares leave of the portfolio's limit, divided by the active bakeries
  without a configured share (floor, at least 1);
* an **unlimited** portfolio (``TIER_UNLIMITED``) gives derived shares no cap;
* while the limit is **unknown** (never synced, ``TIER_NOT_SET``), ``TENANT_DAILY_NEW_RECIPIENT_CAP`` applies
  (0: no cap).

With several WhatsApp accounts (issue 18) there is one budget **per portfolio** (:class:`PortfolioShares`): a
bakery shares only with the bakeries whose numbers are in the same portfolio; an account's ``daily_limit``, when
set, is its portfolio's limit, else the tier its numbers report.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from notification_service.domain.whatsapp_state import TIER_LIMITS

CONFIGURED = "configured"
DERIVED = "derived"
UNLIMITED = "unlimited"
FALLBACK = "fallback"


class LimitState(StrEnum):
    KNOWN = "known"
    UNLIMITED = "unlimited"
    UNKNOWN = "unknown"


def portfolio_tier(tiers: Iterable[str]) -> str | None:
    """The portfolio's tier from the numbers' reports: the highest known one (they all carry the same value)."""
    order = list(TIER_LIMITS)
    known = [t.upper() for t in tiers if t and t.upper() in TIER_LIMITS]
    return max(known, key=order.index) if known else None


def portfolio_limit(tier: str | None) -> tuple[LimitState, int | None]:
    """(state, unique recipients per 24 h) of a tier: ``TIER_2K`` → (KNOWN, 2000), ``TIER_UNLIMITED`` →
    (UNLIMITED, None); None, ``TIER_NOT_SET`` or an unknown name → (UNKNOWN, None)."""
    name = (tier or "").upper()
    if name not in TIER_LIMITS:
        return LimitState.UNKNOWN, None
    limit = TIER_LIMITS[name]
    return (LimitState.UNLIMITED, None) if limit is None else (LimitState.KNOWN, limit)


@dataclass(frozen=True)
class Share:
    daily: int | None  # new recipients per UTC day; None: no cap
    source: str  # configured, derived, unlimited or fallback


@dataclass(frozen=True)
class ShareTable:
    tier: str | None
    state: LimitState
    limit: int | None
    active: frozenset[uuid.UUID]
    configured: Mapping[uuid.UUID, int] = field(default_factory=dict)
    derived: Share = Share(None, FALLBACK)

    @property
    def active_tenants(self) -> int:
        return len(self.active)

    def share(self, tenant_id: uuid.UUID) -> Share:
        configured = self.configured.get(tenant_id)
        if configured is not None:
            return Share(configured, CONFIGURED)
        return self.derived


def share_table(
    *,
    tier: str | None,
    configured: Mapping[uuid.UUID, int],
    active: Iterable[uuid.UUID],
    fallback_cap: int,
    daily_limit: int | None = None,
) -> ShareTable:
    """The shares of every bakery, from the portfolio's tier (or its account's ``daily_limit`` when set), the
    configured shares and the active bakeries."""
    state, limit = portfolio_limit(tier)
    if daily_limit is not None:
        state, limit = LimitState.KNOWN, daily_limit
    active_set = set(active)
    if state is LimitState.UNKNOWN:
        derived = Share(fallback_cap or None, FALLBACK)
    elif state is LimitState.UNLIMITED:
        derived = Share(None, UNLIMITED)
    else:
        assert limit is not None
        unconfigured = len(active_set - set(configured))
        left = limit - sum(configured.values())
        derived = Share(max(1, left // max(1, unconfigured)), DERIVED)
    return ShareTable(
        tier=tier,
        state=state,
        limit=limit,
        active=frozenset(active_set),
        configured=dict(configured),
        derived=derived,
    )


@dataclass(frozen=True)
class PortfolioShares:
    """One :class:`ShareTable` per portfolio (issue 18); ``default`` is the environment's account's portfolio, the
    one of a bakery whose portfolio is not known (it has sent nothing yet and its settings did not say)."""

    tables: Mapping[str, ShareTable]
    tenant_portfolio: Mapping[uuid.UUID, str]
    default: str

    def table(self, portfolio_id: str | None = None) -> ShareTable:
        found = self.tables.get(portfolio_id or self.default)
        return found if found is not None else self.tables[self.default]

    def portfolio_of(self, tenant_id: uuid.UUID, portfolio_id: str | None = None) -> str:
        """The bakery's portfolio: the one its settings name now, else the one it last sent from."""
        if portfolio_id and portfolio_id in self.tables:
            return portfolio_id
        return self.tenant_portfolio.get(tenant_id, self.default)

    def share(self, tenant_id: uuid.UUID, portfolio_id: str | None = None) -> Share:
        return self.table(self.portfolio_of(tenant_id, portfolio_id)).share(tenant_id)


def portfolio_shares(
    *,
    tiers: Mapping[str, Iterable[str]],
    daily_limits: Mapping[str, int | None],
    tenant_portfolio: Mapping[uuid.UUID, str],
    configured: Mapping[uuid.UUID, int],
    active: Iterable[uuid.UUID],
    fallback_cap: int,
    default: str,
) -> PortfolioShares:
    """The shares per portfolio: ``tiers`` are the tiers its numbers report, ``daily_limits`` its accounts'
    limits, ``tenant_portfolio`` each bakery's portfolio (the others are in ``default``'s)."""
    active_set = set(active)
    names = {default, *tiers, *daily_limits, *tenant_portfolio.values()}

    def members(portfolio: str) -> set[uuid.UUID]:
        return {t for t in active_set | set(configured) if tenant_portfolio.get(t, default) == portfolio}

    tables = {}
    for name in names:
        mine = members(name)
        tables[name] = share_table(
            tier=portfolio_tier(tiers.get(name, ())),
            configured={t: n for t, n in configured.items() if t in mine},
            active=active_set & mine,
            fallback_cap=fallback_cap,
            daily_limit=daily_limits.get(name),
        )
    return PortfolioShares(tables=tables, tenant_portfolio=dict(tenant_portfolio), default=default)
