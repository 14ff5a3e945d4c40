"""Prometheus metrics of the notification service (one module, so every definition lives in one place).

Served by the shared ``/metrics`` route (``bakery_shared.observability``, admin or service token) of the API
process, and by the stand-alone dispatcher on ``DISPATCHER_METRICS_PORT`` when that is set
(:func:`start_dispatcher_metrics_server`). Every metric is named ``whatsapp_*``, except the deliveries of events
for the platform (``outbound_event_*``, ``outbound_events``); the HTTP metrics
(``http_requests_total``, ``http_request_duration_seconds``) come from the shared module. docs/operations.md lists
them with example alert rules.

Queue depth, oldest age, holds and the undelivered events are read from the database: at scrape time in the API process
(:func:`refresh_queue_gauges_before_scrape`, cached for a few seconds, two small grouped queries), and periodically
in the stand-alone dispatcher (:func:`refresh_queue_gauges_forever`). They describe the shared database, so every
process reports the same values: aggregate them with ``max``, never ``sum``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from bakery_shared.db import utcnow
from notification_service.dispatch.outcomes import classify
from notification_service.domain.decisions import PHONE_NUMBER_SCOPE
from notification_service.domain.outbound_events import DESTINATIONS
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import outbound_events as outbound_repo
from notification_service.repositories import queue as queue_repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("notification.whatsapp.metrics")

# ---------------------------------------------------------------- webhooks (issue 5)

WEBHOOKS_RECEIVED = Counter(
    "whatsapp_webhooks_received_total",
    "Signature-valid webhook changes received, by Meta field",
    ["field"],
)
WEBHOOKS_REJECTED = Counter(
    "whatsapp_webhooks_rejected_total",
    "Webhook POSTs refused, by reason (bad_signature, missing_signature, not_configured, rate_limited, ...)",
    ["reason"],
)
WEBHOOKS_UNKNOWN_ACCOUNT = Counter(
    "whatsapp_webhook_unknown_account_total",
    "Webhook changes refused because their entry's WABA id is no account of the platform (issue 18), by field",
    ["field"],
)
WEBHOOKS_INVALID = Counter(
    "whatsapp_webhooks_invalid_total",
    "Signed webhook parts stored but not usable (acknowledged, not retried), by part: body, change, status",
    ["part"],
)
WEBHOOK_ROWS_PURGED = Counter(
    "whatsapp_webhook_rows_purged_total",
    "Rows removed by the webhook retention job (WHATSAPP_WEBHOOK_RETENTION_DAYS), by table",
    ["table"],
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

# ---------------------------------------------------------------- what suppliers write back (issue 16)

INBOUND_MESSAGES = Counter(
    "whatsapp_inbound_messages_total",
    "Inbound WhatsApp messages handled, by outcome (decision, later_tap, payload_refused, reply, opted_out, "
    "opted_in, unlinked, duplicate, invalid)",
    ["outcome"],
)
SUPPLIER_DECISIONS = Counter(
    "whatsapp_supplier_decisions_total",
    "Supplier taps on a purchase-order button, by decision (confirmed, rejected; later_tap: after a decision)",
    ["decision"],
)
SUPPLIER_PAYLOADS_REFUSED = Counter(
    "whatsapp_supplier_payloads_refused_total",
    "Button payloads that changed nothing, by reason (malformed, bad_signature, unknown_message, other_number, "
    "other_tenant, other_supplier, replayed)",
    ["reason"],
)
SUPPLIER_REPLIES = Counter(
    "whatsapp_supplier_replies_total",
    "Supplier text (or media) replies linked to a message we sent",
)
SUPPLIER_OPT_CHANGES = Counter(
    "whatsapp_supplier_opt_changes_total",
    "Suppliers opting out of (or back into) one bakery's messages, by change (opted_out, opted_in)",
    ["change"],
)
SUPPLIER_ACKS = Counter(
    "whatsapp_supplier_acks_total",
    "Confirmation replies to a supplier's decision, by result (queued, outside_window, opted_out)",
    ["result"],
)

# ---------------------------------------------------------------- messages and sends (issue 9)

MESSAGES = Counter(
    "whatsapp_messages_total",
    "Message status transitions recorded, by new status and reason code (the part of status_reason before ':')",
    ["status", "reason"],
)
SENDS = Counter(
    "whatsapp_sends_total",
    "Template messages accepted by the Graph API (a wamid came back), by tenant",
    ["tenant_id"],
)
SEND_DURATION = Histogram(
    "whatsapp_send_duration_seconds",
    "Duration of one Graph API send call, by outcome (accepted, error)",
    ["outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20),
)
GRAPH_ERRORS = Counter(
    "whatsapp_graph_errors_total",
    "Failed Graph API sends, by Meta error code (or timeout, transport, not_configured, internal) and retry class",
    ["code", "retry_class"],
)
POSSIBLE_DUPLICATES = Counter(
    "whatsapp_possible_duplicates_total",
    "Sends that may duplicate a message Meta already has (re-sent after an ambiguous timeout or a crash)",
)

# ---------------------------------------------------------------- purchase orders over RabbitMQ (issue 16)

AMQP_PO_MESSAGES = Counter(
    "whatsapp_amqp_po_messages_total",
    "Purchase-order messages consumed from RabbitMQ, by result: created, replay (acknowledged), dead_lettered "
    "(with the rejection code), retried (handed back: not stored yet)",
    ["result", "code"],
)


# ---------------------------------------------------------------- events for the platform (issue 16)

OUTBOUND_DELIVERIES = Counter(
    "outbound_event_deliveries_total",
    "Attempts to deliver an event for the platform, by destination (http, amqp) and result (delivered, retry, "
    "dead, lease_lost)",
    ["destination", "result"],
)
OUTBOUND_BACKLOG = Gauge(
    "outbound_events",
    "Events for the platform not delivered, by destination (http, amqp) and status (pending, dead)",
    ["destination", "status"],
)

# ---------------------------------------------------------------- read from the database

QUEUE_DEPTH = Gauge(
    "whatsapp_queue_depth",
    "Messages not settled yet, by status (queued, sending, held)",
    ["status"],
)
QUEUE_OLDEST_AGE = Gauge(
    "whatsapp_queue_oldest_age_seconds",
    "Age of the oldest queued or sending message, from its creation (0 when there is none)",
)
HOLDS = Gauge(
    "whatsapp_holds",
    "Active sending holds, by scope (account, phone_number, template) and kind (credential, quality, …)",
    ["scope", "kind"],
)
QUEUE_GAUGES_REFRESHED = Gauge(
    "whatsapp_queue_metrics_refreshed_timestamp_seconds",
    "Unix time the queue and hold gauges were last read from the database",
)

_REASON_CODE = re.compile(r"[a-z][a-z0-9_]*")


def reason_code(reason: str | None) -> str:
    """The stable code of a ``status_reason`` (``rate_limited: …`` → ``rate_limited``); ``none`` when empty."""
    if not reason or not reason.strip():
        return "none"
    match = _REASON_CODE.match(reason.strip().lower())
    return match.group(0)[:48] if match else "other"


def count_transition(status: str, reason: str | None, n: int = 1) -> None:
    """One (or ``n``) messages moved to ``status``; ``reason`` is a status_reason or a bare code."""
    if n > 0:
        code = "accepted" if reason is None and status == "sent" else reason_code(reason)
        MESSAGES.labels(status=status, reason=code).inc(n)


def failure_labels(exc: BaseException) -> tuple[str, str]:
    """(code, error class) of a failed send, as the dispatcher classifies it (``dispatch/outcomes.py``)."""
    failure = classify(exc)
    return failure.label, failure.error_class.value


def record_send(tenant_id: Any, result: object, seconds: float) -> None:
    """Account for one Graph send: its duration, and either the tenant's send or the error's code."""
    if isinstance(result, BaseException):
        SEND_DURATION.labels(outcome="error").observe(seconds)
        code, retry_class = failure_labels(result)
        GRAPH_ERRORS.labels(code=code, retry_class=retry_class).inc()
    else:
        _ACCEPTED_DURATION.observe(seconds)
        child = _SENDS_OF.get(tenant_id)
        if child is None:
            if len(_SENDS_OF) >= 10_000:  # bounded: the registry keeps the children all the same
                _SENDS_OF.clear()
            child = _SENDS_OF[tenant_id] = SENDS.labels(tenant_id=str(tenant_id))
        child.inc()


#: ``.labels()`` children of the per-send metrics, looked up once (a labels() call hashes and locks each time)
_ACCEPTED_DURATION = SEND_DURATION.labels(outcome="accepted")
_SENDS_OF: dict[Any, Any] = {}


# ---------------------------------------------------------------- queue gauges


class QueueGauges:
    """Reads the queue and hold gauges from the database, at most once every ``min_interval`` seconds per database."""

    def __init__(self, min_interval: float = 5.0, timeout: float = 3.0) -> None:
        self.min_interval = min_interval
        self.timeout = timeout
        self._last_at = -math.inf
        self._last_source = 0
        self._lock = asyncio.Lock()
        self._hold_labels: set[tuple[str, str]] = set()

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], *, force: bool = False) -> bool:
        """True when the gauges were read now; a database problem is logged, never raised (scrapes go on)."""
        if not force and id(sessions) == self._last_source and time.monotonic() - self._last_at < self.min_interval:
            return False
        async with self._lock:
            if not force and id(sessions) == self._last_source and time.monotonic() - self._last_at < self.min_interval:
                return False
            try:
                await asyncio.wait_for(self._read(sessions), timeout=self.timeout)
            except Exception as exc:  # noqa: BLE001 - a scrape must not fail because of the database
                log.warning("whatsapp queue metrics could not be read from the database: %s", type(exc).__name__)
                return False
            self._last_at = time.monotonic()
            self._last_source = id(sessions)
            return True

    async def _read(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            by_status = await queue_repo.pending_by_status(session)
            holds = await holds_repo.holds(session)
            outbound = await outbound_repo.backlog(session)
        now = utcnow()
        depth = dict.fromkeys(queue_repo.PENDING_STATUSES, 0)
        oldest = None
        for group in by_status:
            depth[group.status] = group.count
            first = group.oldest_created_at
            if group.status != "held" and first is not None and (oldest is None or first < oldest):
                oldest = first
        for status, count in depth.items():
            QUEUE_DEPTH.labels(status=status).set(count)
        QUEUE_OLDEST_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        counts: dict[tuple[str, str], int] = {}
        for hold in holds:
            counts[(hold.scope, hold.kind)] = counts.get((hold.scope, hold.kind), 0) + 1
        for labels in self._hold_labels - counts.keys():
            HOLDS.labels(scope=labels[0], kind=labels[1]).set(0)
        for (scope, kind), count in counts.items():
            HOLDS.labels(scope=scope, kind=kind).set(count)
        self._hold_labels |= counts.keys()
        HELD_NUMBERS.set(len({h.scope_key for h in holds if h.scope == PHONE_NUMBER_SCOPE}))
        for destination in DESTINATIONS:
            for status in (outbound_repo.PENDING, outbound_repo.DEAD):
                OUTBOUND_BACKLOG.labels(destination=destination, status=status).set(
                    outbound.get((destination, status), 0)
                )
        QUEUE_GAUGES_REFRESHED.set(time.time())


QUEUE_GAUGES = QueueGauges()


async def refresh_queue_gauges_before_scrape(app: Any) -> None:
    """``GET /metrics`` (an authorised scrape) reads the queue gauges first (cached, see :class:`QueueGauges`)."""
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    if runtime is not None:
        await QUEUE_GAUGES.refresh(runtime.sessions)


async def refresh_queue_gauges_forever(sessions: async_sessionmaker[AsyncSession], interval: float = 15.0) -> None:
    """The stand-alone dispatcher has no /metrics route: keep the gauges fresh for its metrics port."""
    while True:
        await QUEUE_GAUGES.refresh(sessions, force=True)
        await asyncio.sleep(interval)


def start_dispatcher_metrics_server(port: int, host: str) -> None:
    """Serve this process's registry on ``http://host:port/metrics`` (a thread; no authentication: keep it
    on an internal network)."""
    start_http_server(port, addr=host)
    log.info("whatsapp dispatcher metrics served on http://%s:%d/metrics", host, port)
