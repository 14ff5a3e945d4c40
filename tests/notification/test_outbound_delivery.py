"""Delivering the events for the platform over signed HTTP (outbound/worker.py, outbound/http.py) to a real HTTP
subscriber: the documented verification recipe accepts every request, a subscriber down then up gets each event
once and in order per purchase order, 5xx answers are retried and then dead, a dead event holds back the later ones
of its purchase order until an admin re-drives it, and two workers on PostgreSQL never deliver one event twice."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service import metrics
from notification_service.domain.outbound_delivery import raw_body, signature
from notification_service.models import outbound_events
from notification_service.outbound.worker import OutboundDelivery
from notification_service.repositories import outbound_events as repo

from .conftest import Env, EnvFactory
from .helpers import token
from .outbound_helpers import Clock, Subscriber, by_po, store_events

SECRET = "subscriber-shared-secret"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "notification.md"


def documented_verifier() -> Callable[[str, bytes, dict[str, str]], bool]:
    """The Python snippet of docs/notification.md "Verifying a request", executed as subscribers would copy it."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Verifying a request (subscribers)") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the verification recipe is missing from docs/notification.md"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs-recipe", "exec"), namespace)  # noqa: S102 - our own documentation
    verifier: Callable[[str, bytes, dict[str, str]], bool] = namespace["verify_bakery_event"]
    return verifier


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    yield sub
    await sub.stop()


async def _env(make_env: EnvFactory, url: str, subscriber: Subscriber, **overrides: Any) -> Env:
    return await make_env(
        url,
        outbound_events_url=subscriber.url,
        outbound_events_secret=SECRET,
        outbound_events_retry_base_seconds=1,
        outbound_events_retry_max_seconds=30,
        **overrides,
    )


def _worker(env: Env, clock: Clock | None = None) -> OutboundDelivery:
    engine = create_engine(env.settings.notification_database_url)
    worker = OutboundDelivery(env.settings, create_session_factory(engine), clock=clock or utcnow)
    worker._test_engine = engine  # type: ignore[attr-defined]
    return worker


async def _close(worker: OutboundDelivery) -> None:
    await worker.aclose()
    await worker._test_engine.dispose()  # type: ignore[attr-defined]


async def _rows(worker: OutboundDelivery) -> list[dict[str, Any]]:
    async with worker.sessions() as session:
        result = await session.execute(sa.select(outbound_events).order_by(outbound_events.c.seq))
        return [dict(r) for r in result.mappings().all()]


async def test_signed_requests_pass_the_documented_recipe_and_tampering_fails(
    make_env: EnvFactory, database_url: str, subscriber: Subscriber
) -> None:
    await subscriber.start()
    env = await _env(make_env, database_url, subscriber)
    worker = _worker(env)
    try:
        ids = await store_events(worker.sessions, env.settings, uuid.uuid4(), ["po-1", "po-2"])
        assert await worker.drain() == 2
        rows = await _rows(worker)
    finally:
        await _close(worker)
    verify = documented_verifier()
    assert [r.event_id for r in subscriber.delivered] == [str(i) for i in ids]
    for received, row in zip(subscriber.delivered, rows, strict=True):
        assert verify(SECRET, received.body, received.headers)
        assert received.body == raw_body(row["payload"])  # the exact bytes that were signed
        assert received.headers["X-Bakery-Event"] == "purchase_order.supplier_confirmed"
        assert received.headers["Content-Type"] == "application/json"
        assert abs(int(received.headers["X-Bakery-Timestamp"]) - time.time()) < 60
        body = json.loads(received.body)
        assert body["type"] == "purchase_order.supplier_confirmed" and body["decision"] == "confirmed"
        assert row["http_status"] == "delivered" and row["http_attempts"] == 1 and row["amqp_status"] == "off"
        # what the recipe refuses: another secret, an altered body, a replayed (old) timestamp, no signature
        assert not verify("another-secret", received.body, received.headers)
        assert not verify(SECRET, received.body.replace(b"confirmed", b"rejected"), received.headers)
        old = str(int(time.time()) - 301)
        replayed = {
            **received.headers,
            "X-Bakery-Timestamp": old,
            "X-Bakery-Signature": signature(SECRET, int(old), received.body),
        }
        assert not verify(SECRET, received.body, replayed)
        assert not verify(SECRET, received.body, {"X-Bakery-Timestamp": received.headers["X-Bakery-Timestamp"]})
    assert SECRET not in json.dumps(rows, default=str)


