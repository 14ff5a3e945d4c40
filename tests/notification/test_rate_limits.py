"""Rate limits kept in the database: per number, per recipient pair, per-tenant daily new recipients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from notification_service.domain import rate_gate
from notification_service.domain.rate_gate import Counter, GateConfig, GateRequest

from .conftest import EnvFactory
from .helpers import Clock, FrozenClock, po_event


def test_gate_plan_per_number() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    config = GateConfig(rate_per_second=10, pair_interval=0, horizon=0.25)
    tenant = uuid.uuid4()
    requests = [GateRequest(uuid.uuid4(), tenant, "1", f"+3461200000{i}") for i in range(5)]
    counters = {"num:1": Counter("num:1", None, 0)}
    result = rate_gate.plan(requests, counters, config=config, now=now, known_today=set())
    allowed = [r for r in requests if result[r.message_id].allowed]
    assert len(allowed) == 3  # slots at 0, 0.1, 0.2 s fit in the 0.25 s horizon
    assert [result[r.message_id].send_at for r in allowed] == [now + timedelta(seconds=0.1 * i) for i in range(3)]
    deferred = [result[r.message_id] for r in requests if not result[r.message_id].allowed]
    assert all((d.reason or "").startswith("rate_limited") and d.defer_until and d.defer_until > now for d in deferred)


async def test_per_number_rate_spreads_sends(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, rate_per_number_per_second=2, rate_wait_horizon_seconds=0)
    tenant = env.tenants.add()
    ids = [
        (await env.post_event(po_event(tenant, supplier={"phone": f"+34 612 000 00{i}"}))).json()["notification_id"]
        for i in range(3)
    ]
    clock = FrozenClock()  # real time plus an offset let a slow CI machine open the next slot mid-drain
    d = env.dispatcher(clock=clock)
    await d.drain()
    assert len(env.graph.sends) == 1
    statuses = [(await env.message(i))["status_reason"] for i in ids]
    assert sum(1 for s in statuses if s and s.startswith("rate_limited: phone number")) == 2
    clock.advance(0.6)
    await d.drain()
    assert len(env.graph.sends) == 2
    clock.advance(0.6)
    await d.drain()
    assert len(env.graph.sends) == 3


async def test_recipient_pacing(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, recipient_min_interval_seconds=6, rate_wait_horizon_seconds=1)
    tenant = env.tenants.add()
    first = (await env.post_event(po_event(tenant))).json()["notification_id"]
    second = (await env.post_event(po_event(tenant))).json()["notification_id"]  # same supplier phone
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    assert (await env.message(first))["status"] == "sent"
    waiting = await env.message(second)
    assert waiting["status"] == "queued"
    assert waiting["status_reason"].startswith("rate_limited: pacing")
    clock.advance(3)
    await d.drain()
    assert (await env.message(second))["status"] == "queued"
    clock.advance(3.5)
    await d.drain()
    assert (await env.message(second))["status"] == "sent"
    gap = env.graph.sends[1]["at"] - env.graph.sends[0]["at"]
    assert gap.total_seconds() >= 0  # real time; the clock above proves the 6 s gap


async def test_daily_cap_on_new_recipients_per_tenant(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, tenant_daily_new_recipient_cap=2)
    tenant = env.tenants.add()
    other_tenant = env.tenants.add(phone_number_id="200000000000002")
    a = (await env.post_event(po_event(tenant, supplier={"phone": "+34 611 000 001"}))).json()["notification_id"]
    b = (await env.post_event(po_event(tenant, supplier={"phone": "+34 611 000 002"}))).json()["notification_id"]
    c = (await env.post_event(po_event(tenant, supplier={"phone": "+34 611 000 003"}))).json()["notification_id"]
    a2 = (await env.post_event(po_event(tenant, supplier={"phone": "+34 611 000 001"}))).json()["notification_id"]
    other = (await env.post_event(po_event(other_tenant, supplier={"phone": "+34 611 000 003"}))).json()[
        "notification_id"
    ]
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    assert (await env.message(a))["status"] == "sent"
    assert (await env.message(b))["status"] == "sent"
    capped = await env.message(c)
    assert capped["status"] == "queued"
    assert capped["status_reason"].startswith("rate_limited: daily cap")
    assert (await env.message(a2))["status"] == "sent"  # a known recipient is not a new one
    assert (await env.message(other))["status"] == "sent"  # another tenant has its own cap
    # due again after the next UTC midnight
    assert capped["due_at"].startswith((clock().date() + timedelta(days=1)).isoformat())


async def test_rate_rows_removed_after_the_dispatcher_saw_them_are_created_again(
    make_env: EnvFactory, database_url: str
) -> None:
    """The dispatcher creates a rate-limit row only for keys it has not seen (issue 14); when the clean-up removed
    one since, the batch creates it again and the pacing still holds (no batch lost to a missing row)."""
    import sqlalchemy as sa

    from bakery_shared.db import create_engine, create_session_factory, transaction
    from notification_service.models import rate_limit_state

    env = await make_env(database_url, recipient_min_interval_seconds=6, rate_wait_horizon_seconds=1)
    tenant = env.tenants.add()
    clock = Clock()
    d = env.dispatcher(clock=clock)
    first = (await env.post_event(po_event(tenant))).json()["notification_id"]
    await d.drain()
    assert (await env.message(first))["status"] == "sent"
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await session.execute(sa.delete(rate_limit_state))  # e.g. the hourly clean-up of old rows
    finally:
        await engine.dispose()
    clock.advance(7)
    second = (await env.post_event(po_event(tenant))).json()["notification_id"]  # same recipient, same number
    third = (await env.post_event(po_event(tenant))).json()["notification_id"]
    await d.drain()
    assert (await env.message(second))["status"] == "sent"
    waiting = await env.message(third)
    assert waiting["status"] == "queued" and waiting["status_reason"].startswith("rate_limited: pacing")
