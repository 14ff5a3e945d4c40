"""A tenant's settings changed at the tenant service: every process must stop using its cached copy."""

from __future__ import annotations

import uuid

from bakery_shared.db import is_sqlite, transaction
from notification_service.repositories.signals import notify_tenant_changed
from notification_service.runtime import Runtime


async def settings_changed(runtime: Runtime, tenant_id: uuid.UUID) -> None:
    """Drop this process's copy now; on PostgreSQL also tell every stand-alone dispatcher (``NOTIFY``), which
    drops its copy, and whose batches in flight do not send with what they read before (``dispatch/batch.py``)."""
    runtime.tenants.invalidate(tenant_id)
    if not is_sqlite(runtime.settings.database_url):
        async with transaction(runtime.sessions) as session:
            await notify_tenant_changed(session, tenant_id)
