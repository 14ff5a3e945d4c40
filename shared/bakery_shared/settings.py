"""One settings base for every service (pydantic-settings).

Values come from the environment (and an optional ``.env`` file in the working directory). An empty value, in
the environment or in ``.env`` (``WHATSAPP_ACCESS_TOKEN_FILE=`` as ``.env.example`` ships it), means "not set":
the field keeps its default. Secrets are ``SecretStr`` so that they never print in a repr, a log line or a
response. ``ENVIRONMENT=production`` refuses, at load, the development values anyone can read in this repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bakery_shared.graph_versions import (
    DEFAULT_GRAPH_API_VERSION,
    GRAPH_API_VERSIONS,
    normalize_version,
    supported_list,
)

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-in-production-0123456789"  # noqa: S105 - a documented dev default
#: The WhatsApp sandbox's credentials (its seed, ``.env.example``, ``make run``): public, so never production values.
SANDBOX_ACCESS_TOKEN = "sandbox-access-token"  # noqa: S105 - documented dev value
SANDBOX_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - documented dev value
SANDBOX_VERIFY_TOKEN = "sandbox-verify-token"  # noqa: S105 - documented dev value
#: Shortest JWT secret accepted in production (RFC 7518 §3.2: an HS256 key of at least 256 bits).
MIN_PRODUCTION_JWT_SECRET_BYTES = 32
META_GRAPH_URL = "https://graph.facebook.com"
# DEFAULT_GRAPH_API_VERSION (imported above) and the versions' dates live in bakery_shared.graph_versions.


class ProductionConfigError(RuntimeError):
    """Raised at start-up when a production deployment still uses a development default."""


class BaseServiceSettings(BaseSettings):
    """Settings every service shares. Services subclass it and add their own fields."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> BaseServiceSettings:
        if self.environment != "production":
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == DEV_JWT_SECRET:
            raise ProductionConfigError(
                "JWT_SECRET still has its development default; set a real secret before ENVIRONMENT=production"
            )
        if len(secret.encode()) < MIN_PRODUCTION_JWT_SECRET_BYTES:
            raise ProductionConfigError(
                f"JWT_SECRET is {len(secret.encode())} bytes long; ENVIRONMENT=production needs at least "
                f"{MIN_PRODUCTION_JWT_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`)"
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
    #: the Meta app's id: Meta's Resumable Upload API (template media headers) and Embedded Signup need it
    whatsapp_app_id: str = ""
    whatsapp_webhook_verify_token: SecretStr = SecretStr("")
    whatsapp_http_timeout_seconds: float = Field(default=10.0, gt=0)
    whatsapp_max_in_flight: int = Field(default=16, ge=1, le=512)
    #: HTTP transport of the Graph client: ``aiohttp`` (httpx API over aiohttp, much cheaper per request) or
    #: ``httpx`` (httpx's own pool). Clients built with an explicit ``transport=`` (tests) ignore it.
    whatsapp_http_transport: Literal["httpx", "aiohttp"] = "httpx"

    @field_validator("whatsapp_api_version")
    @classmethod
    def _known_graph_version(cls, value: str) -> str:
        """A version the product has no dates for is refused at start-up (an expired one is reported by
        readiness: it depends on the day, settings do not; see bakery_shared.graph_versions)."""
        name = normalize_version(value)
        if name not in GRAPH_API_VERSIONS:
            raise ValueError(
                f"WHATSAPP_API_VERSION={value!r} is not a Graph API version the product supports ({supported_list()}); "
                f"use e.g. {DEFAULT_GRAPH_API_VERSION}"
            )
        return name

    @model_validator(mode="after")
    def _refuse_sandbox_credentials_in_production(self) -> WhatsAppSettings:
        if self.environment != "production":
            return self
        verify_token = self.whatsapp_webhook_verify_token.get_secret_value()
        known = [
            ("WHATSAPP_ACCESS_TOKEN", self.whatsapp_access_token.get_secret_value(), SANDBOX_ACCESS_TOKEN),
            ("WHATSAPP_APP_SECRET", self.whatsapp_app_secret.get_secret_value(), SANDBOX_APP_SECRET),
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", verify_token, SANDBOX_VERIFY_TOKEN),
        ]
        if self.whatsapp_access_token_file is not None:
            try:
                from_file = self.whatsapp_access_token_file.read_text(encoding="utf-8").strip()
            except OSError:
                from_file = ""  # not readable yet: the Graph client reports it when it needs the token
            known.append(("WHATSAPP_ACCESS_TOKEN_FILE", from_file, SANDBOX_ACCESS_TOKEN))
        for name, value, sandbox_value in known:
            if value == sandbox_value:
                raise ProductionConfigError(
                    f"{name} holds the WhatsApp sandbox's published development value; ENVIRONMENT=production "
                    "needs the real value from Meta (see docs/whatsapp-master-account-setup.md)"
                )
        return self

    def missing_master_account_variables(self) -> list[str]:
        """Names of the variables the master account still needs (empty when configured)."""
        missing: list[str] = []
        if not self.whatsapp_business_account_id:
            missing.append("WHATSAPP_BUSINESS_ACCOUNT_ID")
        if not self.whatsapp_access_token.get_secret_value() and self.whatsapp_access_token_file is None:
            missing.append("WHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE)")
        return missing
