"""Tenant service settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from bakery_shared.settings import WhatsAppSettings


class TenantSettings(WhatsAppSettings):
    tenant_database_url: str = "sqlite+aiosqlite:///./var/tenant.db"
    tenant_host: str = "127.0.0.1"
    tenant_port: int = 8001
    #: Meta allows about 200 management calls an hour: the master account's number list is cached this long.
    phone_numbers_cache_seconds: float = Field(default=60.0, ge=0)
    #: Base URL of the notification service, used by the web pages (``/app``) through CORS.
    notification_service_public_url: str = "http://127.0.0.1:8002"
    #: Base URL of the notification service as this service reaches it: after a change of a tenant's notification
    #: settings or phone number, it is told to drop its cached copy (best effort). Empty: not told (the cache
    #: expires after its TTL).
    notification_service_url: str = ""
    notification_service_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    #: Where the business tokens of bakeries' own accounts connected through Embedded Signup are written (one file
    #: per account, mode 0600; the directory is created 0700). Relative paths are under the working directory.
    whatsapp_account_secrets_dir: Path = Path("var/secrets")
    #: The dev sign-in page that lists demo users; always off in production.
    dev_login_enabled: bool = True


@lru_cache
def get_settings() -> TenantSettings:
    return TenantSettings()
