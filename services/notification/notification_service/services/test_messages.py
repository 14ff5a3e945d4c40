"""``POST /api/v1/tenants/{tenant_id}/whatsapp/test-message``: check a bakery's set-up end to end."""

from __future__ import annotations

import uuid

from bakery_shared.errors import Conflict, NotFound, ServiceUnavailable
from notification_service.runtime import Runtime
from notification_service.services.ingestion import Accepted, queue_test_message
from notification_service.tenant_client import TenantNotFound, TenantServiceUnavailable


async def send_test_message(runtime: Runtime, tenant_id: uuid.UUID, to: str) -> Accepted:
    missing = runtime.settings.missing_master_account_variables()
    if missing:
        raise ServiceUnavailable(
            "WhatsApp master account not configured: set " + ", ".join(missing), code="master_account_not_configured"
        )
    try:
        tenant = await runtime.tenants.get(tenant_id)
    except TenantNotFound as exc:
        raise NotFound("No such tenant") from exc
    except TenantServiceUnavailable as exc:
        raise ServiceUnavailable(
            "The tenant service is unavailable; try again shortly", code="tenant_service_unavailable"
        ) from exc
    if not tenant.whatsapp_phone_number_id.strip():
        raise Conflict("WhatsApp has no phone number assigned for this bakery", code="no_phone_number")
    accepted = await queue_test_message(
        runtime.sessions,
        tenant_id=tenant_id,
        to=to,
        language=tenant.whatsapp_default_language,
        per_hour=runtime.settings.test_messages_per_tenant_per_hour,
        notify_other_processes=runtime.notify_other_processes,
    )
    runtime.wakeup.notify()
    return accepted
