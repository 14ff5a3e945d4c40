"""One batch (dispatch/batch.py) under the races that used to send a message twice (issue 12, defect 1)."""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service.models import whatsapp_message_attempts, whatsapp_messages

from ..conftest import Env
from ..helpers import po_event, token


async def _queue(env: Env, tenants: int) -> list[str]:
    ids = []
    for i in range(tenants):
        tenant = env.tenants.add(phone_number_id=f"2000000000001{i:02d}")
        body = po_event(tenant, supplier={"phone": f"+34 6{i:08d}"})
        response = await env.post_event(body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["notification_id"])
    return ids


async def _attempts(env: Env) -> list[tuple[str, int]]:
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(whatsapp_message_attempts.c.message_id, whatsapp_message_attempts.c.attempt_no)
            )
            return [(str(r.message_id), int(r.attempt_no)) for r in rows]
    finally:
        await engine.dispose()


async def test_slow_tenant_service_never_lets_a_second_dispatcher_resend(pg_env: Env) -> None:
    """2 dispatchers, 5 s leases, a tenant service answering in 3 s, 12 tenants in one batch: the tenant look-ups
    (two rounds of 10 in flight) outlast the lease. Before the fix the heartbeat started only after them, the
    second dispatcher re-claimed the expired leases, both sent: 24 sends for 12 messages, two attempts numbered 1."""
    env = pg_env
    ids = await _queue(env, 12)
    env.tenants.delay = 3.0
    settings = env.settings.model_copy(update={"dispatch_lease_seconds": 5.0, "tenant_service_max_in_flight": 10})
    first = env.dispatcher(settings=settings)
    second = env.dispatcher(settings=settings)

    async def later() -> int:
        await asyncio.sleep(5.5)  # just after the first dispatcher's original lease has expired
        return await second.run_once()

    claimed = await asyncio.gather(first.run_once(), later())
    assert claimed == [12, 0]
    sends = Counter(s["payload"]["biz_opaque_callback_data"] for s in env.graph.sends)
    assert sends == Counter({f"notification:{i}": 1 for i in ids})
    assert sorted(await _attempts(env)) == sorted((i, 1) for i in ids)


async def test_a_message_whose_lease_was_lost_is_not_sent(any_env: Env) -> None:
    """The ownership write before the send matches nothing once another dispatcher holds the lease: not sent."""
    env = any_env
    [nid] = await _queue(env, 1)
    env.tenants.delay = 1.0
    d = env.dispatcher()
    engine = create_engine(env.settings.notification_database_url)
    sessions = create_session_factory(engine)

    async def steal() -> None:
        await asyncio.sleep(0.5)  # while the dispatcher waits for the tenant service
        async with transaction(sessions) as session:
            await session.execute(
                sa.update(whatsapp_messages).where(whatsapp_messages.c.id == nid).values(lease_owner="someone-else")
            )

    try:
        await asyncio.gather(d.run_once(), steal())
        async with sessions() as session:
            row = (await session.execute(sa.select(whatsapp_messages).where(whatsapp_messages.c.id == nid))).one()
    finally:
        await engine.dispose()
    assert env.graph.sends == []
    assert (row.status, row.lease_owner, row.attempts) == ("sending", "someone-else", 0)
    assert await _attempts(env) == []


async def test_a_message_with_a_recorded_wamid_is_never_sent_again(any_env: Env) -> None:
    """Back in ``queued`` with its wamid recorded (e.g. the wamid arrived after an ambiguous timeout): Meta has it."""
    env = any_env
    [nid] = await _queue(env, 1)
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await session.execute(
                sa.update(whatsapp_messages)
                .where(whatsapp_messages.c.id == nid)
                .values(wamid="wamid.EARLIER", awaiting_webhook_until=utcnow(), status="queued")
            )
    finally:
        await engine.dispose()
    assert await env.dispatcher().drain() == 1
    assert env.graph.sends == []
    message = await env.message(nid)
    assert (message["status"], message["wamid"], message["attempts"]) == ("sent", "wamid.EARLIER", 0)
    assert message["status_reason"].startswith("already_accepted")


async def test_one_tenants_flood_delays_another_tenants_po_by_at_most_one_batch(any_env: Env) -> None:
    """Issue 12, defect 3: claims were ordered by due_at only, so 3,000 queued messages of one bakery (paced to one
    recipient) stayed ahead of every other bakery's purchase order, 31 batches and growing with the flood."""
    from notification_service.domain.decisions import KIND_TEST
    from notification_service.domain.templates import PO_NOTIFICATION, get_template
    from notification_service.services.ingestion import new_message_values

    env = any_env
    flood_tenant = env.tenants.add(phone_number_id="200000000000001")
    now = utcnow()
    rows = [
        new_message_values(
            tenant_id=flood_tenant,
            event_id=None,
            kind=KIND_TEST,
            recipient="+34611111111",
            template_name="po_notification",
            template_values=dict(get_template(PO_NOTIFICATION).sample_values),
            requested_language=None,
            now=now,
        )
        for _ in range(3000)
    ]
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await session.execute(sa.insert(whatsapp_messages), rows)
    finally:
        await engine.dispose()
    [other] = await _queue(env, 1)
    d = env.dispatcher()
    assert await d.run_once() == env.settings.dispatch_batch_size
    assert (await env.message(other))["status"] == "sent"
    # and the flood still drains: the next batches keep working through it
    assert await d.run_once() > 0


async def test_no_send_from_a_number_unassigned_while_the_batch_waits(env: Env) -> None:
    """Issue 13 item 3: the settings are read at the start of a batch; a message waiting for its rate slot must
    not leave from the number if the tenant's settings changed meanwhile (the dispatcher compares versions)."""
    tenant = env.tenants.add(phone_number_id="200000000000001")
    for i in range(2):
        body = po_event(tenant, supplier={"phone": f"+34 61111111{i}"})
        assert (await env.post_event(body)).status_code == 202
    settings = env.settings.model_copy(update={"rate_per_number_per_second": 1.0})
    # the in-process case: the dispatcher shares the API's tenant client
    d = env.dispatcher(settings=settings, tenant_client=env.app.state.runtime.tenants)

    async def unassign_while_waiting() -> None:
        # the first message went out; the second waits ~1 s for its slot (poll: a fixed sleep raced a slow claim)
        for _ in range(200):
            if env.graph.sends:
                break
            await asyncio.sleep(0.01)
        env.tenants.tenants[tenant]["whatsapp_phone_number_id"] = "200000000000009"
        r = await env.client.post(
            f"/internal/v1/tenants/{tenant}/settings-changed", headers=token(env.settings, "service")
        )
        assert r.status_code == 204

    await asyncio.gather(d.run_once(), unassign_while_waiting())
    assert [s["phone_number_id"] for s in env.graph.sends] == ["200000000000001"]
    await d.drain()
    assert [s["phone_number_id"] for s in env.graph.sends] == ["200000000000001", "200000000000009"]
