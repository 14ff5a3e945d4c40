"""The RabbitMQ destination: each event published on the events exchange (a durable topic exchange, default
``events.exchange``) with the event's name as routing key, persistent, and confirmed by the broker.

One robust connection per process (aio-pika reconnects in the background after a broker restart; its
``reconnect_interval`` can be set as a query parameter of ``RABBITMQ_URL``, default 5 s). A publish that fails while
the broker is away, or that the broker does not confirm in time or refuses (``Basic.Nack``), is a failed attempt:
the worker retries it with backoff. Messages are not ``mandatory``: with no queue bound the broker drops them, as it
would for any publisher on the exchange; binding a queue is the consumer's part.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from notification_service.domain.outbound_delivery import Outcome, raw_body
from notification_service.domain.outbound_events import AMQP
from notification_service.repositories.outbound_events import Claimed

log = logging.getLogger("notification.outbound.amqp")


class AmqpDestination:
    name = AMQP

    def __init__(self, url: str, exchange: str, *, timeout: float) -> None:
        self._url = url
        self.exchange_name = exchange
        self._timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def _ready_exchange(self) -> AbstractExchange:
        async with self._lock:
            if self._connection is None:
                self._connection = await aio_pika.connect_robust(
                    self._url,
                    timeout=self._timeout,
                    client_properties={"connection_name": "notification-service outbound events"},
                )
            if self._exchange is None or self._channel is None or self._channel.is_closed:
                self._channel = channel = await self._connection.channel(publisher_confirms=True)
                self._exchange = await channel.declare_exchange(
                    self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
                )
            return self._exchange

    async def deliver(self, event: Claimed, now: datetime) -> Outcome:
        message = aio_pika.Message(
            raw_body(event.payload),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.id),
            type=event.name,
            timestamp=now,
            app_id="notification-service",
            headers={"x-delivery-attempt": event.attempt},
        )
        try:
            exchange = await asyncio.wait_for(self._ready_exchange(), timeout=self._timeout)
            confirmation = await exchange.publish(
                message, routing_key=event.name, mandatory=False, timeout=self._timeout
            )
        except TimeoutError:
            await self._forget_if_broken()
            return Outcome.retry("timeout: no broker confirm in time")
        except aio_pika.exceptions.DeliveryError as exc:  # Basic.Nack / Reject from the broker
            return Outcome.retry(f"broker refused the message: {type(exc.frame).__name__}")
        except (OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            await self._forget_if_broken()
            return Outcome.retry(f"{type(exc).__name__}: {exc}"[:400])
        if confirmation is None:  # only without publisher confirms, which this channel always has
            return Outcome.retry("not confirmed by the broker")
        return Outcome.delivered()

    async def _forget_if_broken(self) -> None:
        """A connection that was closed for good is dropped (the next attempt connects again); one that lost the
        broker is kept: it reconnects by itself and restores its channel and exchange. (A first connection that
        never came up is never kept: ``connect_robust`` raised.)"""
        async with self._lock:
            connection = self._connection
            if connection is not None and connection.is_closed:
                self._connection = None
                self._channel = None
                self._exchange = None
                with contextlib.suppress(Exception):
                    await connection.close()

    async def aclose(self) -> None:
        async with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
            self._connection = None
            self._channel = None
            self._exchange = None
