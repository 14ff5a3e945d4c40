"""Meta's webhook endpoint: the verification handshake (GET) and signed events (POST). Public routes; the rules
(signature, rate limit, storing, the answer) are the receiver's (``services/webhook_receiver.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from bakery_shared.http import read_body, send_json
from notification_service.domain.webhook_security import SIGNATURE_HEADER
from notification_service.runtime import RuntimeDep
from notification_service.services.webhook_receiver import WebhookReceiver

WEBHOOK_PATH = "/api/v1/whatsapp/webhook"
router = APIRouter(tags=["webhooks"])

_SIGNATURE_HEADER = SIGNATURE_HEADER.lower().encode("latin-1")


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


async def receive(request: Request) -> JSONResponse:
    """Signed events: 200 once stored (``status`` = ``received``, or ``invalid`` for a body that cannot be used);
    applied afterwards, in batches, by the applier."""
    # documents the route (OpenAPI); requests are served by ``receive_asgi`` (``LeanWebhookRoute``)
    receipt = await request.app.state.runtime.webhook_receiver.receive(
        await request.body(), request.headers.get(SIGNATURE_HEADER)
    )
    return JSONResponse(receipt.body())


async def receive_asgi(scope: Scope, receive_message: Receive, send: Send) -> None:
    """``POST /api/v1/whatsapp/webhook`` as a plain ASGI app (the hot route: Meta calls it about three times per
    message): the raw body and the signature header go to the receiver, its answer goes out pre-encoded. No
    ``Request``, no dependency resolution, no response object, which together cost more per request than the
    route's own work. A refusal is raised like anywhere else (the shared handlers answer it); the shared middleware
    still gives it its request id, access-log line, metrics and body-size limit. (``Request.body()`` raised
    ``ClientDisconnect`` when the body limit cut a streamed body off: an "unhandled" exception after the 413.)"""
    signature: str | None = None
    for name, value in scope["headers"]:
        if name == _SIGNATURE_HEADER:
            signature = value.decode("latin-1")
            break
    raw = await read_body(receive_message)
    if raw is None:
        return  # the client went away, or the body limit answered 413 already: nothing to store or answer
    receiver: WebhookReceiver = scope["app"].state.runtime.webhook_receiver
    await send_json(send, 200, (await receiver.receive(raw, signature)).encoded())


class LeanWebhookRoute(APIRoute):
    """Declared and documented like any FastAPI route (its OpenAPI entry comes from ``receive``); served by
    :func:`receive_asgi`. Matching (path and method) and ``scope["route"]`` are FastAPI's as usual."""

    async def handle(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        await receive_asgi(scope, receive_message, send)


def install(app: FastAPI) -> None:
    """The webhook routes. The POST is added to the app itself, ahead of the included routers: FastAPI matches an
    included router's routes twice (once to pick the router, once inside it), which cost more than the lean route
    itself; and it is moved to the very front of the app's routes, before FastAPI's documentation routes and the
    routers included earlier (``/metrics``), which every POST was matched against first. No other route has its
    path, so the order changes nothing else."""
    app.router.add_api_route(
        WEBHOOK_PATH,
        receive,
        methods=["POST"],
        response_class=JSONResponse,
        responses={401: {}, 429: {}, 503: {}},
        tags=["webhooks"],
        route_class_override=LeanWebhookRoute,
    )
    app.router.routes.insert(0, app.router.routes.pop())
    app.include_router(router)
