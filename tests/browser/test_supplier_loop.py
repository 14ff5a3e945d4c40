"""Issue 16 end to end through real processes and real parts: a purchase order published on RabbitMQ is consumed
by the notification service, sent as the template with signed Confirm/Reject buttons through the sandbox; the
sandbox's supplier taps "Confirmar"; the decision is stored, the confirmation reply is sent inside the window,
``purchase_order.supplier_confirmed`` is published to RabbitMQ and POSTed, signed, to an HTTP subscriber; the owner
sees the decision on the page in Chromium."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bakery_shared.launcher import free_port
from tests.browser.conftest import DESKTOP
from tests.browser.stack import Stack, start_stack
from tests.browser.test_pages import bakery, number, open_as

pytestmark = pytest.mark.browser

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under REQUIRE_BROWSER=1) with the reason
    expect = None

SECRET = "supplier-loop-subscriber-secret"
CONFIRMED = "purchase_order.supplier_confirmed"


class Subscriber:
    """The platform's HTTP endpoint for events: keeps every POST (headers and the exact body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def events(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(headers: dict[str, str], body: bytes) -> bool:
    """The subscriber's check, as docs/notification.md ("Events for the platform") tells subscribers to write it."""
    timestamp = headers.get("X-Bakery-Timestamp", "")
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp or 0)) < 300
    return fresh and hmac.compare_digest("sha256=" + expected, headers.get("X-Bakery-Signature", ""))


