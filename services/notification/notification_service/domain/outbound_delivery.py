"""Rules for delivering events to the platform (issue 16), pure: the bytes sent, the signature, what an answer means
and when to try again. The worker (``outbound/worker.py``) applies them; docs/notification.md "Events for the
platform" tells subscribers how to verify.

Signature: ``X-Bakery-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw_body}")>`` with
``X-Bakery-Timestamp: <unix seconds>``. The timestamp is inside the signed text, so a subscriber that refuses
timestamps older than :data:`REPLAY_WINDOW_SECONDS` refuses a replayed request, and remembering the event ids it has
seen inside that window (``X-Bakery-Event-Id``) makes delivery idempotent.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from notification_service.domain.backoff import exponential_backoff

SIGNATURE_HEADER = "X-Bakery-Signature"
TIMESTAMP_HEADER = "X-Bakery-Timestamp"
EVENT_HEADER = "X-Bakery-Event"
EVENT_ID_HEADER = "X-Bakery-Event-Id"
ATTEMPT_HEADER = "X-Bakery-Delivery-Attempt"
#: what subscribers should accept: a timestamp at most this far from their clock (either way)
REPLAY_WINDOW_SECONDS = 300

#: HTTP answers that say the subscriber will never take this body: the event is dead at once (an admin re-drives
#: it once the subscriber is fixed). Every other non-2xx answer, a timeout or a refused connection is retried.
PERMANENT_HTTP_STATUSES = frozenset({400, 410, 413, 422})
#: ``*_last_error`` is 500 characters
_MAX_ERROR_TEXT = 480


def raw_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes every destination gets for an event: compact JSON with sorted keys, so an event's body is
    the same at every attempt whatever the database did to the stored JSON's key order."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Bakery-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, body: bytes, timestamp: str, signature_header: str, *, now: float) -> bool:
    """The subscriber's check (as documented): the timestamp is within the replay window of ``now`` and the
    signature matches the raw body. Constant-time comparison."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent_at) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, sent_at, body), signature_header or "")


def http_headers(*, name: str, event_id: str, secret: str, timestamp: int, body: bytes, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVENT_HEADER: name,
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        ATTEMPT_HEADER: str(attempt),
    }


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"  # will never succeed as it is (a permanent refusal): no more attempts


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt at one destination came to. ``error`` never holds a secret (a status code, an exception
    type and its message with URLs stripped of credentials by the caller)."""

    verdict: Verdict
    error: str | None = None
    retry_after: float | None = None  # seconds the destination asked for (HTTP Retry-After)

    @classmethod
    def delivered(cls) -> Outcome:
        return cls(Verdict.DELIVERED)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> Outcome:
        return cls(Verdict.RETRY, error[:_MAX_ERROR_TEXT], retry_after)

    @classmethod
    def dead(cls, error: str) -> Outcome:
        return cls(Verdict.DEAD, error[:_MAX_ERROR_TEXT])


def http_outcome(status: int, *, reason: str = "", retry_after: str | None = None, now: datetime) -> Outcome:
    """A subscriber's HTTP answer: 2xx delivered; 400/410/413/422 dead at once; anything else (3xx not followed,
    401/403/404 while a deployment is fixed, 408, 429, 5xx) retried, after ``Retry-After`` when given."""
    if 200 <= status < 300:
        return Outcome.delivered()
    text = f"HTTP {status}" + (f" {reason}" if reason else "")
    if status in PERMANENT_HTTP_STATUSES:
        return Outcome.dead(text)
    return Outcome.retry(text, parse_retry_after(retry_after, now))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def after_failure(
        self, outcome: Outcome, attempts: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to try again after failed attempt number ``attempts`` (1-based); None: the event is dead."""
        if outcome.verdict is Verdict.DEAD or attempts >= self.max_attempts:
            return None
        delay = exponential_backoff(attempts, base=self.base_seconds, cap=self.max_seconds, rng=rng)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self.max_seconds))
        return now + timedelta(seconds=delay)
