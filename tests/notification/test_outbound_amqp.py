"""Publishing the events for the platform to a real RabbitMQ (outbound/amqp.py through the worker): a persistent,
confirmed message on the topic exchange with the event's name as routing key; a broker that refuses (Basic.Nack)
or is away (a TCP proxy the test cuts and restores, the shared broker is never restarted) means a retry, and the
same robust connection publishes again once the broker is back. Each test uses its own exchange and queue."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
import sqlalchemy as sa
from yarl import URL

from bakery_shared.db import create_engine, create_session_factory
from notification_service.domain.outbound_delivery import raw_body
from notification_service.models import outbound_events
from notification_service.outbound.amqp import AmqpDestination
from notification_service.outbound.worker import OutboundDelivery

from .conftest import Env, EnvFactory
from .outbound_helpers import Clock, TcpProxy, by_po, store_events


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustChannel]:
    connection = await aio_pika.connect_robust(rabbitmq_url)
    channel = await connection.channel()
    yield channel  # type: ignore[misc]
    await connection.close()


async def _bound_queue(
    channel: aio_pika.abc.AbstractChannel, exchange: str, arguments: dict[str, Any] | None = None
) -> aio_pika.abc.AbstractQueue:
    """The test's own exchange (declared as the service declares it) and a queue bound to every event name."""
    ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True, auto_delete=False)
    queue = await channel.declare_queue(f"{exchange}.q", exclusive=True, arguments=arguments)
    await queue.bind(ex, routing_key="#")
    return queue


