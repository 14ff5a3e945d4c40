"""Meta's webhook endpoint: the verification handshake (GET) and signed events (POST). Public routes."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from notification_service import metrics
from notification_service.runtime import Runtime, get_runtime
from notification_service.services.webhooks import SIGNATURE_HEADER, change_fields, signature_problem

log = logging.getLogger("notification.whatsapp.webhooks")

WEBHOOK_PATH = "/api/v1/whatsapp/webhook"
router = APIRouter(tags=["webhooks"])


def _refuse(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


@router.get(WEBHOOK_PATH, response_class=PlainTextResponse, include_in_schema=True)
async def verify(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    """Meta's subscription handshake: ``hub.mode=subscribe`` and the right ``hub.verify_token`` → the challenge."""
    import hmac

    params = request.query_params
    expected = runtime.settings.whatsapp_webhook_verify_token.get_secret_value()
    given = params.get("hub.verify_token", "")
    if (
        expected
        and params.get("hub.mode") == "subscribe"
        and hmac.compare_digest(given.encode(), expected.encode())
        and "hub.challenge" in params
    ):
        return PlainTextResponse(params["hub.challenge"], status_code=200)
    metrics.WEBHOOKS_REJECTED.labels(reason="bad_verify_token").inc()
    return PlainTextResponse("verification failed", status_code=403)


@router.post(WEBHOOK_PATH, responses={401: {}, 429: {}, 503: {}})
async def receive(
    request: Request, background: BackgroundTasks, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Response:
    """Signed events. The signature is checked over the raw bytes before anything is parsed or stored."""
    secret = runtime.settings.whatsapp_app_secret.get_secret_value()
    if not secret or runtime.webhooks is None:
        metrics.WEBHOOKS_REJECTED.labels(reason="not_configured").inc()
        return _refuse(503, "Webhooks are refused: WHATSAPP_APP_SECRET is not configured", "webhook_not_configured")
    raw = await request.body()
    problem = signature_problem(raw, request.headers.get(SIGNATURE_HEADER), secret)
    if problem is not None:
        metrics.WEBHOOKS_REJECTED.labels(reason=problem).inc()
        log.warning("webhook refused: %s (%d bytes)", problem, len(raw))
        detail = "Missing X-Hub-Signature-256" if problem == "missing_signature" else "Invalid X-Hub-Signature-256"
        return _refuse(401, detail, problem)
    bucket = runtime.webhook_bucket
    if bucket is not None and not bucket.take():
        metrics.WEBHOOKS_REJECTED.labels(reason="rate_limited").inc()
        return _refuse(
            429, "Too many webhook deliveries; retry later", "rate_limited", {"Retry-After": str(bucket.retry_after())}
        )
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        metrics.WEBHOOKS_REJECTED.labels(reason="bad_json").inc()
        return _refuse(400, "The body is not JSON", "bad_json")
    fields = change_fields(payload)
    for name in fields:
        metrics.WEBHOOKS_RECEIVED.labels(field=name).inc()
    event_id, processed = await runtime.webhooks.store(raw, fields)
    if not processed:
        result = await runtime.webhooks.process(event_id)
        sync = runtime.sync
        if result is not None and sync is not None and (result.numbers_to_refresh or result.refresh_all_numbers):
            background.add_task(sync.follow_up, set(result.numbers_to_refresh), result.refresh_all_numbers)
        if result is not None:
            runtime.wakeup.notify()  # holds may have been lifted
    return JSONResponse({"status": "received", "event_id": event_id, "duplicate": processed})
