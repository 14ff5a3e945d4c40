"""Token buckets for the per-number throughput limit (130429) and the per-pair limit (131056)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """A classic token bucket: ``capacity`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        if math.isinf(self.rate):
            self._tokens = self.capacity
        elif self.rate > 0:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_take(self, tokens: float = 1.0) -> bool:
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens


class ThroughputLimiter:
    """Messages per second per business phone number (Meta's default: 80 mps, a one-second burst)."""

    def __init__(self, default_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.default_rate = default_rate
        self._clock = clock
        self._rates: dict[str, float] = {}
        self._buckets: dict[str, TokenBucket] = {}

    def set_rate(self, phone_number_id: str, rate: float | None) -> None:
        if rate is None:
            self._rates.pop(phone_number_id, None)
        else:
            self._rates[phone_number_id] = rate
        self._buckets.pop(phone_number_id, None)

    def rate_for(self, phone_number_id: str) -> float:
        return self._rates.get(phone_number_id, self.default_rate)

    def try_acquire(self, phone_number_id: str) -> bool:
        bucket = self._buckets.get(phone_number_id)
        if bucket is None:
            rate = self.rate_for(phone_number_id)
            bucket = TokenBucket(rate=rate, capacity=max(rate, 1.0), clock=self._clock)
            self._buckets[phone_number_id] = bucket
        return bucket.try_take()

    @property
    def overrides(self) -> dict[str, float]:
        return dict(self._rates)

    def reset(self, *, clear_overrides: bool = False) -> None:
        self._buckets.clear()
        if clear_overrides:
            self._rates.clear()


class PairLimiter:
    """Messages from one business number to one recipient: a burst of ``limit``, then one per ``refill_seconds``."""

    def __init__(self, limit: int, refill_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.refill_seconds = refill_seconds
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def configure(self, limit: int | None = None, refill_seconds: float | None = None) -> None:
        if limit is not None:
            self.limit = limit
        if refill_seconds is not None:
            self.refill_seconds = refill_seconds
        self._buckets.clear()

    def try_acquire(self, phone_number_id: str, wa_id: str) -> bool:
        key = (phone_number_id, wa_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = 1.0 / self.refill_seconds if self.refill_seconds > 0 else float("inf")
            bucket = TokenBucket(rate=rate, capacity=float(self.limit), clock=self._clock)
            self._buckets[key] = bucket
        return bucket.try_take()

    def reset(self) -> None:
        self._buckets.clear()
