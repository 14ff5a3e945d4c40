"""Retry delays: exponential backoff with full jitter, and Meta's pair-limit rule (4^x seconds)."""

from __future__ import annotations

import random

_RNG = random.Random()  # noqa: S311 - jitter, not security


def exponential_backoff(failures: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``failures`` (1-based): uniform in [base*2^(n-1)/2, base*2^(n-1)], capped."""
    ceiling = min(cap, base * (2 ** max(0, failures - 1)))
    return (rng or _RNG).uniform(ceiling / 2, ceiling)


def pair_backoff(throttles: int, *, cap: float) -> float:
    """Meta: after a pair-rate failure retry after 4^x seconds, x = 0, 1, 2 ... (131056)."""
    return float(min(cap, 4 ** max(0, throttles - 1)))
