"""Tenants and their notification settings (owners and admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from bakery_shared.auth import AdminOrOwner, AdminPrincipal, ensure_tenant_access
from bakery_shared.contracts import NotificationSettings, Offset
from tenant_service.api.deps import Service
from tenant_service.schemas import NotificationSettingsUpdate, TenantCreate, TenantOut, TenantPage

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantOut)
async def create_tenant(body: TenantCreate, _: AdminPrincipal, service: Service) -> TenantOut:
    tenant = await service.create_tenant(body.name)
    return TenantOut.model_validate(tenant, from_attributes=True)


@router.get("", response_model=TenantPage)
async def list_tenants(
    _: AdminPrincipal,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> TenantPage:
    rows, total = await service.list_tenants(limit, offset)
    items = [TenantOut.model_validate(r, from_attributes=True) for r in rows]
    return TenantPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{tenant_id}", response_model=TenantOut)
async def get_tenant(tenant_id: uuid.UUID, principal: AdminOrOwner, service: Service) -> TenantOut:
    ensure_tenant_access(principal, tenant_id)
    return TenantOut.model_validate(await service.get_tenant(tenant_id), from_attributes=True)


@router.get("/{tenant_id}/settings/notifications", response_model=NotificationSettings)
async def get_notification_settings(
    tenant_id: uuid.UUID, principal: AdminOrOwner, service: Service
) -> NotificationSettings:
    ensure_tenant_access(principal, tenant_id)
    return await service.notification_settings(tenant_id)


@router.put("/{tenant_id}/settings/notifications", response_model=NotificationSettings)
async def put_notification_settings(
    tenant_id: uuid.UUID, body: NotificationSettingsUpdate, principal: AdminOrOwner, service: Service
) -> NotificationSettings:
    ensure_tenant_access(principal, tenant_id)
    return await service.update_notification_settings(principal, tenant_id, body.model_dump(exclude_unset=True))
