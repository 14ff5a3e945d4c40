"""``POST /api/v1/events/purchase-orders`` and the registry's staff alert events (service token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from bakery_shared.auth import ServicePrincipal
from notification_service.api.schemas import AcceptedOut, AlertAcceptedOut
from notification_service.domain.events import PurchaseOrderEvent
from notification_service.domain.kinds import KIND_PURCHASE_ORDER, KINDS, KindSpec
from notification_service.runtime import Runtime

PATH = "/api/v1/events/purchase-orders"


async def ingest_purchase_order(
    event: PurchaseOrderEvent,
    _: ServicePrincipal,
    request: Request,
) -> Response:
    # the hot route: the runtime is read directly, not through ``RuntimeDep`` (one dependency level less to resolve)
    runtime: Runtime = request.app.state.runtime
    accepted = await runtime.intake.accept(event)
    if accepted.created:
        runtime.wakeup.notify()
    # AcceptedOut's JSON, written directly: a UUID and a status name need no escaping
    body = f'{{"notification_id":"{accepted.notification_id}","status":"{accepted.status}"}}'
    return Response(body, status_code=202 if accepted.created else 200, media_type="application/json")


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
