"""Purchase-order events from RabbitMQ: the AMQP door to the one intake the HTTP route uses.

With ``RABBITMQ_URL`` set, the API process consumes ``RABBITMQ_PO_QUEUE`` (bound to ``RABBITMQ_PO_EXCHANGE`` with
``RABBITMQ_PO_ROUTING_KEY``; amqp.declare_consumer_queue). A message body is the HTTP route's body and gets the
same rules (domain/po_messages.read_event, then services/ingestion.PurchaseOrderIntake):

* stored, or the same event again → acknowledged, only once the intake's transaction has committed;
* refused for ever (not JSON, a field to fix, too big, the same event id with another body) → published with the
  reason to the dead-letter queue (publisher confirms), then acknowledged; if that publish fails the message is
  rejected without requeue, and the queue's dead-letter arguments put it in the same dead-letter queue;
* not stored for now (database unavailable) → handed back to the broker after ``RABBITMQ_PO_RETRY_SECONDS``,
  as often as it takes; any other unexpected error the same way, but at most ``RABBITMQ_PO_MAX_FAILURES`` times,
  then it is dead-lettered (``processing_failed``).

A message with ``reply_to`` also gets the HTTP route's answer there (``x-status-code`` header, the same JSON body).
Trust: the broker's credentials are the boundary (whoever may publish on the exchange is the platform), like the
service token on the HTTP route; the tenant is the body's ``tenant_id``, as there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from bakery_shared.db import utcnow
from bakery_shared.errors import AppError
from bakery_shared.group_commit import database_unavailable
from bakery_shared.observability import bind
from notification_service import amqp, metrics
from notification_service.config import NotificationSettings
from notification_service.domain.events import PurchaseOrderEvent
from notification_service.domain.kinds import KIND_INVENTORY_ALERT, KIND_PRODUCTION_ALERT, KINDS, KindSpec
from notification_service.domain.po_messages import Rejection, read_event
from notification_service.services.alert_ingestion import AlertAccepted, AlertIntake
from notification_service.services.ingestion import Accepted, PurchaseOrderIntake

log = logging.getLogger("notification.whatsapp.po_consumer")

#: failure counts kept for messages that failed unexpectedly (the oldest are forgotten beyond this)
_MAX_TRACKED = 10_000


class PurchaseOrderConsumer:
    """Consumes purchase-order messages. :meth:`start` returns at once: connecting (and reconnecting) happens in
    the background, so the service starts and serves HTTP while the broker is away."""

    def __init__(
        self,
        settings: NotificationSettings,
        intake: PurchaseOrderIntake,
        *,
        on_created: Callable[[], None] = lambda: None,
        alerts: AlertIntake | None = None,
    ) -> None:
        self._url = settings.rabbitmq_url.get_secret_value()
        self.exchange = settings.rabbitmq_po_exchange
        self.queue_name = settings.rabbitmq_po_queue
        self.routing_key = settings.rabbitmq_po_routing_key
        self._prefetch = settings.rabbitmq_po_prefetch
        self._retry_seconds = settings.rabbitmq_po_retry_seconds
        self._max_failures = settings.rabbitmq_po_max_failures
        self._reconnect_seconds = settings.rabbitmq_reconnect_seconds
        self._max_bytes = settings.max_body_bytes
        self._grace_seconds = settings.dispatch_shutdown_grace_seconds
        self._intake = intake
        self._alerts = alerts
        #: routing key → staff alert kind (issue 17): bound to the same queue, read by the kind's contract
        self.alert_keys: dict[str, KindSpec] = {
            key: KINDS[kind]
            for key, kind in (
                (settings.rabbitmq_inventory_alert_routing_key, KIND_INVENTORY_ALERT),
                (settings.rabbitmq_production_alert_routing_key, KIND_PRODUCTION_ALERT),
            )
            if key and alerts is not None
        }
        self._on_created = on_created
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._dead_letters: AbstractExchange | None = None
        self._consumer_tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._handling: set[asyncio.Task[Any]] = set()
        self._failures: OrderedDict[str, int] = OrderedDict()
        #: the last problem (a type name and what it was doing), for readiness; cleared by the next success
        self.last_error: str | None = None

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="po-consumer")

    async def _run(self) -> None:
        """Connect, declare, consume; on a failure before consuming starts (the broker refusing a declaration, the
        connection dropping meanwhile) start again after ``RABBITMQ_RECONNECT_SECONDS``. Once consuming, the
        robust connection restores the channel, the topology and the consumer after every reconnect."""
        while not self._stopping.is_set():
            try:
                await self._connect_and_consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, then tried again
                self.last_error = f"{type(exc).__name__} while setting up the consumer"
                log.error(
                    "RabbitMQ consumer set-up failed (%s: %s); trying again in %.1f s",
                    type(exc).__name__,
                    exc,
                    self._reconnect_seconds,
                )
                await self._close_connection()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._reconnect_seconds)

    async def _connect_and_consume(self) -> None:
        self._connection = await amqp.connect(
            self._url, name="notification-service purchase orders", reconnect_seconds=self._reconnect_seconds
        )
        # confirms: a dead letter counts as published only once the broker has it; returns raise (nowhere to go)
        channel = self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        topology = await amqp.declare_consumer_queue(
            channel, exchange=self.exchange, queue=self.queue_name, routing_key=self.routing_key
        )
        self._queue, self._dead_letters = topology.queue, topology.dead_letter_exchange
        for key in self.alert_keys:  # the staff alert kinds share the queue (and its dead-letter queue)
            await topology.queue.bind(self.exchange, routing_key=key)
        self._connection.reconnect_callbacks.add(self._reconnected)
        self._consumer_tag = await topology.queue.consume(self._on_message)
        self.last_error = None
        log.info(
            "consuming purchase orders from RabbitMQ queue %s (exchange %s, routing key %s)",
            self.queue_name,
            self.exchange,
            self.routing_key,
        )

    def _reconnected(self, *_: Any) -> None:
        self.last_error = None
        log.info("RabbitMQ connection restored; consuming %s again", self.queue_name)

    async def stop(self) -> None:
        """Stop taking messages, let the ones in hand finish (up to ``DISPATCH_SHUTDOWN_GRACE_SECONDS``), close.
        Whatever is not acknowledged by then goes back to the queue when the channel closes."""
        self._stopping.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._queue is not None and self._consumer_tag is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.cancel(self._consumer_tag), timeout=5)
        if self._handling:
            _, late = await asyncio.wait(set(self._handling), timeout=self._grace_seconds)
            for task in late:
                task.cancel()
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._consumer_tag = None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    # ------------------------------------------------------------------ state (readiness)

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    @property
    def consuming(self) -> bool:
        return self.connected and self._consumer_tag is not None

    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "connected": self.connected,
            "consuming": self.consuming,
            "exchange": self.exchange,
            "queue": self.queue_name,
            "routing_key": self.routing_key,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ one message

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
        try:
            await self._handle(message)
        except asyncio.CancelledError:
            raise  # shutting down: not acknowledged, so the broker hands it out again
        except Exception:  # noqa: BLE001 - a message never kills the consumer
            log.exception("purchase-order message handling failed; it stays with the broker")
        finally:
            if task is not None:
                self._handling.discard(task)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        kind = self.alert_keys.get(message.routing_key or "")
        model = kind.event_model if kind is not None else PurchaseOrderEvent
        parsed = read_event(message.body, max_bytes=self._max_bytes, model=model)
        if isinstance(parsed, Rejection):
            await self._dead_letter(message, parsed)
            return
        with bind(tenant_id=str(parsed.tenant_id), event_id=str(parsed.event_id)):
            try:
                if kind is not None and self._alerts is not None:
                    accepted: Accepted | AlertAccepted = await self._alerts.accept(kind, parsed)
                else:
                    accepted = await self._intake.accept(parsed)
            except AppError as exc:
                if exc.status_code >= 500 or exc.status_code == 429:
                    await self._hand_back(message, exc, limited=False)
                else:  # 409 event_conflict: the same event id with another body
                    await self._dead_letter(message, Rejection(exc.code, exc.detail, exc.status_code))
                return
            except Exception as exc:  # noqa: BLE001 - classified: retried, bounded unless the database is away
                await self._hand_back(message, exc, limited=not database_unavailable(exc))
                return
            if accepted.created:
                self._on_created()
            self.last_error = None
            self._failures.pop(self._key(message), None)
            metrics.AMQP_PO_MESSAGES.labels("created" if accepted.created else "replay", "").inc()
            await self._settle(message.ack(), "acknowledge")
            await self._answer(message, 202 if accepted.created else 200, _accepted_body(accepted))

    async def _dead_letter(self, message: AbstractIncomingMessage, rejection: Rejection) -> None:
        """Publish a copy with the reason to ``<queue>.dlq`` (confirmed), then acknowledge the original."""
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(
            {
                "x-rejection-code": rejection.code,
                "x-rejection-reason": rejection.header_reason(),
                "x-rejection-status": rejection.status,
                "x-original-exchange": message.exchange or "",
                "x-original-routing-key": message.routing_key or "",
                "x-rejected-at": utcnow().isoformat(),
            }
        )
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # the code only: a reason may quote the body's values (a phone number); the dead-letter queue has it
        log.warning(
            "purchase-order message refused (%s, HTTP %d): moved to %s.dlq",
            rejection.code,
            rejection.status,
            self.queue_name,
        )
        metrics.AMQP_PO_MESSAGES.labels("dead_lettered", rejection.code).inc()
        self._failures.pop(self._key(message), None)
        try:
            if self._dead_letters is None:  # pragma: no cover - messages arrive only after the declarations
                raise RuntimeError("the dead-letter exchange is not declared")
            await self._dead_letters.publish(copy, routing_key=self.queue_name, mandatory=True)
        except Exception as exc:  # noqa: BLE001 - the broker's own dead-lettering keeps it
            log.error(
                "could not publish to %s.dlq (%s); rejecting the message (the queue dead-letters it there)",
                self.queue_name,
                type(exc).__name__,
            )
            await self._settle(message.reject(requeue=False), "reject")
        else:
            await self._settle(message.ack(), "acknowledge")
        await self._answer(message, rejection.status, rejection.body())

    async def _hand_back(self, message: AbstractIncomingMessage, exc: BaseException, *, limited: bool) -> None:
        """Not stored: give the message back to the broker after a pause (never acknowledged)."""
        self.last_error = f"{type(exc).__name__} while storing a purchase order"
        if limited:
            key = self._key(message)
            failures = self._failures.pop(key, 0) + 1
            self._failures[key] = failures
            while len(self._failures) > _MAX_TRACKED:
                self._failures.popitem(last=False)
            if failures >= self._max_failures:
                log.error(
                    "purchase-order message failed %d times (%s); moving it to the dead-letter queue",
                    failures,
                    type(exc).__name__,
                    exc_info=exc,
                )
                reason = f"storing it failed {failures} times ({type(exc).__name__}); see the service's log"
                await self._dead_letter(message, Rejection("processing_failed", reason, 500))
                return
        log.warning(
            "purchase-order message not stored (%s); handed back to the broker in %.1f s",
            type(exc).__name__,
            self._retry_seconds,
        )
        metrics.AMQP_PO_MESSAGES.labels("retried", type(exc).__name__).inc()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_seconds)
        await self._settle(message.nack(requeue=True), "hand back")

    async def _answer(self, message: AbstractIncomingMessage, status: int, body: dict[str, Any]) -> None:
        """The HTTP route's answer to ``reply_to``, when the publisher asked for one (best effort)."""
        if not message.reply_to or self._channel is None:
            return
        reply = aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            correlation_id=message.correlation_id,
            headers={"x-status-code": status},
        )
        try:
            await self._channel.default_exchange.publish(reply, routing_key=message.reply_to)
        except Exception as exc:  # noqa: BLE001 - the answer is a courtesy; the outcome is already settled
            log.warning("could not answer to reply_to (%s)", type(exc).__name__)

    @staticmethod
    async def _settle(action: Any, what: str) -> None:
        """Ack / nack / reject; when the channel went away meanwhile the broker hands the message out again (a
        stored event then comes back as a replay, acknowledged without a second row)."""
        try:
            await action
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning(
                "could not %s a purchase-order message (%s); the broker redelivers it", what, type(exc).__name__
            )

    @staticmethod
    def _key(message: AbstractIncomingMessage) -> str:
        return hashlib.sha256(message.body).hexdigest()


def _accepted_body(accepted: Accepted | AlertAccepted) -> dict[str, Any]:
    if isinstance(accepted, AlertAccepted):
        return {"notification_ids": [str(i) for i in accepted.notification_ids]}
    return {"notification_id": str(accepted.notification_id), "status": accepted.status}
