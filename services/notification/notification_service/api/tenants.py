"""Per-tenant WhatsApp actions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from bakery_shared.auth import AdminOrOwner, ensure_tenant_access
from notification_service.api.schemas import AcceptedOut
from notification_service.domain.events import WhatsAppTestMessageRequest
from notification_service.runtime import RuntimeDep
from notification_service.services.test_messages import send_test_message

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post(
    "/{tenant_id}/whatsapp/test-message",
    status_code=202,
    response_model=AcceptedOut,
    responses={
        409: {"description": "No WhatsApp number is assigned to this bakery"},
        429: {"description": "The bakery's hourly quota of test messages is used up (see Retry-After)"},
    },
)
async def test_message(
    tenant_id: uuid.UUID,
    body: WhatsAppTestMessageRequest,
    principal: AdminOrOwner,
    runtime: RuntimeDep,
) -> AcceptedOut:
    ensure_tenant_access(principal, tenant_id)
    accepted = await send_test_message(runtime, tenant_id, body.to)
    return AcceptedOut(notification_id=accepted.notification_id, status=accepted.status)