def _run(coro: Any) -> Any:
    """Run ``coro`` to completion in a thread of its own: Playwright's sync API keeps an event loop running in
    this one (see tests/browser/conftest.py)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Broker:
    """The platform's side of RabbitMQ: publishes the purchase order, listens for supplier decisions."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url, self.exchange = url, exchange
        self.queue = f"e2e.platform.{uuid.uuid4().hex[:8]}"

    async def _declare(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self.queue, auto_delete=False)
            await queue.bind(exchange, routing_key="purchase_order.#")

    async def _publish(self, body: dict[str, Any], routing_key: str) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            message = aio_pika.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=routing_key)

    async def _take(self, timeout: float) -> list[tuple[str, dict[str, Any], bool]]:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        got: list[tuple[str, dict[str, Any], bool]] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, auto_delete=False)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not got:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.2)
                    continue
                persistent = message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                got.append((message.routing_key or "", json.loads(message.body), persistent))
                await message.ack()
        return got

    async def _delete(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(self.queue)
            await channel.exchange_delete(self.exchange)

    def declare(self) -> None:
        _run(self._declare())

    def publish(self, body: dict[str, Any], routing_key: str) -> None:
        _run(self._publish(body, routing_key))

    def take(self, timeout: float = 30.0) -> list[tuple[str, dict[str, Any], bool]]:
        return _run(self._take(timeout))

    def delete(self) -> None:
        _run(self._delete())


@pytest.fixture(scope="module")
def loop_stack(
    tmp_path_factory: pytest.TempPathFactory, rabbitmq_url: str
) -> Iterator[tuple[Stack, Broker, Subscriber]]:
    tag = uuid.uuid4().hex[:8]
    broker = Broker(rabbitmq_url, f"e2e.events.{tag}")
    broker.declare()
    subscriber = Subscriber()
    root: Path = tmp_path_factory.mktemp("supplier-loop")
    stack = start_stack(
        root,
        {
            "RABBITMQ_URL": rabbitmq_url,
            "RABBITMQ_EVENTS_EXCHANGE": broker.exchange,  # the platform's one topic exchange, both directions
            "RABBITMQ_PO_EXCHANGE": broker.exchange,
            "RABBITMQ_PO_QUEUE": f"e2e.notification.purchase_orders.{tag}",
            "OUTBOUND_EVENTS_URL": subscriber.url,
            "OUTBOUND_EVENTS_SECRET": SECRET,
        },
    )
    try:
        yield stack, broker, subscriber
    finally:
        stack.stop()
        subscriber.close()
        _run(_drop_queues(rabbitmq_url, [f"e2e.notification.purchase_orders.{tag}"]))
        broker.delete()


async def _drop_queues(url: str, names: list[str]) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            for suffix in ("", ".dlq"):
                await channel.queue_delete(name + suffix)
            await channel.exchange_delete(name + ".dlx")


def _eventually(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout:.0f} s: {what}")


def test_po_over_rabbitmq_confirmed_by_the_supplier_reaches_the_platform_and_the_owner(
    loop_stack: tuple[Stack, Broker, Subscriber], browser: Any
) -> None:
    stack, broker, subscriber = loop_stack
    tenant_id, _ = bakery(9)
    stack.assign(tenant_id, number(9))
    stack.set_whatsapp(tenant_id, True)
    supplier = "+34600777888"
    po_id = f"po-{uuid.uuid4().hex[:8]}"

    # 1. the platform publishes the approved purchase order (the body of POST /api/v1/events/purchase-orders)
    broker.publish(
        {
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "occurred_at": datetime.now(UTC).isoformat(),
            "purchase_order": {"id": po_id, "number": "PO-LOOP-0001", "total_amount": "310.40", "currency": "EUR"},
            "supplier": {"name": "Harinas del Norte", "phone": supplier, "language": "es"},
        },
        routing_key="procurement.po_approved",
    )

    admin = stack.headers("admin")
    with httpx.Client(timeout=15) as client:

        def messages() -> list[dict[str, Any]]:
            r = client.get(f"{stack.notification_url}/api/v1/messages", params={"tenant_id": tenant_id}, headers=admin)
            assert r.status_code == 200, r.text
            items: list[dict[str, Any]] = r.json()["items"]
            return items

        # 2. consumed, sent through the sandbox as the template with the signed buttons
        po = _eventually(
            lambda: next((m for m in messages() if m["kind"] == "purchase_order" and m["wamid"]), None),
            "the purchase order from RabbitMQ was sent",
        )
        sent = client.get(f"{stack.sandbox_url}/_sandbox/messages", params={"wamid": po["wamid"]}).json()[0]
        buttons = [c for c in sent["request"]["template"]["components"] if c["type"] == "button"]
        assert [b["sub_type"] for b in buttons] == ["quick_reply", "quick_reply"]

        # 3. the supplier taps "Confirmar" (the sandbox sends back the payload the send carried)
        tapped = client.post(f"{stack.sandbox_url}/_sandbox/messages/{po['wamid']}/tap", json={"button": "confirm"})
        assert tapped.status_code == 200, tapped.text

        # 4. decision stored; the confirmation reply goes out inside the window the tap opened
        decided = _eventually(
            lambda: (lambda m: m if (m.get("supplier_decision") or {}).get("decision") == "confirmed" else None)(
                client.get(f"{stack.notification_url}/api/v1/messages/{po['id']}", headers=admin).json()
            ),
            "the supplier's decision was stored",
        )
        assert decided["supplier_decision"]["decision"] == "confirmed"
        ack = _eventually(
            lambda: next((m for m in messages() if m["kind"] == "supplier_ack" and m["wamid"]), None),
            "the confirmation reply was sent",
        )
        assert ack["recipient_phone"] == supplier

    # 5. the platform hears it: on RabbitMQ (persistent, routing key = event name) ...
    published = broker.take()
    assert len(published) == 1, published
    routing_key, body, persistent = published[0]
    assert (routing_key, body["type"], persistent) == (CONFIRMED, CONFIRMED, True)
    assert body["purchase_order"] == {"id": po_id, "number": "PO-LOOP-0001"} and body["tenant_id"] == tenant_id
    assert body["decision"] == "confirmed" and body["supplier"]["phone"] == supplier

    # ... and over signed HTTP, once
    posted = _eventually(lambda: subscriber.events(), "the event was POSTed to the subscriber")
    assert len(posted) == 1
    headers, raw = posted[0]
    assert verify(headers, raw), headers
    assert verify({**headers, "X-Bakery-Timestamp": str(int(time.time()) + 1)}, raw) is False
    assert json.loads(raw) == body and headers["X-Bakery-Event"] == CONFIRMED

    # 6. the owner sees it on the page
    context = browser.new_context(viewport=DESKTOP, base_url=stack.tenant_url, locale="es-ES")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        open_as(page, stack, "/app/settings/notifications", "owner", tenant_id)
        item = page.locator("#latest-list li.message", has_text="PO-LOOP-0001")
        expect(item.locator("[data-decision='confirmed']")).to_contain_text("El proveedor confirmó el pedido")
        assert not errors, errors
    finally:
        context.close()