async def _take(
    queue: aio_pika.abc.AbstractQueue, n: int, timeout: float = 10
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        got.append(message)
    return got


async def _env_and_worker(
    make_env: EnvFactory, url: str, rabbitmq: str, exchange: str, clock: Clock, **overrides: Any
) -> tuple[Env, OutboundDelivery]:
    env = await make_env(
        url,
        rabbitmq_url=rabbitmq,
        rabbitmq_events_exchange=exchange,
        outbound_events_retry_base_seconds=1,
        outbound_events_timeout_seconds=3,
        **overrides,
    )
    engine = create_engine(env.settings.notification_database_url)
    worker = OutboundDelivery(env.settings, create_session_factory(engine), clock=clock)
    worker._test_engine = engine  # type: ignore[attr-defined]
    return env, worker


async def _close(worker: OutboundDelivery, channel: aio_pika.abc.AbstractChannel, exchange: str) -> None:
    await worker.aclose()
    await worker._test_engine.dispose()  # type: ignore[attr-defined]
    await channel.exchange_delete(exchange)


async def _rows(worker: OutboundDelivery) -> dict[uuid.UUID, dict[str, Any]]:
    async with worker.sessions() as session:
        result = await session.execute(sa.select(outbound_events).order_by(outbound_events.c.seq))
        return {r["id"]: dict(r) for r in result.mappings().all()}


async def test_published_persistent_and_confirmed_with_the_event_name_as_routing_key(
    make_env: EnvFactory, database_url: str, rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel
) -> None:
    exchange = f"test.events.{uuid.uuid4().hex[:12]}"
    queue = await _bound_queue(broker, exchange)
    clock = Clock()
    env, worker = await _env_and_worker(make_env, database_url, rabbitmq_url, exchange, clock)
    try:
        ids = await store_events(worker.sessions, env.settings, uuid.uuid4(), ["po-1", "po-2"], per_po=2, now=clock.now)
        assert await worker.drain() == 4
        messages = await _take(queue, 4)
        rows = await _rows(worker)
    finally:
        await _close(worker, broker, exchange)
    assert sorted(m.message_id or "" for m in messages) == sorted(str(i) for i in ids)
    for message in messages:
        row = rows[uuid.UUID(message.message_id or "")]
        assert message.routing_key == row["name"] == message.type
        assert message.body == raw_body(row["payload"])
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert json.loads(message.body)["tenant_id"] == str(row["tenant_id"])
        assert row["amqp_status"] == "delivered" and row["amqp_attempts"] == 1 and row["http_status"] == "off"
    assert [m.routing_key for m in messages].count("purchase_order.supplier_confirmed") == 2
    assert by_po(messages) == {"po-1": [str(ids[0]), str(ids[2])], "po-2": [str(ids[1]), str(ids[3])]}
    assert "guest" not in json.dumps(list(rows.values()), default=str)


async def test_a_nack_from_the_broker_is_retried(
    make_env: EnvFactory, sqlite_url: str, rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel
) -> None:
    """A bound queue that is full and set to ``reject-publish``: the broker answers Basic.Nack."""
    exchange = f"test.events.{uuid.uuid4().hex[:12]}"
    queue = await _bound_queue(broker, exchange, {"x-max-length": 1, "x-overflow": "reject-publish"})
    clock = Clock()
    env, worker = await _env_and_worker(make_env, sqlite_url, rabbitmq_url, exchange, clock)
    try:
        first, second = await store_events(worker.sessions, env.settings, uuid.uuid4(), ["po-1", "po-2"], now=clock.now)
        assert await worker.drain() == 1  # the first fills the queue, the second is refused
        rows = await _rows(worker)
        assert rows[first]["amqp_status"] == "delivered"
        assert rows[second]["amqp_status"] == "pending"
        assert "broker refused" in rows[second]["amqp_last_error"]
        assert len(await _take(queue, 1)) == 1  # the subscriber catches up
        clock.advance(60)
        assert await worker.drain() == 1
        (message,) = await _take(queue, 1)
        rows = await _rows(worker)
    finally:
        await _close(worker, broker, exchange)
    assert message.message_id == str(second) and rows[second]["amqp_attempts"] == 2


async def test_broker_outage_is_retried_and_the_connection_recovers(
    make_env: EnvFactory, database_url: str, rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel
) -> None:
    upstream = URL(rabbitmq_url)
    proxy = TcpProxy(upstream.host or "127.0.0.1", upstream.port or 5672)
    through_proxy = str(upstream.with_port(proxy.port).with_query(reconnect_interval="0.2"))
    exchange = f"test.events.{uuid.uuid4().hex[:12]}"
    queue = await _bound_queue(broker, exchange)
    clock = Clock()
    env, worker = await _env_and_worker(make_env, database_url, through_proxy, exchange, clock)
    tenant = uuid.uuid4()
    try:
        # the broker is not there when the service starts: refused, retried
        (early,) = await store_events(worker.sessions, env.settings, tenant, ["po-1"], now=clock.now)
        assert await worker.drain() == 0
        assert (await _rows(worker))[early]["amqp_status"] == "pending"
        await proxy.start()
        clock.advance(60)
        assert await worker.drain() == 1
        (destination,) = worker.destinations
        assert isinstance(destination, AmqpDestination)
        connection = destination._connection

        # the broker goes away while connected: publishes fail and are retried
        await proxy.cut()
        (during,) = await store_events(worker.sessions, env.settings, tenant, ["po-1"], now=clock.now)
        assert await worker.drain() == 0
        row = (await _rows(worker))[during]
        assert row["amqp_status"] == "pending" and row["amqp_attempts"] == 1 and row["amqp_last_error"]

        # back: the same robust connection reconnects and the event goes out, once
        await proxy.restore()
        deadline = time.monotonic() + 20
        delivered = 0
        while not delivered and time.monotonic() < deadline:
            clock.advance(60)
            delivered = await worker.drain()
            await asyncio.sleep(0.2)
        assert delivered == 1
        assert destination._connection is connection
        messages = await _take(queue, 2)
        await asyncio.sleep(0.3)
        assert await queue.get(fail=False) is None  # nothing more: each event once
    finally:
        await _close(worker, broker, exchange)
        await proxy.stop()
    assert [m.message_id for m in messages] == [str(early), str(during)]
