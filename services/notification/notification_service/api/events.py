"""``POST /api/v1/events/purchase-orders`` and the registry's staff alert events (service token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from bakery_shared.auth import SERVICE_BEARER, ServicePrincipal
from bakery_shared.errors import AppError
from bakery_shared.http import read_body, send_json
from notification_service.api.schemas import AcceptedOut, AlertAcceptedOut
from notification_service.domain.events import PurchaseOrderEvent
from notification_service.domain.kinds import KIND_PURCHASE_ORDER, KINDS, KindSpec
from notification_service.runtime import Runtime

PATH = "/api/v1/events/purchase-orders"

#: Content-Type values the lean path reads as JSON. FastAPI reads these as JSON, and more (any
#: ``application/*+json``, any parameters, any letter case), but not a body without the header (its strict content
#: type, a 422): those all go the framework's way, which answers them exactly as before.
_JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8", b"application/json; charset=UTF-8"})


async def _accept(runtime: Runtime, event: PurchaseOrderEvent) -> tuple[int, bytes]:
    """The intake's answer: 202 for a new event, 200 for one already accepted (a different body under the same
    event id raises ``Conflict``, a 409); AcceptedOut's JSON, written directly (a UUID and a status name need no
    escaping)."""
    accepted = await runtime.intake.accept(event)
    if accepted.created:
        runtime.wakeup.notify()
    body = f'{{"notification_id":"{accepted.notification_id}","status":"{accepted.status}"}}'
    return (202 if accepted.created else 200), body.encode()


async def ingest_purchase_order(
    event: PurchaseOrderEvent,
    _: ServicePrincipal,
    request: Request,
) -> Response:
    # documents the route (OpenAPI) and answers every request the lean path leaves to FastAPI (``LeanIngestRoute``)
    status, body = await _accept(request.app.state.runtime, event)
    return Response(body, status_code=status, media_type="application/json")


def _lean_event(
    scope: Scope, raw: bytes, authorization: bytes | None, content_type: bytes | None
) -> PurchaseOrderEvent | None:
    """The event of a request that FastAPI would accept: a JSON body (by its Content-Type), a valid
    service token (``SERVICE_BEARER``: the dependency's own check and token cache) and a body the model accepts.
    None for anything else, which FastAPI then answers itself (statuses, bodies and their order unchanged: an
    unparsable body is a 422 before the token is looked at, an invalid one after)."""
    if not raw or content_type not in _JSON_TYPES:
        return None
    try:
        SERVICE_BEARER.authenticate(
            authorization.decode("latin-1") if authorization is not None else None, scope["app"].state.settings
        )
        # JSON mode parses and validates in one pass; where it accepts, ``json.loads`` + validation (FastAPI's
        # way) accepts the same event (tests/notification/test_ingestion_lean.py); where it refuses, FastAPI's
        # way gives the answer (its messages differ: ``json.loads``'s own, UTF-16 and BOMs read, …)
        return PurchaseOrderEvent.model_validate_json(raw)
    except (AppError, ValidationError):
        return None


class LeanIngestRoute(APIRoute):
    """``POST /api/v1/events/purchase-orders`` (the hot route: one call per purchase order, at the callers'
    concurrency), declared and documented like any FastAPI route (its OpenAPI entry comes from
    :func:`ingest_purchase_order`). An accepted event is served as plain ASGI: no ``Request``, no dependency
    solving, no response object, which together cost more per event than the intake itself. Everything else
    (no or a wrong token, an invalid body, another method) goes to FastAPI's own handling of the route with the
    body already read, so every refusal is the same answer as before; the shared middleware (request id, access
    log, metrics, body limit) sees both paths alike."""

    async def handle(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await super().handle(scope, receive_message, send)  # 405, as FastAPI answers it
            return
        authorization: bytes | None = None
        content_type: bytes | None = None
        for name, value in scope["headers"]:  # the first of each, as ``Request.headers.get`` reads them
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        raw = await read_body(receive_message)
        if raw is None:
            return  # the client went away, or the body limit answered 413 already
        event = _lean_event(scope, raw, authorization, content_type)
        if event is None:
            await super().handle(scope, _replay(raw, receive_message), send)
            return
        status, body = await _accept(scope["app"].state.runtime, event)
        await send_json(send, status, body)


def _replay(raw: bytes, receive_message: Receive) -> Receive:
    """``receive`` for FastAPI's handler: the body already read, then the client's own messages (disconnect)."""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> Message:
        return pending.pop() if pending else await receive_message()

    return receive


def _alert_route(kind: KindSpec) -> Callable[..., Awaitable[Response]]:
    model = kind.event_model

    async def ingest_alert(event: model, _: ServicePrincipal, request: Request) -> Response:  # type: ignore[valid-type]
        runtime: Runtime = request.app.state.runtime
        assert runtime.alerts is not None
        accepted = await runtime.alerts.accept(kind, event)
        if accepted.created and accepted.notification_ids:
            runtime.wakeup.notify()
        body = AlertAcceptedOut(notification_ids=accepted.notification_ids).model_dump_json()
        return Response(body, status_code=202 if accepted.created else 200, media_type="application/json")

    ingest_alert.__annotations__["event"] = model  # the kind's contract (a string annotation would not resolve)
    ingest_alert.__doc__ = (
        f"{kind.label}: one message per staff number that takes the kind ({kind.template} template); "
        "idempotent per (tenant_id, event_id) like purchase orders."
    )
    return ingest_alert


def install(app: FastAPI) -> None:
    """The route is added to the app itself rather than through an included router: FastAPI matches an included
    router's routes twice per request (once to pick the router, once inside it)."""
    app.router.add_api_route(
        PATH,
        ingest_purchase_order,
        methods=["POST"],
        status_code=202,
        response_model=AcceptedOut,
        responses={
            200: {"model": AcceptedOut, "description": "The same event was already accepted"},
            409: {"description": "Same event id with a different body"},
        },
        tags=["events"],
        route_class_override=LeanIngestRoute,
    )
    for kind in KINDS.values():  # the registry's other event doors (staff alerts)
        if kind.name == KIND_PURCHASE_ORDER:
            continue
        app.router.add_api_route(
            f"/api/v1/events/{kind.event_path}",
            _alert_route(kind),
            methods=["POST"],
            status_code=202,
            response_model=AlertAcceptedOut,
            responses={
                200: {"model": AlertAcceptedOut, "description": "The same event was already accepted"},
                409: {"description": "Same event id with a different body"},
            },
            tags=["events"],
            name=f"ingest_{kind.name}",
        )
