"""The webhook route's rules: the handshake, the signature over the raw bytes, the rate limit, and what Meta is
answered. A signature-valid body is stored (concurrent requests share one transaction) and answered; nothing is
applied on the request path: the applier (``services/webhook_applier.py``) does that in batches. A body that
cannot be used (not JSON, nested too deep, not Meta's envelope) is kept, marked invalid and acknowledged with a 200,
because Meta retries anything else for days with the same bytes, which can never succeed."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bakery_shared.errors import AppError, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from notification_service import metrics
from notification_service.domain.webhook_payload import change_fields, metric_field, parse_body
from notification_service.domain.webhook_security import TokenBucket, signature_problem
from notification_service.services.webhooks import INVALID_BODY, WebhookProcessor

log = logging.getLogger("notification.whatsapp.webhooks")


class SignatureRefused(Unauthorized):
    """401 for a missing or wrong ``X-Hub-Signature-256`` (no ``WWW-Authenticate: Bearer``: no token helps)."""

    def __init__(self, detail: str, *, code: str) -> None:
        AppError.__init__(self, detail, code=code)


@dataclass(frozen=True)
class Receipt:
    """What the webhook POST answers."""

    event_id: int
    duplicate: bool
    invalid: str | None = None

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": "invalid" if self.invalid else "received",
            "event_id": self.event_id,
            "duplicate": self.duplicate,
        }
        if self.invalid:
            answer["detail"] = f"stored, not processed: {self.invalid}"
        return answer

    def encoded(self) -> bytes:
        """:meth:`body` as JSON bytes (what ``JSONResponse`` would send); the common answers without encoding."""
        if self.invalid:
            return json.dumps(self.body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        duplicate = b"true" if self.duplicate else b"false"
        return b'{"status":"received","event_id":%d,"duplicate":%s}' % (self.event_id, duplicate)


class WebhookReceiver:
    """What ``POST``/``GET /api/v1/whatsapp/webhook`` do; raises the shared domain errors."""

    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        app_secret: str,
        verify_token: str,
        bucket: TokenBucket | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.processor = processor
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.bucket = bucket
        self.on_stored = on_stored  # wakes the applier
        self._received: dict[str, Any] = {}  # field → its received-counter child (a label lookup less per POST)

    def verify(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's subscription handshake: ``hub.mode=subscribe`` and the right ``hub.verify_token`` → the challenge."""
        given = (token or "").encode()
        if (
            self.verify_token
            and mode == "subscribe"
            and hmac.compare_digest(given, self.verify_token.encode())
            and challenge is not None
        ):
            return challenge
        metrics.WEBHOOKS_REJECTED.labels(reason="bad_verify_token").inc()
        raise Forbidden("verification failed", code="bad_verify_token")

    async def receive(self, raw: bytes, signature: str | None) -> Receipt:
        """A webhook POST: check the signature over the raw bytes and the bucket, store the bytes, answer."""
        if not self.app_secret:
            metrics.WEBHOOKS_REJECTED.labels(reason="not_configured").inc()
            raise ServiceUnavailable(
                "Webhooks are refused: WHATSAPP_APP_SECRET is not configured", code="webhook_not_configured"
            )
        problem = signature_problem(raw, signature, self.app_secret)
        if problem is not None:
            metrics.WEBHOOKS_REJECTED.labels(reason=problem).inc()
            log.warning("webhook refused: %s (%d bytes)", problem, len(raw))
            detail = "Missing X-Hub-Signature-256" if problem == "missing_signature" else "Invalid X-Hub-Signature-256"
            raise SignatureRefused(detail, code=problem)
        if self.bucket is not None and not self.bucket.take():
            metrics.WEBHOOKS_REJECTED.labels(reason="rate_limited").inc()
            raise TooManyRequests("Too many webhook deliveries; retry later", retry_after=self.bucket.retry_after())
        parsed = parse_body(raw)
        fields = change_fields(parsed)
        for name in fields:
            counter = self._received.get(name)
            if counter is None:
                if len(self._received) >= 64:  # field names come from the body: keep a bounded cache
                    self._received.clear()
                counter = self._received[name] = metrics.WEBHOOKS_RECEIVED.labels(field=metric_field(name))
            counter.inc()
        stored, duplicate = await self.processor.store_received(
            raw, fields, invalid=parsed.problem, payload=parsed.payload if parsed.problem is None else None
        )
        if duplicate:
            previous = stored.last_error or ""
            invalid = previous.removeprefix(INVALID_BODY) if previous.startswith(INVALID_BODY) else None
            return Receipt(stored.id, duplicate=True, invalid=invalid or parsed.problem)
        if parsed.problem is not None:
            metrics.WEBHOOKS_INVALID.labels(part="body").inc()
            log.warning("webhook event %s stored but not usable: %s", stored.id, parsed.problem)
            return Receipt(stored.id, duplicate=False, invalid=parsed.problem)
        if self.on_stored is not None:
            self.on_stored()
        return Receipt(stored.id, duplicate=False)
