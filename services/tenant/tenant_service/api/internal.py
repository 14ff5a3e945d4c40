"""Internal endpoints for the notification service (service token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from bakery_shared.auth import ServicePrincipal
from bakery_shared.contracts import InternalNotificationSettings
from tenant_service.api.deps import Accounts, Service
from tenant_service.schemas import InternalAccounts, PhoneOwnerOut
from tenant_service.services import settings_etag

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.get(
    "/tenants/{tenant_id}/notification-settings",
    response_model=InternalNotificationSettings,
    responses={304: {"description": "Not modified (matches If-None-Match)"}},
)
async def internal_notification_settings(
    tenant_id: uuid.UUID, request: Request, _: ServicePrincipal, service: Service
) -> Response:
    current = await service.internal_settings(tenant_id)
    payload = current.model_dump(mode="json")
    etag = settings_etag(payload)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    candidates = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return JSONResponse(payload, headers=headers)


@router.get("/whatsapp/phone-numbers/{phone_number_id}/tenant", response_model=PhoneOwnerOut)
async def phone_number_owner(
    phone_number_id: Annotated[str, Path(pattern=r"^[0-9]{1,64}$", description="Meta's phone number id")],
    _: ServicePrincipal,
    service: Service,
) -> PhoneOwnerOut:
    assignment, name = await service.owner_of_number(phone_number_id)
    return PhoneOwnerOut(
        phone_number_id=assignment.phone_number_id,
        tenant_id=assignment.tenant_id,
        tenant_name=name,
        display_phone_number=assignment.display_phone_number,
        waba_id=assignment.waba_id,
    )


@router.get("/whatsapp/accounts", response_model=InternalAccounts)
async def whatsapp_accounts(_: ServicePrincipal, accounts: Accounts) -> InternalAccounts:
    """Every account (the environment's first, retired ones included): token references, never tokens."""
    return InternalAccounts(accounts=await accounts.accounts())
