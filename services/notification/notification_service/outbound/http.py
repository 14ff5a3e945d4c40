"""The HTTP destination: each event POSTed to ``OUTBOUND_EVENTS_URL``, signed (``domain/outbound_delivery.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx

from notification_service.domain.outbound_delivery import Outcome, http_headers, http_outcome, raw_body
from notification_service.domain.outbound_events import HTTP
from notification_service.repositories.outbound_events import Claimed

USER_AGENT = "bakery-notification-service (events)"


class HttpDestination:
    name = HTTP

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._clock = clock
        # no redirects: a 3xx is a failed attempt (configure the final URL); one connection pool per process
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport, headers={"User-Agent": USER_AGENT}
        )

    async def deliver(self, event: Claimed, now: datetime) -> Outcome:
        body = raw_body(event.payload)
        headers = http_headers(
            name=event.name,
            event_id=str(event.id),
            secret=self._secret,
            timestamp=int(self._clock()),
            body=body,
            attempt=event.attempt,
        )
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome.retry(f"timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome.retry(self._describe(exc))
        return http_outcome(
            response.status_code,
            reason=response.reason_phrase,
            retry_after=response.headers.get("Retry-After"),
            now=now,
        )

    def _describe(self, exc: Exception) -> str:
        """The error for ``last_error`` and logs: the exception's type and text, the URL (it may carry
        credentials) replaced."""
        return f"{type(exc).__name__}: {exc}".replace(self.url, "<OUTBOUND_EVENTS_URL>")

    async def aclose(self) -> None:
        await self._client.aclose()
