"""Purchase orders over RabbitMQ (services/po_consumer.py), against a real RabbitMQ server and real databases:
the HTTP route's rules, acknowledged only once stored, refusals in the dead-letter queue with their reason, the
database away (handed back, stored once later), the broker's connection cut and restored (through a TCP proxy the
test controls, never restarting the shared server)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, ExchangeType

from bakery_shared.db import create_engine
from notification_service import metrics
from notification_service.models import purchase_order_events, whatsapp_messages
from notification_service.runtime import Runtime
from notification_service.services.po_consumer import PurchaseOrderConsumer
from tests.tcp_proxy import TcpProxy

from .conftest import Env, EnvFactory
from .helpers import po_event
from .test_alert_ingestion import inventory_event, production_event

ROUTING_KEY = "procurement.po_approved"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout} s")
        await asyncio.sleep(0.05)


def counted(result: str) -> float:
    """``whatsapp_amqp_po_messages_total`` for ``result``, every code together."""
    return sum(
        sample.value
        for family in metrics.AMQP_PO_MESSAGES.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["result"] == result
    )


async def stored(url: str) -> tuple[int, list[dict[str, Any]]]:
    """(events, messages) in the service's database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            events = (await conn.execute(sa.select(sa.func.count()).select_from(purchase_order_events))).scalar_one()
            messages = [dict(r) for r in (await conn.execute(sa.select(whatsapp_messages))).mappings()]
    finally:
        await engine.dispose()
    return int(events), messages