async def test_subscriber_down_then_up_gets_each_event_once_in_order_per_po(
    make_env: EnvFactory, database_url: str, subscriber: Subscriber
) -> None:
    env = await _env(make_env, database_url, subscriber)
    clock = Clock()
    worker = _worker(env, clock)
    try:
        ids = await store_events(
            worker.sessions, env.settings, uuid.uuid4(), ["po-a", "po-b", "po-c"], per_po=3, now=clock.now
        )
        for _ in range(3):  # nobody listens: refused connections, retried with backoff
            assert await worker.drain() == 0
            clock.advance(60)
        rows = await _rows(worker)
        # only the first event of each purchase order was tried; the later ones waited for it
        assert [r["http_attempts"] for r in rows] == [3, 3, 3, 0, 0, 0, 0, 0, 0]
        assert all(r["http_status"] == "pending" for r in rows)
        assert "ConnectError" in rows[0]["http_last_error"] and subscriber.url not in rows[0]["http_last_error"]
        await subscriber.start()
        clock.advance(60)
        assert await worker.drain() == 9
        rows = await _rows(worker)
    finally:
        await _close(worker)
    received = [r.event_id for r in subscriber.requests]
    assert sorted(received) == sorted(str(i) for i in ids) and len(received) == len(set(received)) == 9
    expected = {po: [str(i) for i in ids[n::3]] for n, po in enumerate(["po-a", "po-b", "po-c"])}
    assert by_po(subscriber.delivered) == expected
    assert all(r["http_status"] == "delivered" and r["http_delivered_at"] is not None for r in rows)


async def test_5xx_retried_then_dead_blocks_its_po_until_redrive(
    make_env: EnvFactory, database_url: str, subscriber: Subscriber
) -> None:
    subscriber.default_status = 503
    await subscriber.start()
    env = await _env(make_env, database_url, subscriber, outbound_events_max_attempts=3)
    clock = Clock()
    worker = _worker(env, clock)
    admin = token(env.settings, "admin")

    def deliveries(result: str) -> float:
        value = REGISTRY.get_sample_value("outbound_event_deliveries_total", {"destination": "http", "result": result})
        return value or 0.0

    before = {r: deliveries(r) for r in ("delivered", "retry", "dead")}
    try:
        tenant = uuid.uuid4()
        first, other = await store_events(worker.sessions, env.settings, tenant, ["po-1", "po-2"], now=clock.now)
        (second,) = await store_events(worker.sessions, env.settings, tenant, ["po-1"], now=clock.now)
        subscriber.status_for[str(other)] = 200  # another purchase order's subscriber path works
        for _ in range(4):
            await worker.drain()
            clock.advance(120)
        rows = {r["id"]: r for r in await _rows(worker)}
        assert rows[first]["http_status"] == "dead" and rows[first]["http_attempts"] == 3
        assert rows[first]["http_last_error"] == "HTTP 503 Service Unavailable"
        assert rows[other]["http_status"] == "delivered"  # po-2 did not wait for po-1
        assert rows[second]["http_status"] == "pending" and rows[second]["http_attempts"] == 0  # held back
        assert [r.event_id for r in subscriber.requests].count(str(first)) == 3
        assert {r: deliveries(r) - before[r] for r in before} == {"delivered": 1, "retry": 2, "dead": 1}
        assert await metrics.QUEUE_GAUGES.refresh(worker.sessions, force=True)
        gauge = {
            s: REGISTRY.get_sample_value("outbound_events", {"destination": "http", "status": s})
            for s in ("pending", "dead")
        }
        assert gauge == {"pending": 1, "dead": 1}

        listed = await env.client.get("/api/v1/admin/outbound-events", params={"status": "dead"}, headers=admin)
        assert listed.status_code == 200, listed.text
        assert [e["id"] for e in listed.json()["events"]] == [str(first)]
        assert listed.json()["events"][0]["http"]["last_error"] == "HTTP 503 Service Unavailable"

        subscriber.default_status = 200
        redriven = await env.client.post(f"/api/v1/admin/outbound-events/{first}/redrive", headers=admin)
        assert redriven.status_code == 200, redriven.text
        assert redriven.json()["redriven"] == ["http"]
        assert redriven.json()["event"]["http"]["status"] == "pending"
        assert redriven.json()["event"]["http"]["attempts"] == 0
        again = await env.client.post(f"/api/v1/admin/outbound-events/{first}/redrive", headers=admin)
        assert again.status_code == 409 and "no dead delivery" in again.json()["detail"]
        missing = await env.client.post(f"/api/v1/admin/outbound-events/{uuid.uuid4()}/redrive", headers=admin)
        assert missing.status_code == 404
        bad = await env.client.get("/api/v1/admin/outbound-events", params={"status": "gone"}, headers=admin)
        assert bad.status_code == 422

        assert await worker.drain() == 2
        rows = {r["id"]: r for r in await _rows(worker)}
    finally:
        await _close(worker)
    assert rows[first]["http_status"] == rows[second]["http_status"] == "delivered"
    assert by_po(subscriber.delivered)["po-1"] == [str(first), str(second)]


async def test_a_refusing_answer_is_dead_at_once_and_retry_after_is_honoured(
    make_env: EnvFactory, sqlite_url: str, subscriber: Subscriber
) -> None:
    await subscriber.start()
    env = await _env(make_env, sqlite_url, subscriber)
    clock = Clock()
    worker = _worker(env, clock)
    try:
        refused, throttled = await store_events(
            worker.sessions, env.settings, uuid.uuid4(), ["po-1", "po-2"], now=clock.now
        )
        subscriber.status_for[str(refused)] = 422
        subscriber.answers = [429]  # po-1 is answered from status_for; po-2 gets this 429 first
        await worker.drain()
        rows = {r["id"]: r for r in await _rows(worker)}
    finally:
        await _close(worker)
    assert rows[refused]["http_status"] == "dead" and rows[refused]["http_attempts"] == 1
    assert rows[throttled]["http_status"] == "pending" and rows[throttled]["http_last_error"].startswith("HTTP 429")
    assert rows[throttled]["http_next_at"] > clock.now


