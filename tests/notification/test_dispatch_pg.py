"""Several dispatchers on one PostgreSQL: each message sent exactly once; leases recover crashed work."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service.models import whatsapp_messages
from notification_service.repositories import messages as messages_repo

from .conftest import Env
from .helpers import Clock, po_event


async def _queue_many(env: Env, count: int, tenants: int = 10) -> list[str]:
    tenant_ids = [env.tenants.add(phone_number_id=f"2000000000000{i:02d}") for i in range(tenants)]
    ids = []
    for i in range(count):
        body = po_event(tenant_ids[i % tenants], supplier={"phone": f"+34 6{i:08d}"})
        response = await env.post_event(body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["notification_id"])
    return ids


async def test_two_dispatchers_never_send_one_message_twice(pg_env: Env) -> None:
    env = pg_env
    ids = await _queue_many(env, 300)
    settings = env.settings.model_copy(update={"dispatch_batch_size": 25})
    first = env.dispatcher(settings=settings)  # each dispatcher creates its own engine
    second = env.dispatcher(settings=settings)
    assert first.engine is not second.engine

    async def drain_until_done(d) -> int:
        total = 0
        for _ in range(200):
            claimed = await d.run_once()
            total += claimed
            if claimed == 0:
                async with d.sessions() as session:
                    left = (
                        await session.execute(
                            sa.select(sa.func.count()).where(whatsapp_messages.c.status.in_(["queued", "sending"]))
                        )
                    ).scalar_one()
                if left == 0:
                    break
                await asyncio.sleep(0.05)
        return total

    claimed = await asyncio.gather(drain_until_done(first), drain_until_done(second))
    assert sum(claimed) == 300
    assert all(c > 0 for c in claimed), claimed  # both really took part
    callback_ids = Counter(s["payload"]["biz_opaque_callback_data"] for s in env.graph.sends)
    assert len(env.graph.sends) == 300
    assert all(n == 1 for n in callback_ids.values())
    assert set(callback_ids) == {f"notification:{i}" for i in ids}
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(whatsapp_messages.c.status, whatsapp_messages.c.attempts))).all()
    finally:
        await engine.dispose()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


async def test_expired_lease_is_picked_up_by_another_dispatcher(any_env: Env) -> None:
    env = any_env
    [nid] = await _queue_many(env, 1, tenants=1)
    engine = create_engine(env.settings.notification_database_url)
    sessions = create_session_factory(engine)
    try:
        # a dispatcher claims the message and then dies before doing anything
        now = utcnow()
        async with transaction(sessions) as session:
            claimed = await messages_repo.claim_batch(
                session,
                owner="crashed",
                now=now,
                lease_until=now + timedelta(seconds=60),
                limit=10,
            )
        assert len(claimed) == 1
    finally:
        await engine.dispose()
    clock = Clock()
    survivor = env.dispatcher(clock=clock)
    assert await survivor.run_once() == 0  # the lease still holds
    clock.advance(61)
    assert await survivor.run_once() == 1
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert message["possible_duplicates"] == 0
    assert len(env.graph.sends) == 1


async def test_crash_during_the_http_call_waits_for_a_webhook_then_counts_a_possible_duplicate(any_env: Env) -> None:
    env = any_env
    [nid] = await _queue_many(env, 1, tenants=1)
    clock = Clock()
    doomed = env.dispatcher(clock=clock)
    blocked = asyncio.Event()

    def hang(request):
        blocked.set()
        raise asyncio.CancelledError  # the process dies mid-request

    env.graph.script = [hang]
    task = asyncio.create_task(doomed.run_once())
    await blocked.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    message = await env.message(nid)
    assert message["status"] == "sending"
    assert message["attempt_log"][0]["outcome"] is None  # started, never finished

    # grace longer than the lease, so that the survivor still has to wait for a webhook
    survivor = env.dispatcher(clock=clock, settings=env.settings.model_copy(update={"ambiguous_grace_seconds": 120}))
    clock.advance(61)  # lease expired
    await survivor.run_once()
    message = await env.message(nid)
    assert message["status"] == "queued"
    assert message["status_reason"].startswith("ambiguous_timeout")
    assert message["attempt_log"][0]["outcome"] == "abandoned"
    assert await survivor.run_once() == 0
    clock.advance(60)  # no webhook in the grace period: resend, flagged
    await survivor.run_once()
    message = await env.message(nid)
    assert message["status"] == "sent"
    assert message["possible_duplicates"] == 1


async def test_graceful_shutdown_releases_claimed_work(any_env: Env) -> None:
    env = any_env
    await _queue_many(env, 3, tenants=1)
    settings = env.settings.model_copy(update={"rate_per_number_per_second": 1.0, "rate_wait_horizon_seconds": 5})
    d = env.dispatcher(settings=settings)
    d.start()
    for _ in range(100):
        if env.graph.sends:
            break
        await asyncio.sleep(0.02)
    await d.stop(grace=5)
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(whatsapp_messages))).mappings().all()
    finally:
        await engine.dispose()
    statuses = Counter(r["status"] for r in rows)
    assert statuses["sending"] == 0, statuses
    assert statuses["sent"] >= 1
    assert statuses["sent"] + statuses["queued"] == 3
    assert all(r["lease_owner"] is None for r in rows if r["status"] == "queued")


async def test_slow_sends_keep_their_lease(any_env: Env) -> None:
    """A batch that takes longer than the lease is not reclaimed by another dispatcher meanwhile (heartbeat)."""
    env = any_env
    [nid] = await _queue_many(env, 1, tenants=1)
    settings = env.settings.model_copy(update={"dispatch_lease_seconds": 0.6})
    slow = env.dispatcher(settings=settings)
    other = env.dispatcher(settings=settings)
    env.graph.delay = 1.5  # 2.5 leases
    task = asyncio.create_task(slow.run_once())
    for _ in range(6):
        await asyncio.sleep(0.25)
        assert await other.run_once() == 0
    await task
    assert (await env.message(nid))["status"] == "sent"
    assert len(env.graph.sends) == 1


async def test_the_claim_commits_without_waiting_for_its_flush_and_nothing_else_does(pg_env: Env) -> None:
    """The claim's transaction sets ``synchronous_commit`` off for itself only (a lost claim re-queues; the gate's
    synchronous commit flushes it before any send); an empty claim and the next transaction keep the default."""
    env = pg_env
    await _queue_many(env, 2, tenants=1)
    engine = create_engine(env.settings.notification_database_url)
    sessions = create_session_factory(engine)
    show = sa.text("SHOW synchronous_commit")
    try:
        now = utcnow()
        for expected_claimed, expected_setting in ((2, "off"), (0, "on")):
            async with transaction(sessions) as session:
                claimed, _ = await messages_repo.claim_batch_with_unfinished(
                    session, owner="d1", now=now, lease_until=now + timedelta(seconds=60), limit=10
                )
                assert len(claimed) == expected_claimed
                assert (await session.execute(show)).scalar_one() == expected_setting
        async with transaction(sessions) as session:
            assert (await session.execute(show)).scalar_one() == "on"
            rows = await session.execute(sa.select(whatsapp_messages.c.lease_owner, whatsapp_messages.c.status))
            assert sorted(rows.all()) == [("d1", "sending"), ("d1", "sending")]  # the claim itself committed
    finally:
        await engine.dispose()


async def test_batches_in_flight_overlap_and_still_send_each_message_once(pg_env: Env) -> None:
    """``DISPATCH_BATCHES_IN_FLIGHT=2``: while one batch waits on slow sends, the dispatcher's other slot claims and
    sends the next batch (two batches' messages are ``sending`` at once); every message goes out exactly once."""
    env = pg_env
    ids = await _queue_many(env, 12, tenants=12)
    settings = env.settings.model_copy(
        update={"dispatch_batch_size": 3, "dispatch_batches_in_flight": 2, "dispatch_poll_interval_seconds": 0.05}
    )
    env.graph.delay = 0.4
    dispatcher = env.dispatcher(settings=settings)
    in_flight_seen = 0

    async def sending() -> int:
        async with dispatcher.sessions() as session:
            query = sa.select(sa.func.count()).where(whatsapp_messages.c.status == "sending")
            return int((await session.execute(query)).scalar_one())

    dispatcher.start()
    try:
        for _ in range(200):
            in_flight_seen = max(in_flight_seen, await sending())
            if [(await env.message(i))["status"] for i in ids] == ["sent"] * 12:
                break
            await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop()
    assert [(await env.message(i))["status"] for i in ids] == ["sent"] * 12
    assert in_flight_seen > 3  # more than one batch of 3 at a time
    callback_ids = Counter(s["payload"]["biz_opaque_callback_data"] for s in env.graph.sends)
    assert len(env.graph.sends) == 12 and len(callback_ids) == 12
