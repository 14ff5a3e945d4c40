"""The webhook route's rules: the handshake, the signature over the raw bytes, the rate limit, and what Meta is
answered. A signature-valid body is always stored before anything is applied; one that cannot be used (not JSON,
nested too deep, not Meta's envelope) is kept, marked invalid and acknowledged with a 200, because Meta retries
anything else for days with the same bytes, which can never succeed."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from bakery_shared.errors import AppError, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from notification_service import metrics
from notification_service.domain.webhook_payload import change_fields, metric_field, parse_body
from notification_service.domain.webhook_security import TokenBucket, signature_problem
from notification_service.services.webhooks import INVALID_BODY, WebhookProcessor

if TYPE_CHECKING:
    from notification_service.services.sync import WhatsAppSync

log = logging.getLogger("notification.whatsapp.webhooks")


class SignatureRefused(Unauthorized):
    """401 for a missing or wrong ``X-Hub-Signature-256`` (no ``WWW-Authenticate: Bearer``: no token helps)."""

    def __init__(self, detail: str, *, code: str) -> None:
        AppError.__init__(self, detail, code=code)


@dataclass(frozen=True)
class Receipt:
    """What the webhook POST answers, and what to run after the answer (a Graph read of changed numbers)."""

    event_id: int
    duplicate: bool
    invalid: str | None = None
    follow_up: Callable[[], Awaitable[None]] | None = None

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": "invalid" if self.invalid else "received",
            "event_id": self.event_id,
            "duplicate": self.duplicate,
        }
        if self.invalid:
            answer["detail"] = f"stored, not processed: {self.invalid}"
        return answer


class WebhookReceiver:
    """What ``POST``/``GET /api/v1/whatsapp/webhook`` do; raises the shared domain errors."""

    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        app_secret: str,
        verify_token: str,
        bucket: TokenBucket | None = None,
        sync: WhatsAppSync | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.processor = processor
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.bucket = bucket
        self.sync = sync
        self.on_change = on_change

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
        """A webhook POST: check the signature over the raw bytes, store them, process them (one item at a time)."""
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
            metrics.WEBHOOKS_RECEIVED.labels(field=metric_field(name)).inc()
        stored = await self.processor.store(raw, fields)
        if stored.processed:
            previous = stored.last_error or ""
            invalid = previous.removeprefix(INVALID_BODY) if previous.startswith(INVALID_BODY) else None
            return Receipt(stored.id, duplicate=True, invalid=invalid)
        result = await self.processor.process(stored.id, parsed)
        if result is None:  # failed (the sweeper retries it) or being processed by another process
            return Receipt(stored.id, duplicate=False)
        follow_up = None
        if self.sync is not None and (result.numbers_to_refresh or result.refresh_all_numbers):
            follow_up = partial(self.sync.follow_up, set(result.numbers_to_refresh), result.refresh_all_numbers)
        if self.on_change is not None:
            self.on_change()  # holds may have been lifted
        return Receipt(stored.id, duplicate=False, invalid=result.invalid_body, follow_up=follow_up)
