"""One settings base for every service (pydantic-settings).

Values come from the environment (and an optional ``.env`` file in the working directory). Secrets are
``SecretStr`` so that they never print in a repr, a log line or a response.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-in-production-0123456789"  # noqa: S105 - a documented dev default
META_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v23.0"


class ProductionConfigError(RuntimeError):
    """Raised at start-up when a production deployment still uses a development default."""


class BaseServiceSettings(BaseSettings):
    """Settings every service shares. Services subclass it and add their own fields."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> BaseServiceSettings:
        if self.environment == "production" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ProductionConfigError(
                "JWT_SECRET still has its development default; set a real secret before ENVIRONMENT=production"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class WhatsAppSettings(BaseServiceSettings):
    """The master WhatsApp Business Account, shared by every tenant (one set of credentials)."""

    whatsapp_graph_url: str = META_GRAPH_URL
    whatsapp_api_version: str = DEFAULT_GRAPH_API_VERSION
    whatsapp_business_account_id: str = ""
    whatsapp_access_token: SecretStr = SecretStr("")
    whatsapp_access_token_file: Path | None = None
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: SecretStr = SecretStr("")
    whatsapp_webhook_verify_token: SecretStr = SecretStr("")
    whatsapp_http_timeout_seconds: float = Field(default=10.0, gt=0)
    whatsapp_max_in_flight: int = Field(default=16, ge=1, le=512)
    #: HTTP transport of the Graph client: ``aiohttp`` (httpx API over aiohttp, much cheaper per request) or
    #: ``httpx`` (httpx's own pool). Clients built with an explicit ``transport=`` (tests) ignore it.
    whatsapp_http_transport: Literal["httpx", "aiohttp"] = "httpx"

    def missing_master_account_variables(self) -> list[str]:
        """Names of the variables the master account still needs (empty when configured)."""
        missing: list[str] = []
        if not self.whatsapp_business_account_id:
            missing.append("WHATSAPP_BUSINESS_ACCOUNT_ID")
        if not self.whatsapp_access_token.get_secret_value() and self.whatsapp_access_token_file is None:
            missing.append("WHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE)")
        return missing
