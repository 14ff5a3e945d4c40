"""Shares of the portfolio's daily new-recipient budget (services/shares.py) enforced by the rate gate: derived
from the portfolio's messaging limit, configured by an admin, waiting (never failing) over the share, and safe
when two dispatchers race for the last unit of a share (PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service.repositories import whatsapp_state as state_repo

from .conftest import Env, EnvFactory
from .helpers import Clock, po_event, token

NUMBERS = [f"2000000000000{i:02d}" for i in range(1, 11)]


async def _portfolio(env: Env, tier: str) -> None:
    """The portfolio's messaging limit as the sync stores it (on every number)."""
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            for number in NUMBERS[:3]:
                await state_repo.upsert_number(session, number, {"messaging_limit_tier": tier}, utcnow())
    finally:
        await engine.dispose()


async def _po(env: Env, tenant: uuid.UUID, supplier: int) -> str:
    body = po_event(tenant, supplier={"phone": f"+34 611 000 {supplier:03d}"})
    response = await env.post_event(body)
    assert response.status_code == 202, response.text
    return str(response.json()["notification_id"])


async def _share(env: Env, tenant: uuid.UUID, value: int | None, role: str = "admin") -> object:
    return await env.client.put(
        f"/api/v1/admin/whatsapp/tenants/{tenant}/recipient-share",
        json={"daily_new_recipients": value},
        headers=token(env.settings, role, tenant if role == "owner" else None),
    )


async def test_derived_and_configured_shares_bind_and_wait_for_the_next_day(any_env: Env) -> None:
    env = any_env
    await _portfolio(env, "TIER_50")
    big, a, b = (env.tenants.add(phone_number_id=n) for n in NUMBERS[:3])
    configured = await _share(env, big, 46)
    assert configured.status_code == 200  # type: ignore[attr-defined]
    out = configured.json()  # type: ignore[attr-defined]
    assert (out["tenant_id"], out["daily_new_recipients"], out["source"]) == (str(big), 46, "configured")
    ids_a = [await _po(env, a, i) for i in range(3)]
    await _po(env, b, 1)
    await _po(env, big, 1)
    clock = Clock()
    d = env.dispatcher(clock=clock)
    await d.drain()
    # (50 - 46) // 2 active bakeries without a configured share = 2 each: a's third new supplier waits
    statuses = [(await env.message(i)) for i in ids_a]
    assert [m["status"] for m in statuses] == ["sent", "sent", "queued"]
    assert statuses[2]["status_reason"].startswith("rate_limited: daily cap")
    assert statuses[2]["due_at"].startswith((clock().date() + timedelta(days=1)).isoformat())
    again = await _po(env, a, 0)  # a supplier already counted today is not a new recipient
    await d.drain()
    assert (await env.message(again))["status"] == "sent"

    usage = (await env.client.get("/api/v1/admin/whatsapp/usage", headers=token(env.settings, "admin"))).json()
    per = {row["tenant_id"]: row for row in usage["tenants"]}
    assert (per[str(a)]["cap"], per[str(a)]["share_source"], per[str(a)]["share_used"]) == (2, "derived", 2)
    assert per[str(a)]["remaining"] == 0
    assert (per[str(big)]["cap"], per[str(big)]["share_source"], per[str(big)]["share_used"]) == (46, "configured", 1)
    assert usage["portfolio"]["messaging_limit"] == 50 and usage["portfolio"]["active_bakeries"] == 3
    assert usage["portfolio"]["derived_share"] == 2 and usage["portfolio"]["configured_shares_total"] == 46
    own = await env.client.get(f"/api/v1/tenants/{a}/whatsapp/usage", headers=token(env.settings, "owner", a))
    assert own.json()["cap"] == 2 and own.json()["share_used"] == 2

    # the admin raises a's share: the waiting message goes today (it never failed)
    assert (await _share(env, a, 5)).status_code == 200  # type: ignore[attr-defined]
    d.shares_changed()
    # the waiting message keeps its due time (tomorrow); a new order to a new supplier goes at once
    fresh = await _po(env, a, 9)
    await d.drain()
    assert (await env.message(fresh))["status"] == "sent"
    # next UTC day: the waiting one goes too
    clock.advance(86400)
    await d.drain()
    assert (await env.message(ids_a[2]))["status"] == "sent"


async def test_share_api_checks_the_caller_and_the_value(env: Env) -> None:
    tenant = env.tenants.add()
    assert (await _share(env, tenant, 5, role="owner")).status_code == 403  # type: ignore[attr-defined]
    bad = await _share(env, tenant, 0)
    assert bad.status_code == 422 and "daily_new_recipients" in bad.text  # type: ignore[attr-defined]
    back = await _share(env, tenant, None)
    assert back.status_code == 200 and back.json()["source"] == "fallback"  # type: ignore[attr-defined]


async def test_two_dispatchers_racing_for_the_last_unit_of_a_share(make_env: EnvFactory, postgres_url: str) -> None:
    env = await make_env(postgres_url, dispatch_batch_size=1)
    tenants = [env.tenants.add(phone_number_id=NUMBERS[i]) for i in range(5)]
    for tenant in tenants:
        assert (await _share(env, tenant, 1)).status_code == 200  # type: ignore[attr-defined]
    ids = {tenant: [await _po(env, tenant, 1), await _po(env, tenant, 2)] for tenant in tenants}
    first, second = env.dispatcher(), env.dispatcher()
    await asyncio.gather(first.drain(), second.drain())
    for tenant, pair in ids.items():
        statuses = sorted([(await env.message(i))["status"] for i in pair])
        assert statuses == ["queued", "sent"], (tenant, statuses)  # exactly one new recipient each, never two
    assert len(env.graph.sends) == 5
