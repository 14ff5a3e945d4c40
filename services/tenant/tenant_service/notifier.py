"""Tells the notification service that a tenant's notification settings, or the WhatsApp accounts, changed (best
effort).

``POST {NOTIFICATION_SERVICE_URL}/internal/v1/tenants/{tenant_id}/settings-changed`` with a service JWT, after
the change is committed. The notification service then drops its cached copy, so that a number taken from a
bakery stops being used at once instead of when the cache expires. A failure is logged and otherwise ignored:
the cache TTL (``TENANT_SETTINGS_TTL_SECONDS`` there) remains the bound. Empty ``NOTIFICATION_SERVICE_URL``: off.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import httpx

from bakery_shared.auth import Role, issue_token
from bakery_shared.observability import outbound_headers
from tenant_service.config import TenantSettings

log = logging.getLogger("tenant.notifier")

_TOKEN_TTL = timedelta(minutes=5)


class SettingsChangeNotifier:
    def __init__(self, settings: TenantSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        url = settings.notification_service_url.strip().rstrip("/")
        self._http = (
            httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(settings.notification_service_timeout_seconds),
                transport=transport,
            )
            if url
            else None
        )

    @property
    def enabled(self) -> bool:
        return self._http is not None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def settings_changed(self, tenant_id: uuid.UUID) -> bool:
        """Returns whether the notification service confirmed; never raises."""
        return await self._post(
            f"/internal/v1/tenants/{tenant_id}/settings-changed", f"the settings of tenant {tenant_id}"
        )

    async def accounts_changed(self) -> bool:
        """An account was added, retired or connected (issue 18): the notification service reads the accounts again
        before the next webhook or send needs them, instead of refusing a new account's first webhooks as unknown
        until its cached list expires. Never raises."""
        return await self._post("/internal/v1/whatsapp/accounts-changed", "the WhatsApp accounts")

    async def _post(self, path: str, what: str) -> bool:
        if self._http is None:
            return False
        token = issue_token(self._settings, role=Role.SERVICE, sub="tenant-service", ttl=_TOKEN_TTL)
        headers = {"Authorization": f"Bearer {token}", **outbound_headers()}
        try:
            response = await self._http.post(path, headers=headers)
        except Exception as exc:  # noqa: BLE001 - the change is committed; reporting it must never fail the request
            log.warning(
                "could not tell the notification service that %s changed (%s); its cache expires by itself",
                what,
                type(exc).__name__,
            )
            return False
        if response.status_code != 204:
            log.warning(
                "the notification service answered HTTP %s to the change of %s; its cache expires by itself",
                response.status_code,
                what,
            )
            return False
        return True
