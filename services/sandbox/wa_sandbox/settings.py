"""Settings of the WhatsApp sandbox (a local fake of Meta's Graph API).

The sandbox reuses the WhatsApp variables every service reads (``WHATSAPP_ACCESS_TOKEN``,
``WHATSAPP_BUSINESS_ACCOUNT_ID``, ``WHATSAPP_APP_SECRET``, ``WHATSAPP_WEBHOOK_VERIFY_TOKEN``) and adds its
own ``SANDBOX_*`` knobs. Empty WhatsApp values fall back to the documented development values, so a bare
``python -m wa_sandbox`` works with the dev ``.env.example``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bakery_shared.settings import ProductionConfigError, WhatsAppSettings

DEV_ACCESS_TOKEN = "sandbox-access-token"  # noqa: S105 - documented dev value
DEV_BUSINESS_ACCOUNT_ID = "100000000000001"
DEV_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - documented dev value
DEV_VERIFY_TOKEN = "sandbox-verify-token"  # noqa: S105 - documented dev value
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8002/api/v1/whatsapp/webhook"


class SandboxSettings(WhatsAppSettings):
    """WhatsApp settings plus the sandbox's own knobs (env names are the upper-cased field names)."""

    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8009, ge=1, le=65535)
    # Where status / inbound / template webhooks are POSTed. Empty string = webhooks off.
    sandbox_webhook_url: str = DEFAULT_WEBHOOK_URL
    # Per phone number token bucket (Meta's default is 80 messages per second).
    sandbox_throughput_per_second: float = Field(default=80.0, gt=0)
    # Per (business number, recipient) pair: a burst of SANDBOX_PAIR_LIMIT messages, then one more every
    # SANDBOX_PAIR_REFILL_SECONDS (Meta: 1 message per 6 s, bursts of up to 45 borrow from future quota).
    sandbox_pair_limit: int = Field(default=45, ge=1)
    sandbox_pair_refill_seconds: float = Field(default=6.0, ge=0)
    # HTTP status for throttling errors (130429, 131056). Meta's legacy table says 400; some integrators see 429.
    sandbox_throttle_http_status: int = Field(default=400, ge=400, le=599)
    # Optional JSON seed file replacing the packaged seed.json.
    sandbox_seed_file: Path | None = None
    # Webhook timings.
    sandbox_status_delay_seconds: float = Field(default=0.2, ge=0)
    sandbox_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    sandbox_webhook_max_attempts: int = Field(default=8, ge=1)
    sandbox_webhook_retry_base_seconds: float = Field(default=1.0, ge=0)
    sandbox_webhook_retry_max_seconds: float = Field(default=60.0, ge=0)
    # Oldest accepted Graph API major version (older versions are rejected as deprecated).
    sandbox_min_api_version: int = Field(default=18, ge=1)
    # Seconds after which a newly created template is approved (with a webhook); negative = stays PENDING.
    sandbox_template_auto_approve_seconds: float = -1.0

    @property
    def valid_access_token(self) -> str:
        token = self.whatsapp_access_token.get_secret_value()
        if not token and self.whatsapp_access_token_file is not None:
            try:
                token = self.whatsapp_access_token_file.read_text(encoding="utf-8").strip()
            except OSError:
                token = ""
        return token or DEV_ACCESS_TOKEN

    @property
    def app_secret(self) -> str:
        return self.whatsapp_app_secret.get_secret_value() or DEV_APP_SECRET

    @property
    def verify_token(self) -> str:
        return self.whatsapp_webhook_verify_token.get_secret_value() or DEV_VERIFY_TOKEN

    @property
    def business_account_id(self) -> str | None:
        return self.whatsapp_business_account_id or None

    def refuse_production(self) -> None:
        """The sandbox is a development tool: never let it run where ENVIRONMENT=production."""
        if self.is_production:
            raise ProductionConfigError("the WhatsApp sandbox must not run with ENVIRONMENT=production")
