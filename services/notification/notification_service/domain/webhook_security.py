"""Who may post a webhook: the ``X-Hub-Signature-256`` check over the raw bytes, and a per-process token bucket."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_problem(raw: bytes, header: str | None, app_secret: str) -> str | None:
    """None when ``header`` is ``sha256=<hex HMAC-SHA256 of raw>``; else the rejection reason."""
    if not header:
        return "missing_signature"
    if not header.startswith("sha256="):
        return "bad_signature"
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
        return "bad_signature"
    return None


class TokenBucket:
    """Per-process limit on accepted webhook POSTs (monotonic clock)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self) -> int:
        return max(1, int((1 - self.tokens) / self.rate) + 1)
