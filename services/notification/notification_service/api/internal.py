"""Internal endpoints for the other services (service token)."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Response

from bakery_shared.auth import ServicePrincipal
from notification_service.runtime import RuntimeDep
from notification_service.services.tenant_settings import settings_changed

log = logging.getLogger("notification.tenant_client")

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.post(
    "/tenants/{tenant_id}/settings-changed",
    status_code=204,
    responses={204: {"description": "The tenant's cached settings were dropped; the next read asks again"}},
)
async def tenant_settings_changed(tenant_id: uuid.UUID, principal: ServicePrincipal, runtime: RuntimeDep) -> Response:
    """The tenant service changed this tenant's notification settings (or its phone number): forget the cached
    copy so that the next message reads the new settings instead of waiting for the cache TTL."""
    await settings_changed(runtime, tenant_id)
    log.info("tenant settings invalidated tenant_id=%s by=%s", tenant_id, principal.sub)
    return Response(status_code=204)


@router.post(
    "/whatsapp/accounts-changed",
    status_code=204,
    responses={204: {"description": "The cached list of accounts was dropped; the next use reads it again"}},
)
async def whatsapp_accounts_changed(principal: ServicePrincipal, runtime: RuntimeDep) -> Response:
    """The tenant service added, retired or connected a WhatsApp account (issue 18): read the accounts again before
    the next webhook needs them, so a new account's first statuses are not refused as an unknown account's."""
    runtime.accounts.invalidate()
    log.info("whatsapp accounts invalidated by=%s", principal.sub)
    return Response(status_code=204)
