"""Prometheus metrics of the notification service (one module, so every definition lives in one place).

Served by the shared ``/metrics`` route (``bakery_shared.observability``, admin or service token).
Dispatcher metrics can be added here too.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOKS_RECEIVED = Counter(
    "whatsapp_webhooks_received_total",
    "Signature-valid webhook changes received, by Meta field",
    ["field"],
)
WEBHOOKS_REJECTED = Counter(
    "whatsapp_webhooks_rejected_total",
    "Webhook POSTs refused, by reason (bad_signature, missing_signature, not_configured, rate_limited, bad_json)",
    ["reason"],
)
MESSAGE_STATUS = Counter(
    "whatsapp_message_status_total",
    "Status webhooks applied to a message, by status (duplicates and stale ones are not counted)",
    ["status"],
)
HELD_NUMBERS = Gauge(
    "whatsapp_held_numbers",
    "Phone numbers whose sending is paused (any hold kind)",
)
COST_EUR = Counter(
    "whatsapp_cost_eur_total",
    "Cost of delivered template messages in EUR from the rate card, by tenant",
    ["tenant_id"],
)
