"""Meta's webhook endpoint: the verification handshake (GET) and signed events (POST). Public routes; the rules
(signature, rate limit, storing, the answer) are the receiver's (``services/webhook_receiver.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from notification_service.domain.webhook_security import SIGNATURE_HEADER
from notification_service.runtime import RuntimeDep
from notification_service.services.webhook_receiver import WebhookReceiver

WEBHOOK_PATH = "/api/v1/whatsapp/webhook"
router = APIRouter(tags=["webhooks"])


async def get_receiver(runtime: RuntimeDep) -> WebhookReceiver:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop on every request
    return runtime.webhook_receiver


Receiver = Annotated[WebhookReceiver, Depends(get_receiver)]


@router.get(WEBHOOK_PATH, response_class=PlainTextResponse, responses={403: {}})
async def verify(request: Request, receiver: Receiver) -> PlainTextResponse:
    """Meta's subscription handshake: ``hub.mode=subscribe`` and the right ``hub.verify_token`` → the challenge."""
    params = request.query_params
    return PlainTextResponse(
        receiver.verify(params.get("hub.mode"), params.get("hub.verify_token"), params.get("hub.challenge"))
    )


@router.post(WEBHOOK_PATH, responses={401: {}, 429: {}, 503: {}})
async def receive(request: Request) -> JSONResponse:
    """Signed events: 200 once stored (``status`` = ``received``, or ``invalid`` for a body that cannot be used);
    applied afterwards, in batches, by the applier."""
    # the hot route (Meta sends ~3 per message): the receiver is read directly, not through dependency injection,
    # which costs more per request than everything the route itself does
    receiver: WebhookReceiver = request.app.state.runtime.webhook_receiver
    receipt = await receiver.receive(await request.body(), request.headers.get(SIGNATURE_HEADER))
    return JSONResponse(receipt.body())
