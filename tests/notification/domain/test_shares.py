"""domain/shares.py: each bakery's share of the portfolio's daily new-recipient budget."""

from __future__ import annotations

import uuid

import pytest

from notification_service.domain.shares import (
    LimitState,
    portfolio_limit,
    portfolio_shares,
    portfolio_tier,
    share_table,
)

A, B, C, D = (uuid.UUID(int=i) for i in range(1, 5))


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("TIER_250", (LimitState.KNOWN, 250)),
        ("TIER_2K", (LimitState.KNOWN, 2000)),
        ("tier_10k", (LimitState.KNOWN, 10000)),
        ("TIER_100K", (LimitState.KNOWN, 100000)),
        ("TIER_UNLIMITED", (LimitState.UNLIMITED, None)),
        ("TIER_NOT_SET", (LimitState.UNKNOWN, None)),
        (None, (LimitState.UNKNOWN, None)),
        ("TIER_42", (LimitState.UNKNOWN, None)),
    ],
)
def test_portfolio_limit_of_a_tier(tier: str | None, expected: tuple[LimitState, int | None]) -> None:
    assert portfolio_limit(tier) == expected


def test_the_portfolio_tier_is_the_highest_reported() -> None:
    assert portfolio_tier(["TIER_250", "TIER_2K", "TIER_NOT_SET", ""]) == "TIER_2K"
    assert portfolio_tier(["TIER_NOT_SET"]) is None and portfolio_tier([]) is None


def test_derived_share_is_the_limit_over_the_active_bakeries_floored() -> None:
    table = share_table(tier="TIER_2K", configured={}, active=[A, B, C], fallback_cap=250)
    assert table.share(A).daily == 666 and table.share(A).source == "derived"
    assert table.share(D).daily == 666  # not active yet (e.g. only a test message): the same derived share
    assert 3 * table.share(A).daily <= 2000  # the shares never add up to more than the portfolio's limit


def test_configured_shares_are_kept_and_the_rest_is_shared() -> None:
    table = share_table(tier="TIER_250", configured={A: 100}, active=[A, B, C], fallback_cap=0)
    assert (table.share(A).daily, table.share(A).source) == (100, "configured")
    assert (table.share(B).daily, table.share(B).source) == (75, "derived")  # (250 - 100) // 2


def test_derived_share_is_at_least_one() -> None:
    table = share_table(tier="TIER_250", configured={A: 300}, active=[A, B], fallback_cap=0)
    assert table.share(B).daily == 1
    assert share_table(tier="TIER_250", configured={}, active=[], fallback_cap=0).share(A).daily == 250


def test_unlimited_and_unknown_limits() -> None:
    unlimited = share_table(tier="TIER_UNLIMITED", configured={A: 10}, active=[A, B], fallback_cap=250)
    assert (unlimited.share(B).daily, unlimited.share(B).source) == (None, "unlimited")
    assert unlimited.share(A).daily == 10  # a configured share still applies
    unknown = share_table(tier=None, configured={}, active=[A], fallback_cap=250)
    assert (unknown.share(A).daily, unknown.share(A).source) == (250, "fallback")
    assert share_table(tier=None, configured={}, active=[A], fallback_cap=0).share(A).daily is None


def test_portfolios_do_not_share_one_budget() -> None:
    """Issue 18: bakeries of different portfolios each divide their own portfolio's limit."""
    a1, a2, b1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    shares = portfolio_shares(
        tiers={"P1": ["TIER_2K"]},
        daily_limits={"P2": 90},
        tenant_portfolio={a2: "P1", b1: "P2"},
        configured={a2: 500},
        active=[a1, a2, b1],
        fallback_cap=0,
        default="P1",
    )
    assert shares.share(a1).daily == 1500 and shares.share(a2).daily == 500  # P1: 2000 − 500 configured
    assert shares.share(b1).daily == 90 and shares.share(b1).source == "derived"  # P2 alone, its account's limit
    assert shares.share(uuid.uuid4(), "P2").daily == 90  # a bakery new to P2: its settings name the portfolio
    assert shares.table().active_tenants == 2 and shares.table("P2").active_tenants == 1
