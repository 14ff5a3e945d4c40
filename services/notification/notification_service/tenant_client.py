"""Tenant notification settings from the tenant service, cached (TTL + ETag revalidation).

``GET {TENANT_SERVICE_URL}/internal/v1/tenants/{tenant_id}/notification-settings`` with a service JWT.
Steady traffic is answered from memory; after the TTL one conditional request (``If-None-Match``) revalidates,
and a 304 costs no body. When the tenant service is down, a recent copy is used (stale-if-error); without one,
:class:`TenantServiceUnavailable` tells the dispatcher to keep the message queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import httpx
from pydantic import BaseModel, ValidationError

from bakery_shared.auth import Role, issue_token
from bakery_shared.contracts import InternalNotificationSettings, WhatsAppAccount
from bakery_shared.observability import outbound_headers
from notification_service.config import NotificationSettings

log = logging.getLogger("notification.tenant_client")

_TOKEN_TTL = timedelta(hours=1)
_TOKEN_REFRESH_BEFORE = 300.0  # seconds
_DOWN_BACKOFF = 1.0  # after a failure, do not call again for this long (per process)


class TenantServiceUnavailable(Exception):
    """The tenant service could not answer (down, timeout, 5xx, bad body). Retry later."""


class TenantNotFound(Exception):
    """The tenant service answered 404 for this tenant."""


class _AccountsBody(BaseModel):
    accounts: list[WhatsAppAccount]


@dataclass
class _Entry:
    value: InternalNotificationSettings
    etag: str | None
    validated_at: float


@dataclass
class TenantClientStats:
    requests: int = 0
    not_modified: int = 0
    errors: int = 0
    stale_served: int = 0
    invalidations: int = 0


class TenantSettingsClient:
    def __init__(
        self,
        settings: NotificationSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        #: no test transport: requests go straight to an aiohttp session (an httpx request costs several times the
        #: CPU of an aiohttp one: with 200 tenants, a dispatcher's cold cache cost ~0.3 ms per message of a
        #: 2,000-message drain; docs/benchmarks.md, issue 14). Tests pass an httpx transport (respx, mocks).
        self._aiohttp = transport is None
        self._session: aiohttp.ClientSession | None = None
        self._base_url = settings.tenant_service_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=settings.tenant_service_url.rstrip("/"),
            timeout=httpx.Timeout(settings.tenant_service_timeout_seconds),
            transport=transport,
        )
        self._cache: dict[uuid.UUID, _Entry] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._gate = asyncio.Semaphore(settings.tenant_service_max_in_flight)
        self._token: str | None = None
        self._token_expires = 0.0
        self._down_until = 0.0
        self._accounts_down_until = 0.0
        #: Bumped by every invalidation: an answer fetched across one may predate the change and is not cached.
        self._invalidations = 0
        self._tenant_changes: dict[uuid.UUID, int] = {}
        self._all_changes = 0
        self.stats = TenantClientStats()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._http.aclose()

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        """Forget one tenant's cached settings (or all): the next :meth:`get` asks the tenant service again.

        Called when the tenant service reports a change (``POST /internal/v1/tenants/{id}/settings-changed``).
        """
        self.stats.invalidations += 1
        self._invalidations += 1
        if tenant_id is None:
            self._all_changes += 1
            self._cache.clear()
        else:
            self._tenant_changes[tenant_id] = self._tenant_changes.get(tenant_id, 0) + 1
            self._cache.pop(tenant_id, None)

    def version(self, tenant_id: uuid.UUID) -> tuple[int, int]:
        """Changes so far to what this client knows of a tenant: the dispatcher reads it before the look-up and
        again right before a send; a difference means the settings changed meanwhile (e.g. the number was
        unassigned), so the message is not sent with what it read."""
        return self._all_changes, self._tenant_changes.get(tenant_id, 0)

    def _service_token(self) -> str:
        now = time.time()
        if self._token is None or now > self._token_expires - _TOKEN_REFRESH_BEFORE:
            self._token = issue_token(self._settings, role=Role.SERVICE, sub="notification-service", ttl=_TOKEN_TTL)
            self._token_expires = now + _TOKEN_TTL.total_seconds()
        return self._token

    def fresh(self, tenant_id: uuid.UUID) -> InternalNotificationSettings | None:
        """The cached settings while they are within the TTL (what :meth:`get` answers without any I/O), else None."""
        entry = self._cache.get(tenant_id)
        if entry is not None and self._clock() - entry.validated_at < self._settings.tenant_settings_ttl_seconds:
            return entry.value
        return None

    async def get(self, tenant_id: uuid.UUID) -> InternalNotificationSettings:
        entry = self._cache.get(tenant_id)
        if entry is not None and self._clock() - entry.validated_at < self._settings.tenant_settings_ttl_seconds:
            return entry.value
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:  # one request per tenant at a time (no thundering herd)
            entry = self._cache.get(tenant_id)
            if entry is not None and self._clock() - entry.validated_at < self._settings.tenant_settings_ttl_seconds:
                return entry.value
            try:
                return await self._fetch(tenant_id, entry)
            except TenantServiceUnavailable:
                self.stats.errors += 1
                if (
                    entry is not None
                    and self._cache.get(tenant_id) is entry  # not invalidated meanwhile
                    and self._clock() - entry.validated_at
                    < self._settings.tenant_settings_ttl_seconds + self._settings.tenant_settings_stale_if_error_seconds
                ):
                    self.stats.stale_served += 1
                    return entry.value
                raise

    async def _fetch(self, tenant_id: uuid.UUID, entry: _Entry | None) -> InternalNotificationSettings:
        if self._clock() < self._down_until:
            raise TenantServiceUnavailable("the tenant service failed moments ago; waiting before calling again")
        headers = {
            "Authorization": f"Bearer {self._service_token()}",
            "Accept": "application/json",
            **outbound_headers(),  # X-Request-ID of the request being served, if any
        }
        if entry is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        path = f"/internal/v1/tenants/{tenant_id}/notification-settings"
        invalidations = self._invalidations
        try:
            async with self._gate:
                self.stats.requests += 1
                status, content, etag = await self._get(path, headers)
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
            self._down_until = self._clock() + _DOWN_BACKOFF
            raise TenantServiceUnavailable(f"tenant service unreachable: {type(exc).__name__}") from exc
        if status == 304 and entry is not None:
            self.stats.not_modified += 1
            if invalidations == self._invalidations:
                entry.validated_at = self._clock()
            return entry.value
        if status == 404:
            self._cache.pop(tenant_id, None)
            raise TenantNotFound(str(tenant_id))
        if status != 200:
            self._down_until = self._clock() + _DOWN_BACKOFF
            raise TenantServiceUnavailable(f"tenant service answered HTTP {status}")
        try:
            value = InternalNotificationSettings.model_validate_json(content)
        except ValidationError as exc:
            raise TenantServiceUnavailable("tenant service answered a body that does not match the contract") from exc
        if invalidations == self._invalidations:
            self._cache[tenant_id] = _Entry(value=value, etag=etag, validated_at=self._clock())
        return value

    async def accounts(self) -> list[WhatsAppAccount] | None:
        """The WhatsApp accounts the tenant service keeps (``GET /internal/v1/whatsapp/accounts``, issue 18); None
        when it cannot tell now (unreachable, an error, a body that does not match the contract: asked again in a
        few seconds); ``[]`` for a tenant service from before issue 18 (404). Either way the caller falls back to
        the environment's account."""
        if self._clock() < max(self._down_until, self._accounts_down_until):
            return None
        headers = {
            "Authorization": f"Bearer {self._service_token()}",
            "Accept": "application/json",
            **outbound_headers(),
        }
        try:
            async with self._gate:
                status, content, _ = await self._get("/internal/v1/whatsapp/accounts", headers)
        except Exception as exc:  # noqa: BLE001 - a best-effort directory: any failure falls back to the environment
            # its own back-off: a directory that cannot be read never delays the settings reads (the sends)
            self._accounts_down_until = self._clock() + _DOWN_BACKOFF
            log.warning("the WhatsApp accounts could not be read from the tenant service: %s", type(exc).__name__)
            return None
        if status == 404:  # a tenant service from before accounts were data: the environment's account alone
            return []
        if status != 200:
            log.warning("the tenant service answered HTTP %s for the WhatsApp accounts", status)
            return None
        try:
            return _AccountsBody.model_validate_json(content).accounts
        except ValidationError:
            log.warning("the tenant service's WhatsApp accounts do not match the contract; ignored")
            return None

    async def _get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        """One GET: (status, body, ETag). Transport failures raise ``httpx.HTTPError`` / ``aiohttp.ClientError`` /
        ``TimeoutError``."""
        if not self._aiohttp:
            answer = await self._http.get(path, headers=headers)
            return answer.status_code, answer.content, answer.headers.get("ETag")
        if self._session is None or self._session.closed:
            timeout = self._settings.tenant_service_timeout_seconds
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.tenant_service_max_in_flight),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )
        async with self._session.get(self._base_url + path, headers=headers, allow_redirects=False) as response:
            return response.status, await response.read(), response.headers.get("ETag")
