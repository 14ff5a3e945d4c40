"""What suppliers write back (issue 16): a bakery's opted-out suppliers, and the admin's inbound log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from bakery_shared.auth import AdminOrOwner, AdminPrincipal, ensure_tenant_access
from notification_service.api.schemas import InboundOut, InboundPage, OptedOutListOut
from notification_service.runtime import RuntimeDep
from notification_service.services import supplier_replies as service

tenant_router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])
admin_router = APIRouter(prefix="/api/v1/admin/whatsapp", tags=["admin whatsapp"])


@tenant_router.get("/{tenant_id}/whatsapp/opted-out", response_model=OptedOutListOut)
async def opted_out(tenant_id: uuid.UUID, principal: AdminOrOwner, runtime: RuntimeDep) -> OptedOutListOut:
    """Suppliers who wrote an opt-out word (STOP, BAJA, …) to this bakery: its messages to them are skipped until
    they write an opt-in word (START, ALTA, …). Only the supplier can lift it."""
    ensure_tenant_access(principal, tenant_id)
    async with runtime.sessions() as session:
        return await service.list_opted_out(session, tenant_id)


@admin_router.get("/inbound", response_model=InboundPage)
async def inbound(
    principal: AdminPrincipal,
    runtime: RuntimeDep,
    tenant_id: uuid.UUID | None = None,
    before: Annotated[datetime | None, Query(description="next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboundPage:
    """Every message suppliers wrote (taps, replies, opt-outs), newest first, with what each did."""
    async with runtime.sessions() as session:
        rows = await service.list_inbound(session, principal, tenant_id=tenant_id, before=before, limit=limit + 1)
    page = rows[:limit]
    return InboundPage(
        items=[InboundOut.model_validate(r) for r in page],
        next_before=page[-1]["received_at"] if len(rows) > limit else None,
    )
