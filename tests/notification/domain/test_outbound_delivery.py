"""The pure rules of delivering events (domain/outbound_delivery.py): the bytes, the signature, what an HTTP answer
means, and when to try again."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import pytest

from notification_service.domain.outbound_delivery import (
    Outcome,
    RetryPolicy,
    Verdict,
    http_headers,
    http_outcome,
    parse_retry_after,
    raw_body,
    signature,
    verify,
)

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def test_the_body_bytes_do_not_depend_on_the_stored_key_order() -> None:
    a = raw_body({"b": 1, "a": {"y": "ñ", "x": None}})
    assert a == raw_body({"a": {"x": None, "y": "ñ"}, "b": 1})
    assert a == '{"a":{"x":null,"y":"ñ"},"b":1}'.encode()


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id":"1"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("k", 1700000000, body) == f"sha256={expected}"
    headers = http_headers(
        name="supplier.opted_out", event_id="e1", secret="k", timestamp=1700000000, body=body, attempt=2
    )
    assert headers["X-Bakery-Signature"] == f"sha256={expected}"
    assert headers["X-Bakery-Timestamp"] == "1700000000" and headers["X-Bakery-Event"] == "supplier.opted_out"
    assert headers["X-Bakery-Event-Id"] == "e1" and headers["X-Bakery-Delivery-Attempt"] == "2"
    assert "k" not in headers.values()


@pytest.mark.parametrize(
    ("now", "timestamp", "secret", "body", "ok"),
    [
        (1700000000, "1700000000", "k", b"{}", True),
        (1700000299, "1700000000", "k", b"{}", True),
        (1700000301, "1700000000", "k", b"{}", False),  # replayed later than the window
        (1699999699, "1700000000", "k", b"{}", False),  # from the future beyond the window
        (1700000000, "1700000000", "other", b"{}", False),
        (1700000000, "1700000000", "k", b"{ }", False),
        (1700000000, "soon", "k", b"{}", False),
    ],
)
def test_verify(now: int, timestamp: str, secret: str, body: bytes, ok: bool) -> None:
    assert verify(secret, body, timestamp, signature("k", 1700000000, b"{}"), now=now) is ok


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.RETRY),
        (400, Verdict.DEAD),
        (401, Verdict.RETRY),
        (404, Verdict.RETRY),
        (408, Verdict.RETRY),
        (410, Verdict.DEAD),
        (413, Verdict.DEAD),
        (422, Verdict.DEAD),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_http_answers(status: int, verdict: Verdict) -> None:
    outcome = http_outcome(status, reason="Reason", now=NOW)
    assert outcome.verdict is verdict
    assert outcome.error == (None if verdict is Verdict.DELIVERED else f"HTTP {status} Reason")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Mon, 04 May 2026 09:01:00 GMT", NOW) == 60
    assert parse_retry_after("Mon, 04 May 2026 08:00:00 GMT", NOW) == 0
    assert parse_retry_after("later", NOW) is None and parse_retry_after(None, NOW) is None
    assert http_outcome(429, retry_after="30", now=NOW).retry_after == 30


def test_retry_policy_backs_off_honours_retry_after_and_gives_up() -> None:
    policy = RetryPolicy(max_attempts=4, base_seconds=5, max_seconds=100)
    rng = random.Random(1)
    failure = Outcome.retry("HTTP 503")
    delays = [(policy.after_failure(failure, n, NOW, rng) - NOW).total_seconds() for n in (1, 2, 3)]  # type: ignore[operator]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(100, 5 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert policy.after_failure(failure, 4, NOW, rng) is None  # the last attempt failed: dead
    assert policy.after_failure(Outcome.dead("HTTP 422"), 1, NOW, rng) is None
    asked = policy.after_failure(Outcome.retry("HTTP 429", retry_after=60), 1, NOW, rng)
    assert asked == NOW + timedelta(seconds=60)
    capped = policy.after_failure(Outcome.retry("HTTP 429", retry_after=86400), 1, NOW, rng)
    assert capped == NOW + timedelta(seconds=100)
    assert len(Outcome.retry("x" * 2000).error or "") < 500
