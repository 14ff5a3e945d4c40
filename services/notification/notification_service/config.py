"""Settings of the notification service (environment variables, optional ``.env``).

Every field maps to the upper-case environment variable of the same name, e.g. ``dispatch_batch_size`` is
``DISPATCH_BATCH_SIZE``. The master WhatsApp account fields come from :class:`WhatsAppSettings`.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from bakery_shared.settings import WhatsAppSettings
from notification_service.domain.supplier_replies import DEFAULT_OPT_IN_WORDS, DEFAULT_OPT_OUT_WORDS

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/notification.db"


class NotificationSettings(WhatsAppSettings):
    # --- service ---
    notification_database_url: str = DEFAULT_DATABASE_URL
    notification_host: str = "127.0.0.1"
    notification_port: int = Field(default=8002, ge=1, le=65535)
    notification_migrate_on_start: bool = True  # used by ``python -m notification_service`` only

    # --- the tenant service (settings source) ---
    tenant_service_url: str = "http://127.0.0.1:8001"
    tenant_service_timeout_seconds: float = Field(default=5.0, gt=0)
    tenant_settings_ttl_seconds: float = Field(default=60.0, ge=0)
    tenant_settings_stale_if_error_seconds: float = Field(default=600.0, ge=0)
    tenant_service_max_in_flight: int = Field(default=10, ge=1, le=100)
    tenant_unavailable_retry_seconds: float = Field(default=10.0, gt=0)

    # --- global switch ---
    enable_whatsapp_notifications: bool = True
    #: Browser origins allowed to call this API (the tenant service's web pages under /app).
    notification_cors_origins: list[str] = ["http://localhost:8001", "http://127.0.0.1:8001"]

    # --- dispatcher ---
    dispatcher_enabled: bool = True  # run a dispatcher inside the API process
    dispatch_batch_size: int = Field(default=100, ge=1, le=1000)
    dispatch_concurrency: int = Field(default=16, ge=1, le=512)
    dispatch_poll_interval_seconds: float = Field(default=1.0, gt=0)
    #: batches one dispatcher works on at once (PostgreSQL; SQLite always 1): while one batch sends, the next is
    #: claimed and gated, so the database round trips of one overlap the HTTP calls of the other
    dispatch_batches_in_flight: int = Field(default=2, ge=1, le=8)
    #: test messages one bakery may queue per hour (429 with Retry-After beyond it)
    test_messages_per_tenant_per_hour: int = Field(default=20, ge=1, le=10_000)
    dispatch_lease_seconds: float = Field(default=60.0, ge=5)
    dispatch_shutdown_grace_seconds: float = Field(default=15.0, ge=0)
    dispatch_listen_notify: bool = True  # PostgreSQL LISTEN/NOTIFY wake-ups across processes
    rate_wait_horizon_seconds: float = Field(default=2.0, ge=0, le=30)
    #: ``python -m notification_service.dispatch`` serves Prometheus metrics on this port (0 = off). No auth:
    #: bind it to an internal interface (``DISPATCHER_METRICS_HOST``) and never publish it.
    dispatcher_metrics_port: int = Field(default=0, ge=0, le=65535)
    dispatcher_metrics_host: str = "127.0.0.1"

    # --- retries ---
    max_attempts: int = Field(default=5, ge=1, le=100)  # transient failures before "failed"
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    throttle_base_seconds: float = Field(default=1.0, gt=0)
    throttle_max_seconds: float = Field(default=120.0, gt=0)
    app_throttle_seconds: float = Field(default=60.0, gt=0)  # codes 4 / 80007
    maintenance_retry_seconds: float = Field(default=60.0, gt=0)  # code 131057
    ambiguous_grace_seconds: float = Field(default=30.0, ge=0)  # wait for a webhook after a maybe-delivered timeout

    # --- rate limits (shared by every dispatcher through the database) ---
    rate_per_number_per_second: float = Field(default=20.0, gt=0, le=80)
    recipient_min_interval_seconds: float = Field(default=6.0, ge=0)
    #: a bakery's daily new recipients while the portfolio's messaging limit is not known (0 = no cap); once it
    #: is, each bakery gets its share of it (domain/shares.py)
    tenant_daily_new_recipient_cap: int = Field(default=250, ge=0)
    #: bakeries with a purchase-order message in this many days share the portfolio's limit (derived shares)
    recipient_share_active_days: int = Field(default=7, ge=1, le=365)
    #: how often a dispatcher re-reads the shares (portfolio limit, configured shares, active bakeries)
    recipient_share_refresh_seconds: float = Field(default=60.0, ge=0)
    #: a supplier marked unreachable (Meta error 131026) is tried again after this many days (0: only once the
    #: owner or an admin clears it)
    unreachable_recipient_days: int = Field(default=30, ge=0, le=3650)

    # --- holds (credential / restricted numbers); a cycle waits interval × 4^failures, capped ---
    hold_probe_interval_seconds: float = Field(default=30.0, gt=0)
    hold_probe_max_interval_seconds: float = Field(default=3600.0, gt=0)
    #: failed probe cycles after which a hold stops probing and waits for an admin's release (dispatch/probes.py)
    hold_max_probe_cycles: int = Field(default=5, ge=1, le=50)

    # --- webhooks (issue 5) ---
    #: Meta's payloads can be up to 3 MB; every other route keeps ``MAX_BODY_BYTES``.
    whatsapp_webhook_max_body_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    #: Per-process token bucket for signature-valid webhook POSTs (429 beyond it; Meta retries).
    whatsapp_webhook_rate_per_second: float = Field(default=200.0, gt=0)
    whatsapp_webhook_burst: int = Field(default=1000, ge=1)
    #: The webhook applier's periodic round: events stored by another process, or whose processing failed, are
    #: applied (retried) after at most this many seconds.
    whatsapp_webhook_sweep_interval_seconds: float = Field(default=30.0, gt=0)
    #: This process applies stored webhook events (the API process, or the stand-alone dispatcher
    #: ``python -m notification_service.dispatch``). On PostgreSQL any number of processes may apply (claims skip
    #: locked events); production runs the API with ``false`` and lets the dispatcher processes apply, so the
    #: webhook POST's process only checks and stores (docs/notification.md). On SQLite let one process apply.
    webhook_applier_enabled: bool = True
    #: Stored webhook events applied per transaction by the applier.
    whatsapp_webhook_apply_batch: int = Field(default=200, ge=1, le=5000)
    #: Seconds the applier waits after a wake-up before it claims, so bodies arriving one by one (Meta's usual
    #: trickle) share a transaction instead of paying one each (0: claim at once).
    whatsapp_webhook_apply_linger_seconds: float = Field(default=0.05, ge=0, le=5)
    #: Raw webhook bodies and their status rows are removed after this many days (0: kept forever), except what
    #: a message still needs (unprocessed events, statuses of messages still in flight): docs/notification.md.
    whatsapp_webhook_retention_days: float = Field(default=30.0, ge=0)
    #: How often the sweeper runs the retention job (its first run is at start-up).
    whatsapp_webhook_retention_interval_seconds: float = Field(default=3600.0, gt=0)

    # --- quality, templates, periodic sync from the Graph API ---
    whatsapp_sync_enabled: bool = True  # background sync of numbers and templates inside the API process
    whatsapp_sync_interval_seconds: float = Field(default=900.0, ge=60)
    whatsapp_sync_first_delay_seconds: float = Field(default=2.0, ge=0)  # first sync soon after start
    whatsapp_sync_min_interval_seconds: float = Field(default=30.0, ge=0)  # between two manual syncs

    # --- costs ---
    #: ``{"<ISO country or *>": {"<category>": "<EUR per message>"}}`` as JSON; replaces the built-in card.
    whatsapp_rate_card: dict[str, dict[str, Decimal]] | None = None
    whatsapp_rate_card_file: Path | None = None  # CSV (either layout of domain/pricing.parse_csv) or legacy JSON
    #: Every process re-reads the rates loaded with ``bakery-admin rates load`` this often.
    whatsapp_rate_card_refresh_seconds: float = Field(default=60.0, ge=1)
    #: Days of Meta's pricing analytics the periodic sync reads (and replaces) each run; 0 = do not read them.
    whatsapp_pricing_sync_days: int = Field(default=35, ge=0, le=365)

    # --- events for the platform (issue 16): signed HTTP and RabbitMQ; empty = that destination is off ---
    #: Every supplier decision, reply and opt-out is POSTed here (signed with ``OUTBOUND_EVENTS_SECRET``).
    outbound_events_url: str = ""
    outbound_events_secret: SecretStr = SecretStr("")
    #: ``amqp://user:password@host:5672/vhost``: publish events and consume purchase orders. Empty: no broker.
    rabbitmq_url: SecretStr = SecretStr("")
    rabbitmq_events_exchange: str = "events.exchange"
    #: the routing key purchase-order events arrive with (bound to the service's queue)
    rabbitmq_po_routing_key: str = "procurement.po_approved"
    #: the routing keys staff alert events arrive with (issue 17), bound to the same queue; empty: not consumed
    rabbitmq_inventory_alert_routing_key: str = Field(default="", max_length=255)
    rabbitmq_production_alert_routing_key: str = Field(default="", max_length=255)
    #: purchase orders over RabbitMQ (services/po_consumer.py, docs/notification.md): the topic exchange the
    #: platform publishes procurement events on, and this service's durable queue bound to it (dead letters in
    #: ``<queue>.dlq``)
    rabbitmq_po_exchange: str = "events.exchange"
    rabbitmq_po_queue: str = Field(default="notification.purchase_orders", min_length=1, max_length=200)
    #: messages handed to the consumer before it acknowledges any (bounded in-flight work)
    rabbitmq_po_prefetch: int = Field(default=32, ge=1, le=1000)
    #: a message that could not be stored (database unavailable) is handed back to the broker after this pause
    rabbitmq_po_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: a message failing for any other unexpected reason this many times goes to the dead-letter queue
    rabbitmq_po_max_failures: int = Field(default=5, ge=1, le=1000)
    #: pause between two attempts to (re)connect to the broker
    rabbitmq_reconnect_seconds: float = Field(default=5.0, gt=0, le=300)
    #: the key that signs the quick-reply button payloads of purchase-order messages (empty: derived from
    #: ``JWT_SECRET``, see domain/button_payloads.py)
    button_payload_secret: SecretStr = SecretStr("")
    #: deliver stored events from this process (the API process and ``python -m notification_service.dispatch``;
    #: several processes share the work on PostgreSQL, run one on SQLite)
    outbound_delivery_enabled: bool = True
    #: failed attempts per destination before an event is ``dead`` (an admin re-drives it)
    outbound_events_max_attempts: int = Field(default=12, ge=1, le=100)
    outbound_events_retry_base_seconds: float = Field(default=5.0, gt=0)
    outbound_events_retry_max_seconds: float = Field(default=900.0, gt=0)
    #: one HTTP POST (per phase: connect, send, answer) or one RabbitMQ connect and publish with its confirm; an
    #: attempt is abandoned after twice this
    outbound_events_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: a claimed event is another process's again after this (a crash mid-delivery); > 2 × timeout + 1
    outbound_events_lease_seconds: float = Field(default=60.0, ge=5)
    outbound_events_batch_size: int = Field(default=50, ge=1, le=1000)
    outbound_events_poll_interval_seconds: float = Field(default=1.0, gt=0)
    #: whole messages (trimmed; case, accents and surrounding punctuation ignored) that opt a supplier out of one
    #: bakery's messages, and back in (JSON lists; defaults for the template languages es and en)
    supplier_opt_out_words: list[str] = Field(default_factory=lambda: list(DEFAULT_OPT_OUT_WORDS))
    supplier_opt_in_words: list[str] = Field(default_factory=lambda: list(DEFAULT_OPT_IN_WORDS))

    @property
    def outbound_destinations(self) -> frozenset[str]:
        """The destinations an event stored now is delivered to."""
        found = set()
        if self.outbound_events_url:
            found.add("http")
        if self.rabbitmq_url.get_secret_value():
            found.add("amqp")
        return frozenset(found)

    @model_validator(mode="after")
    def _outbound_events_checks(self) -> NotificationSettings:
        url = self.outbound_events_url
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"OUTBOUND_EVENTS_URL={url!r} must be an http:// or https:// URL")
        if url and not self.outbound_events_secret.get_secret_value():
            raise ValueError(
                "OUTBOUND_EVENTS_URL is set but OUTBOUND_EVENTS_SECRET is empty: every event is signed with it "
                "(e.g. `openssl rand -hex 32`, shared with the subscriber)"
            )
        if self.outbound_events_lease_seconds <= 2 * self.outbound_events_timeout_seconds + 1:
            raise ValueError(
                "OUTBOUND_EVENTS_LEASE_SECONDS must exceed twice OUTBOUND_EVENTS_TIMEOUT_SECONDS plus one second (an "
                "attempt may take that long; a shorter lease lets another process deliver the event again meanwhile)"
            )
        return self

    @field_validator("whatsapp_rate_card", mode="before")
    @classmethod
    def _parse_rate_card(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value

    @property
    def database_url(self) -> str:
        return self.notification_database_url

    def log_secrets(self) -> list[str]:
        """Values the log filter must redact: JWT secret, access token (also the file's), app secret, verify token."""
        values = [
            self.jwt_secret.get_secret_value(),
            self.whatsapp_access_token.get_secret_value(),
            self.whatsapp_app_secret.get_secret_value(),
            self.whatsapp_webhook_verify_token.get_secret_value(),
            self.outbound_events_secret.get_secret_value(),
            self.rabbitmq_url.get_secret_value(),
            self.button_payload_secret.get_secret_value(),
        ]
        if self.whatsapp_access_token_file is not None:
            with contextlib.suppress(OSError):
                values.append(self.whatsapp_access_token_file.read_text(encoding="utf-8").strip())
        return [v for v in values if v]