@dataclass
class Broker:
    """The platform's side of the broker: publishes on the test's own exchange, reads the test's queues."""

    url: str
    connection: AbstractConnection
    channel: AbstractChannel
    exchange: str
    queue: str

    @property
    def dlq(self) -> str:
        return f"{self.queue}.dlq"

    def settings(self, url: str | None = None) -> dict[str, Any]:
        return {
            "rabbitmq_url": url or self.url,
            "rabbitmq_po_exchange": self.exchange,
            "rabbitmq_po_queue": self.queue,
            "rabbitmq_po_routing_key": ROUTING_KEY,
            "rabbitmq_po_retry_seconds": 0.2,
            "rabbitmq_reconnect_seconds": 0.2,
        }

    async def publish(self, body: dict[str, Any] | bytes, *, routing_key: str = ROUTING_KEY, **props: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        exchange = await self.channel.get_exchange(self.exchange)
        message = aio_pika.Message(
            data, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **props
        )
        await exchange.publish(message, routing_key=routing_key, mandatory=True)

    async def ready(self, queue: str | None = None) -> int:
        """Messages waiting in ``queue`` (not counting those handed to a consumer and not settled yet)."""
        declared = await self.channel.declare_queue(queue or self.queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count

    async def dead_letters(self) -> list[AbstractIncomingMessage]:
        queue = await self.channel.declare_queue(self.dlq, passive=True)
        found = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(message)
        return found


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[Broker]:
    suffix = uuid.uuid4().hex[:12]
    # a plain connection: a robust channel answers a passive declaration from its cache (a stale message count)
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = f"test.procurement.{suffix}"
    await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
    try:
        yield Broker(rabbitmq_url, connection, channel, exchange, f"test.notification.po.{suffix}")
    finally:
        cleanup = await connection.channel()
        for queue in (f"test.notification.po.{suffix}", f"test.notification.po.{suffix}.dlq"):
            await cleanup.queue_delete(queue)
        for name in (exchange, f"test.notification.po.{suffix}.dlx"):
            await cleanup.exchange_delete(name)
        await connection.close()


def consumer_of(env: Env) -> PurchaseOrderConsumer:
    runtime: Runtime = env.app.state.runtime
    assert runtime.po_consumer is not None
    return runtime.po_consumer


async def consuming(env: Env) -> PurchaseOrderConsumer:
    consumer = consumer_of(env)

    async def check() -> bool:
        return consumer.consuming

    await eventually(check, what="the consumer consuming")
    return consumer


async def settled(broker: Broker, env: Env) -> None:
    """Stop the consumer and check nothing is left: a message it took without acknowledging would be back in the
    queue once its channel closes."""
    await consumer_of(env).stop()
    assert await broker.ready() == 0


@pytest.fixture
async def amqp_env(broker: Broker, make_env: EnvFactory, database_url: str) -> Env:
    """The service consuming the test's queue, on a real SQLite file and on a real PostgreSQL database."""
    env = await make_env(database_url, **broker.settings())
    await consuming(env)
    return env


async def test_a_published_purchase_order_is_stored_once_then_acknowledged(amqp_env: Env, broker: Broker) -> None:
    env = amqp_env
    tenant = env.tenants.add()
    body = po_event(tenant)
    await broker.publish(body)

    async def one_message() -> bool:
        return len((await stored(env.settings.notification_database_url))[1]) == 1

    await eventually(one_message, what="the message row")
    events, messages = await stored(env.settings.notification_database_url)
    assert events == 1
    assert messages[0]["status"] == "queued"
    assert messages[0]["event_id"] == uuid.UUID(body["event_id"])
    assert messages[0]["recipient_phone"] == "+34612345678"  # the HTTP route's normalisation
    assert messages[0]["template_name"] == "po_notification"
    assert env.graph.sends == []  # ingestion never calls Meta
    await settled(broker, env)
    assert await broker.ready(broker.dlq) == 0


async def test_the_same_event_twice_and_over_http_is_one_message(amqp_env: Env, broker: Broker) -> None:
    env = amqp_env
    tenant = env.tenants.add()
    body = po_event(tenant)
    first = await env.post_event(body)
    assert first.status_code == 202
    replays = counted("replay")
    await broker.publish(body)
    # the same event written differently (the phone's format) is the same event, as on the HTTP route
    await broker.publish(po_event(tenant, event_id=body["event_id"], supplier={"phone": "612 345 678"}))

    async def two_replays() -> bool:
        return counted("replay") - replays >= 2

    await eventually(two_replays, what="both copies answered as replays")
    events, messages = await stored(env.settings.notification_database_url)
    assert events == 1 and len(messages) == 1
    assert str(messages[0]["id"]) == first.json()["notification_id"]
    await settled(broker, env)
    assert await broker.ready(broker.dlq) == 0


async def test_refused_messages_go_to_the_dead_letter_queue_with_the_reason(amqp_env: Env, broker: Broker) -> None:
    env = amqp_env
    tenant = env.tenants.add()
    body = po_event(tenant)
    await broker.publish(body)
    changed = po_event(tenant, event_id=body["event_id"], purchase_order={"total_amount": "99.00"})
    await broker.publish(changed, message_id="conflict")
    await broker.publish(b'{"event_id": ', message_id="not-json")
    await broker.publish(po_event(tenant, supplier={"phone": "12"}, colour="red"), message_id="bad-fields")
    await broker.publish(b"\xff\xfe", message_id="not-utf8")
    too_big = json.dumps({**po_event(tenant), "pad": "x" * env.settings.max_body_bytes}).encode()
    await broker.publish(too_big, message_id="too-big")

    found: dict[str, AbstractIncomingMessage] = {}

    async def five_dead() -> bool:
        found.update({m.message_id or "": m for m in await broker.dead_letters()})
        return len(found) >= 5

    await eventually(five_dead, what="five dead letters")
    assert set(found) == {"conflict", "not-json", "bad-fields", "not-utf8", "too-big"}
    headers = {key: m.headers for key, m in found.items()}
    assert headers["conflict"]["x-rejection-code"] == "event_conflict"
    assert headers["conflict"]["x-rejection-status"] == 409
    assert "different body" in str(headers["conflict"]["x-rejection-reason"])
    assert found["conflict"].body == json.dumps(changed).encode()  # the original body, untouched
    assert headers["not-json"]["x-rejection-code"] == "validation_error"
    assert "not valid JSON" in str(headers["not-json"]["x-rejection-reason"])
    reason = str(headers["bad-fields"]["x-rejection-reason"])
    assert "colour: unknown field, remove it" in reason and "supplier.phone" in reason
    assert headers["bad-fields"]["x-rejection-status"] == 422
    assert "UTF-8" in str(headers["not-utf8"]["x-rejection-reason"])
    assert headers["too-big"]["x-rejection-code"] == "payload_too_large"
    for h in headers.values():
        assert h["x-original-routing-key"] == ROUTING_KEY
        assert h["x-original-exchange"] == broker.exchange
    events, messages = await stored(env.settings.notification_database_url)
    assert events == 1 and len(messages) == 1  # only the first, valid event
    assert messages[0]["template_values"]["total_amount"] == "1250.00"
    await settled(broker, env)  # every original acknowledged: none back in the queue


async def test_reply_to_gets_the_http_routes_answer(amqp_env: Env, broker: Broker) -> None:
    env = amqp_env
    replies = await broker.channel.declare_queue(exclusive=True)
    tenant = env.tenants.add()
    body = po_event(tenant)
    await broker.publish(body, reply_to=replies.name, correlation_id="c-1")
    await broker.publish(body, reply_to=replies.name, correlation_id="c-2")
    await broker.publish(po_event(tenant, occurred_at="yesterday"), reply_to=replies.name, correlation_id="c-3")
    answers: dict[str, AbstractIncomingMessage] = {}

    async def three() -> bool:
        while (message := await replies.get(no_ack=True, fail=False)) is not None:
            answers[message.correlation_id or ""] = message
        return len(answers) == 3

    await eventually(three, what="three answers")
    created, replay, refused = (answers[k] for k in ("c-1", "c-2", "c-3"))
    assert created.headers["x-status-code"] == 202 and replay.headers["x-status-code"] == 200
    assert json.loads(created.body) == json.loads(replay.body)
    assert json.loads(created.body)["status"] == "queued"
    _, messages = await stored(env.settings.notification_database_url)
    assert json.loads(created.body)["notification_id"] == str(messages[0]["id"])
    assert refused.headers["x-status-code"] == 422
    assert json.loads(refused.body)["code"] == "validation_error"
    assert "occurred_at" in json.loads(refused.body)["detail"]


async def test_database_away_the_message_is_handed_back_then_stored_once(
    broker: Broker, make_env: EnvFactory, postgres_url: str
) -> None:
    url = urlsplit(postgres_url.replace("postgresql+asyncpg", "postgresql", 1))
    database = await TcpProxy(url.hostname or "127.0.0.1", url.port or 5432).start()
    proxied = postgres_url.replace(f"{url.hostname}:{url.port or 5432}", f"127.0.0.1:{database.port}", 1)
    try:
        env = await make_env(proxied, **broker.settings())
        await consuming(env)
        await database.cut()
        retried = counted("retried")
        body = po_event(env.tenants.add())
        await broker.publish(body)

        async def handed_back_twice() -> bool:
            return counted("retried") - retried >= 2

        await eventually(handed_back_twice, what="the message handed back (redelivered) twice")
        assert (await stored(postgres_url))[0] == 0  # nothing stored, and not acknowledged: still the broker's
        ready = await env.ready()
        assert ready.status_code == 503 and "database" in ready.json()["not_ready"]
        assert "storing a purchase order" in str(ready.json()["checks"]["rabbitmq_consumer"]["last_error"])

        await database.restore()

        async def one_message() -> bool:
            return len((await stored(postgres_url))[1]) == 1

        await eventually(one_message, what="the message row once the database is back")
        await asyncio.sleep(0.5)  # a copy still in flight would show by now
        events, messages = await stored(postgres_url)
        assert events == 1 and len(messages) == 1
        assert messages[0]["event_id"] == uuid.UUID(body["event_id"])
        await settled(broker, env)
        assert await broker.ready(broker.dlq) == 0  # retried, never dead-lettered
    finally:
        await database.aclose()


async def test_the_connection_to_the_broker_cut_and_restored(
    broker: Broker, make_env: EnvFactory, sqlite_url: str
) -> None:
    target = urlsplit(broker.url)
    line = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    proxied = broker.url.replace(f"{target.hostname}:{target.port or 5672}", f"127.0.0.1:{line.port}", 1)
    try:
        # the service starts while the broker is unreachable: HTTP works, readiness says degraded
        env = await make_env(sqlite_url, **broker.settings(proxied))
        ready = await env.ready()
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["rabbitmq_consumer"]["connected"] is False
        assert "not consuming RabbitMQ queue" in ready.json()["detail"]
        tenant = env.tenants.add()
        assert (await env.post_event(po_event(tenant))).status_code == 202

        await line.start()
        consumer = await consuming(env)
        assert (await env.ready()).json()["checks"]["rabbitmq_consumer"]["consuming"] is True
        await broker.publish(po_event(tenant))

        async def rows(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len((await stored(sqlite_url))[1]) == n

            return check

        await eventually(await rows(2), what="the first message over the broker")

        await line.cut()  # the broker "restarts": the connection drops, reconnecting is refused for now

        async def disconnected() -> bool:
            return not consumer.connected

        await eventually(disconnected, what="the consumer noticing")
        assert (await env.ready()).json()["checks"]["rabbitmq_consumer"]["connected"] is False
        await broker.publish(po_event(tenant))  # published meanwhile: kept by the broker
        await asyncio.sleep(0.5)
        assert await broker.ready() == 1
        assert len((await stored(sqlite_url))[1]) == 2

        connections = line.connections
        await line.restore()
        await eventually(await rows(3), what="the message published during the cut")
        assert line.connections > connections  # a new connection: the robust one reconnected by itself
        assert consumer.consuming
        await broker.publish(po_event(tenant))
        await eventually(await rows(4), what="consuming after the reconnect")
        ready = await env.ready()
        assert ready.json()["status"] == "ready", ready.json()
        await settled(broker, env)
    finally:
        await line.aclose()


async def test_without_rabbitmq_url_nothing_connects(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url)
    runtime: Runtime = env.app.state.runtime
    assert runtime.po_consumer is None
    ready = await env.ready()
    assert ready.status_code == 200
    assert ready.json()["checks"]["rabbitmq_consumer"] == {"enabled": False}


async def test_a_message_the_database_keeps_refusing_is_dead_lettered_after_the_limit(
    broker: Broker, make_env: EnvFactory, postgres_url: str
) -> None:
    """Not a matter of waiting (the database answers, and refuses this row): handed back at most
    RABBITMQ_PO_MAX_FAILURES times, then dead-lettered; the other messages flow meanwhile."""
    env = await make_env(postgres_url, **broker.settings(), rabbitmq_po_max_failures=3)
    await consuming(env)
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:  # a rule the valid event breaks, as a later migration might add
            await conn.execute(
                sa.text(
                    "ALTER TABLE whatsapp_messages ADD CONSTRAINT test_refused "
                    "CHECK (recipient_phone <> '+34699000111') NOT VALID"
                )
            )
    finally:
        await engine.dispose()
    tenant = env.tenants.add()
    await broker.publish(po_event(tenant, supplier={"phone": "+34699000111"}), message_id="poison")
    good = po_event(tenant)
    await broker.publish(good)

    dead: list[AbstractIncomingMessage] = []

    async def dead_lettered() -> bool:
        dead.extend(await broker.dead_letters())
        return bool(dead)

    await eventually(dead_lettered, what="the refused message in the dead-letter queue")
    assert [m.message_id for m in dead] == ["poison"]
    assert dead[0].headers["x-rejection-code"] == "processing_failed"
    assert "failed 3 times (IntegrityError)" in str(dead[0].headers["x-rejection-reason"])
    events, messages = await stored(postgres_url)
    assert events == 1  # the refused event's row went with its message's (one transaction)
    assert [m["event_id"] for m in messages] == [uuid.UUID(good["event_id"])]
    await settled(broker, env)


async def test_staff_alerts_arrive_on_their_routing_keys_through_the_same_consumer(
    broker: Broker, make_env: EnvFactory, database_url: str
) -> None:
    """Issue 17: the alert kinds' routing keys are bound to the purchase-order queue; each body is read by its
    kind's contract (a bad one is dead-lettered with the HTTP route's reason), one message per staff number."""
    settings = broker.settings() | {
        "rabbitmq_inventory_alert_routing_key": "inventory.alert",
        "rabbitmq_production_alert_routing_key": "production.alert",
    }
    env = await make_env(database_url, **settings)
    await consuming(env)
    tenant = env.tenants.add()
    env.tenants.tenants[tenant]["staff_numbers"] = [
        {"phone": "+34612345671", "kinds": ["inventory_alert"]},
        {"phone": "+34612345672", "kinds": ["inventory_alert", "production_alert"]},
    ]
    body = inventory_event(tenant)
    await broker.publish(body, routing_key="inventory.alert")
    await broker.publish(production_event(tenant) | {"problem": "burnt"}, routing_key="production.alert")

    async def two_messages() -> bool:
        return len((await stored(env.settings.notification_database_url))[1]) == 2

    await eventually(two_messages, what="the alert's two messages")
    _, messages = await stored(env.settings.notification_database_url)
    assert {m["kind"] for m in messages} == {"inventory_alert"}
    assert sorted(m["recipient_phone"] for m in messages) == ["+34612345671", "+34612345672"]
    assert {m["event_id"] for m in messages} == {uuid.UUID(body["event_id"])}

    async def one_dead_letter() -> bool:
        return await broker.ready(broker.dlq) == 1

    await eventually(one_dead_letter, what="the refused production alert")
    [dead] = await broker.dead_letters()
    assert "problem" in str(dead.headers.get("x-rejection-reason", dead.headers))
    await settled(broker, env)
