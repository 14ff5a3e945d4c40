"""Unit tests of the token buckets with a fake clock."""

from __future__ import annotations

from wa_sandbox.ratelimit import PairLimiter, ThroughputLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, capacity=2, clock=clock)
    assert bucket.try_take() and bucket.try_take() and not bucket.try_take()
    clock.now = 0.5
    assert bucket.try_take() and not bucket.try_take()
    clock.now = 100
    assert bucket.available == 2


def test_throughput_per_number() -> None:
    clock = Clock()
    limiter = ThroughputLimiter(80, clock=clock)
    assert sum(limiter.try_acquire("a") for _ in range(100)) == 80
    assert limiter.try_acquire("b")
    clock.now = 1.0
    assert sum(limiter.try_acquire("a") for _ in range(100)) == 80
    limiter.set_rate("a", 1)
    assert limiter.try_acquire("a") and not limiter.try_acquire("a")
    assert limiter.overrides == {"a": 1}


def test_pair_burst_then_one_per_refill() -> None:
    clock = Clock()
    pairs = PairLimiter(limit=45, refill_seconds=6, clock=clock)
    assert sum(pairs.try_acquire("n", "u") for _ in range(50)) == 45
    assert pairs.try_acquire("n", "other")
    clock.now = 5.9
    assert not pairs.try_acquire("n", "u")
    clock.now = 6.0
    assert pairs.try_acquire("n", "u") and not pairs.try_acquire("n", "u")
    pairs.configure(refill_seconds=0)
    assert all(pairs.try_acquire("n", "u") for _ in range(200))
