"""Settings of the WhatsApp sandbox (a local fake of Meta's Graph API).

The sandbox reuses the WhatsApp variables every service reads (``WHATSAPP_ACCESS_TOKEN``,
``WHATSAPP_BUSINESS_ACCOUNT_ID``, ``WHATSAPP_APP_SECRET``, ``WHATSAPP_WEBHOOK_VERIFY_TOKEN``) and adds its
own ``SANDBOX_*`` knobs. Empty WhatsApp values fall back to the documented development values, so a bare
``python -m wa_sandbox`` works with the dev ``.env.example``.
"""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from bakery_shared.settings import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_APP_SECRET,
    SANDBOX_VERIFY_TOKEN,
    ProductionConfigError,
    WhatsAppSettings,
)

DEV_ACCESS_TOKEN = SANDBOX_ACCESS_TOKEN
DEV_BUSINESS_ACCOUNT_ID = "100000000000001"
DEV_APP_SECRET = SANDBOX_APP_SECRET
DEV_VERIFY_TOKEN = SANDBOX_VERIFY_TOKEN
#: the Meta app id of development (the app that exchanges Embedded Signup codes and owns resumable uploads)
DEV_APP_ID = "100000000000099"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8002/api/v1/whatsapp/webhook"
#: ``SANDBOX_WEBHOOK_URL=off`` turns webhooks off (an empty value means "not set", i.e. the default URL).
WEBHOOKS_OFF = frozenset({"off", "none"})


class SandboxConfigError(RuntimeError):
    """The sandbox refuses a configuration that would expose its control API."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class SandboxSettings(WhatsAppSettings):
    """WhatsApp settings plus the sandbox's own knobs (env names are the upper-cased field names)."""

    #: the Meta app's id (``client_id`` of ``/oauth/access_token``, ``<APP_ID>`` of ``POST /<APP_ID>/uploads``);
    #: empty: ``DEV_APP_ID``. Its secret is WHATSAPP_APP_SECRET.
    whatsapp_app_id: str = ""
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8009, ge=1, le=65535)
    #: Bearer token of the control API (``/_sandbox/...``). Required when SANDBOX_HOST is not a loopback address
    #: (anyone who reaches the port could otherwise rewrite numbers, tokens and faults); optional on 127.0.0.1.
    sandbox_control_token: SecretStr = SecretStr("")
    # Where status / inbound / template webhooks are POSTed. ``off`` = webhooks off.
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
    # Webhook POSTs in flight at once (Meta delivers concurrently; 8 capped a drain's status deliveries at
    # 36-170/s, below three per message sent).
    sandbox_webhook_concurrency: int = Field(default=32, ge=1, le=256)
    # Status webhooks per POST. Meta aggregates updates into one POST (up to 1,000, "cannot be guaranteed"): with
    # more than 1, the statuses of one WABA that fall due within SANDBOX_WEBHOOK_BATCH_WINDOW_SECONDS go out in one
    # signed POST, one ``changes[]`` item each. 1 (the default): one POST per status.
    sandbox_webhook_batch_max: int = Field(default=1, ge=1, le=1000)
    sandbox_webhook_batch_window_seconds: float = Field(default=0.05, ge=0, le=5)
    # The day the Graph versions' end dates are checked against (bakery_shared.graph_versions): a version past
    # its end is refused as Meta does (code 2635). Empty: today (UTC). Also settable at run time: POST /_sandbox/clock.
    sandbox_today: date | None = None
    # Seconds after which a newly created template is approved (with a webhook); negative = stays PENDING.
    sandbox_template_auto_approve_seconds: float = -1.0

    @field_validator("sandbox_webhook_url")
    @classmethod
    def _webhooks_off(cls, value: str) -> str:
        return "" if value.strip().lower() in WEBHOOKS_OFF else value

    @model_validator(mode="after")
    def _control_api_needs_a_token_off_loopback(self) -> SandboxSettings:
        if not is_loopback(self.sandbox_host) and not self.sandbox_control_token.get_secret_value():
            raise SandboxConfigError(
                f"SANDBOX_HOST={self.sandbox_host} makes the sandbox reachable from other machines: set "
                "SANDBOX_CONTROL_TOKEN so that its control API (/_sandbox/...) needs a bearer token, or listen "
                "on 127.0.0.1"
            )
        return self

    @property
    def control_token(self) -> str:
        return self.sandbox_control_token.get_secret_value()

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
    def app_id(self) -> str:
        return self.whatsapp_app_id.strip() or DEV_APP_ID

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
