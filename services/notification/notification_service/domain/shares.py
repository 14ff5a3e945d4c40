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
) -> ShareTable:
    """The shares of every bakery, from the portfolio's tier, the configured shares and the active bakeries."""
    state, limit = portfolio_limit(tier)
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
