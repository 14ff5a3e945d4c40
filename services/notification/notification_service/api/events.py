"""``POST /api/v1/events/purchase-orders`` (service token)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from bakery_shared.auth import ServicePrincipal
from notification_service.api.schemas import AcceptedOut
from notification_service.domain.events import PurchaseOrderEvent
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