async def test_two_workers_on_postgres_never_deliver_one_event_twice(
    make_env: EnvFactory, postgres_url: str, subscriber: Subscriber
) -> None:
    await subscriber.start()
    env = await _env(make_env, postgres_url, subscriber, outbound_events_batch_size=5)
    workers = [_worker(env), _worker(env)]
    pos = [f"po-{n}" for n in range(12)]
    try:
        ids = await store_events(workers[0].sessions, env.settings, uuid.uuid4(), pos, per_po=4)

        async def run(worker: OutboundDelivery) -> int:
            total = 0
            deadline = time.monotonic() + 60
            while len(subscriber.delivered) < len(ids) and time.monotonic() < deadline:
                total += await worker.run_once()
                await asyncio.sleep(0)
            return total

        shares = await asyncio.gather(*(run(w) for w in workers))
        rows = await _rows(workers[0])
    finally:
        for w in workers:
            await _close(w)
    received = [r.event_id for r in subscriber.requests]
    assert len(received) == len(set(received)) == len(ids) == sum(shares)
    assert all(shares), f"both workers took part: {shares}"
    assert by_po(subscriber.delivered) == {po: [str(i) for i in ids[n :: len(pos)]] for n, po in enumerate(pos)}
    assert all(r["http_status"] == "delivered" and r["http_attempts"] == 1 for r in rows)


async def test_the_running_worker_is_woken_by_record_and_started_by_the_runtime(
    make_env: EnvFactory, database_url: str, subscriber: Subscriber
) -> None:
    """The API process's worker (runtime.start): an event stored in another transaction reaches the subscriber
    without anyone calling the worker (PostgreSQL: NOTIFY; SQLite: the poll)."""
    await subscriber.start()
    env = await _env(
        make_env,
        database_url,
        subscriber,
        outbound_delivery_enabled=True,
        dispatch_listen_notify=True,
        outbound_events_poll_interval_seconds=0.2,
    )
    runtime = env.app.state.runtime
    assert runtime.outbound.running
    (event_id,) = await store_events(runtime.sessions, env.settings, uuid.uuid4(), ["po-1"])
    deadline = time.monotonic() + 10
    while not subscriber.delivered and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [r.event_id for r in subscriber.delivered] == [str(event_id)]


async def test_an_expired_lease_passes_the_event_on_and_fences_the_late_outcome(
    make_env: EnvFactory, database_url: str, subscriber: Subscriber
) -> None:
    """A process that claimed an event and then stalled past its lease: another claims it (attempt 2), and the
    stalled process's outcome is not written (``lease_lost``); the event is delivered by the one that holds it."""
    env = await _env(make_env, database_url, subscriber, outbound_events_lease_seconds=30)
    clock = Clock()
    worker = _worker(env, clock)
    try:
        (event_id,) = await store_events(worker.sessions, env.settings, uuid.uuid4(), ["po-1"], now=clock.now)
        async with transaction(worker.sessions) as session:
            (stalled,) = await repo.claim_due(
                session, "http", now=clock.now, lease_until=clock.now + timedelta(seconds=30), limit=10
            )
        async with transaction(worker.sessions) as session:  # leased: nobody else gets it meanwhile
            assert await repo.claim_due(session, "http", now=clock.now, lease_until=clock.now, limit=10) == []
        clock.advance(31)
        await subscriber.start()
        assert await worker.drain() == 1  # claims it again (attempt 2) and delivers it
        async with transaction(worker.sessions) as session:
            late = await repo.settle(
                session, "http", event_id, attempt=stalled.attempt, status="pending", now=clock.now, next_at=clock.now
            )
        rows = await _rows(worker)
    finally:
        await _close(worker)
    assert stalled.attempt == 1 and late is False
    assert rows[0]["http_status"] == "delivered" and rows[0]["http_attempts"] == 2
    assert [r.event_id for r in subscriber.requests] == [str(event_id)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"outbound_events_url": "http://platform.example/events"}, "OUTBOUND_EVENTS_SECRET is empty"),
        ({"outbound_events_url": "ftp://platform.example", "outbound_events_secret": "s"}, "http:// or https://"),
        ({"outbound_events_timeout_seconds": 30, "outbound_events_lease_seconds": 60}, "LEASE_SECONDS must exceed"),
    ],
)
def test_settings_refuse_what_cannot_work(overrides: dict[str, Any], message: str, sqlite_url: str) -> None:
    from pydantic import ValidationError

    from .helpers import make_settings

    with pytest.raises(ValidationError, match=message):
        make_settings(sqlite_url, **overrides)
