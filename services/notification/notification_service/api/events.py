"""``POST /api/v1/events/purchase-orders`` (service token)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from bakery_shared.auth import ServicePrincipal
from notification_service.api.schemas import AcceptedOut
from notification_service.domain.events import PurchaseOrderEvent
from notification_service.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.post(
    "/purchase-orders",
    status_code=202,
    response_model=AcceptedOut,
    responses={
        200: {"model": AcceptedOut, "description": "The same event was already accepted"},
        409: {"description": "Same event id with a different body"},
    },
)
async def ingest_purchase_order(
    event: PurchaseOrderEvent,
    _: ServicePrincipal,
    runtime: RuntimeDep,
) -> Response:
    accepted = await runtime.intake.accept(event)
    if accepted.created:
        runtime.wakeup.notify()
    # AcceptedOut's JSON, written directly: a UUID and a status name need no escaping
    body = f'{{"notification_id":"{accepted.notification_id}","status":"{accepted.status}"}}'
    return Response(body, status_code=202 if accepted.created else 200, media_type="application/json")
