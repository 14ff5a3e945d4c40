"""RabbitMQ through aio-pika: the one place that opens a connection and declares the topology.

Both directions use it: the purchase-order consumer (services/po_consumer.py) and the publisher of events for the
platform. A *robust* connection reconnects by itself after a broker restart or a dropped TCP connection and
re-declares on the new connection what its channels declared (exchanges, queues, bindings, QoS, consumers).
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
    ExchangeType,
)


async def connect(url: str, *, name: str, reconnect_seconds: float = 5.0) -> AbstractRobustConnection:
    """A robust connection to ``url`` (``amqp://user:password@host:5672/vhost``), shown as ``name`` in the broker's
    management UI. Waits until the broker answers the first time, trying again every ``reconnect_seconds`` (so a
    service may start before its broker): call it from a background task. Later losses are recovered the same way.
    aio-pika masks the password in what it logs."""
    return await aio_pika.connect_robust(
        url,
        reconnect_interval=reconnect_seconds,
        fail_fast=False,
        client_properties={"connection_name": name},
    )


async def declare_topic_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    """A durable topic exchange (routing keys such as ``procurement.po_approved`` or the event names). Declaring
    one that exists with the same type is a no-op; another type is refused by the broker (PRECONDITION_FAILED)."""
    return await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)


@dataclass(frozen=True, slots=True)
class ConsumerTopology:
    """What :func:`declare_consumer_queue` declared."""

    queue: AbstractQueue
    #: the direct exchange in front of the dead-letter queue (routing key: the queue's name)
    dead_letter_exchange: AbstractExchange
    dead_letter_queue: AbstractQueue


def dead_letter_names(queue: str) -> tuple[str, str]:
    """(dead-letter exchange, dead-letter queue) of ``queue``: ``<queue>.dlx`` and ``<queue>.dlq``."""
    return f"{queue}.dlx", f"{queue}.dlq"


async def declare_consumer_queue(
    channel: AbstractChannel, *, exchange: str, queue: str, routing_key: str
) -> ConsumerTopology:
    """A durable ``queue`` bound to the topic ``exchange`` with ``routing_key``, and its dead letters: the direct
    exchange ``<queue>.dlx`` and the durable queue ``<queue>.dlq`` bound to it with the queue's name. The queue
    names the dead-letter exchange in its arguments, so a message the consumer rejects without requeueing also
    lands in ``<queue>.dlq`` (the broker adds an ``x-death`` header) instead of being dropped."""
    source = await declare_topic_exchange(channel, exchange)
    dlx_name, dlq_name = dead_letter_names(queue)
    dlx = await channel.declare_exchange(dlx_name, ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(dlq_name, durable=True)
    await dlq.bind(dlx, routing_key=queue)
    main = await channel.declare_queue(
        queue,
        durable=True,
        arguments={"x-dead-letter-exchange": dlx_name, "x-dead-letter-routing-key": queue},
    )
    await main.bind(source, routing_key=routing_key)
    return ConsumerTopology(queue=main, dead_letter_exchange=dlx, dead_letter_queue=dlq)
