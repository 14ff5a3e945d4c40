"""The seed's admin endpoints for the master account's phone numbers (admin token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from bakery_shared.auth import AdminPrincipal
from bakery_shared.contracts import Offset
from tenant_service.api.deps import Service
from tenant_service.schemas import (
    AssignmentResult,
    AssignPhoneRequest,
    AuditEntry,
    PhoneNumberOut,
    TenantWhatsAppOut,
)

router = APIRouter(prefix="/api/v1/admin/whatsapp", tags=["admin: whatsapp"])


@router.get(
    "/phone-numbers",
    response_model=list[PhoneNumberOut],
    responses={200: {"headers": {"X-Unreadable-Accounts": {"description": "WABA ids whose numbers are missing"}}}},
)
async def list_phone_numbers(_: AdminPrincipal, service: Service, response: Response) -> list[dict[str, object]]:
    listing = await service.phone_numbers()
    if listing.failures:
        # the others' numbers are listed; GET /accounts says what is wrong with these
        response.headers["X-Unreadable-Accounts"] = ",".join(account.waba_id for account, _ in listing.failures)
    return listing.numbers


@router.get("/tenants", response_model=list[TenantWhatsAppOut])
async def list_tenants_whatsapp(
    _: AdminPrincipal,
    service: Service,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[dict[str, object]]:
    rows = await service.tenants_whatsapp_status(limit, offset)
    response.headers["X-Total-Count"] = str(await service.tenant_count())
    return [row.as_dict() for row in rows]


@router.post("/tenants/{tenant_id}/assign-phone", response_model=AssignmentResult)
async def assign_phone(
    tenant_id: uuid.UUID, body: AssignPhoneRequest, principal: AdminPrincipal, service: Service
) -> dict[str, object]:
    status, changed = await service.assign_phone(principal, tenant_id, body.phone_number_id, body.display_phone_number)
    message = (
        f"Assigned {status.display_phone_number} to {status.tenant_name}"
        if changed
        else f"{status.display_phone_number} was already assigned to {status.tenant_name}; nothing changed"
    )
    return {**status.as_dict(), "changed": changed, "message": message}


@router.delete("/tenants/{tenant_id}/unassign-phone", response_model=AssignmentResult)
async def unassign_phone(tenant_id: uuid.UUID, principal: AdminPrincipal, service: Service) -> dict[str, object]:
    status, changed = await service.unassign_phone(principal, tenant_id)
    message = (
        f"Freed the number of {status.tenant_name} and turned WhatsApp off"
        if changed
        else f"{status.tenant_name} had no number assigned; nothing changed"
    )
    return {**status.as_dict(), "changed": changed, "message": message}


@router.get("/audit", response_model=list[AuditEntry])
async def audit_trail(
    _: AdminPrincipal,
    service: Service,
    tenant_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[dict[str, object]]:
    return await service.audit(tenant_id, limit, offset)
