"""Where stored webhook events are applied (``WEBHOOK_APPLIER_ENABLED``): in the API process (the default, and
what a single-process SQLite ``make run`` needs), or in the stand-alone dispatcher processes with the API's off
(production: the POST's process only checks and stores). On PostgreSQL any number of appliers share the work."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from notification_service.dispatch import worker
from notification_service.services.webhooks import WebhookProcessor

from .conftest import Env, EnvFactory
from .test_webhook_applier import NUMBER, T0, as_utc, at
from .webhook_helpers import post_signed, rows, sent_messages, status_item, statuses_body, wait_applied


async def test_with_its_applier_off_the_api_stores_and_does_not_apply(make_env: EnvFactory, database_url: str) -> None:
    env = await make_env(database_url, webhook_applier_enabled=False)
    runtime = env.app.state.runtime
    assert not runtime.webhook_applier.running
    (message,) = await sent_messages(env, 1)
    r = await post_signed(env.client, statuses_body(NUMBER, [status_item(message["wamid"], "delivered", T0)]))
    assert r.status_code == 200
    assert r.json() == {"status": "received", "event_id": r.json()["event_id"], "duplicate": False}
    (stored,) = await rows(env, "webhook_events")
    assert stored["processed_at"] is None  # left to the processes that apply
    assert len(runtime.webhooks._parsed) == 0  # no parsed payload kept for an applier that is not here
    assert (await env.message(message["id"]))["status"] == "sent"
    # another process's applier (a sweep round) applies it from the stored text
    assert (await runtime.webhooks.apply_batch(200, retries=True)).events == 1
    assert (await env.message(message["id"]))["status"] == "delivered"


async def test_the_dispatcher_process_applies_what_the_api_stored_woken_by_notify(
    make_env: EnvFactory, postgres_url: str
) -> None:
    """The API (applier off) stores and ``NOTIFY``s in the store's transaction; the stand-alone dispatcher's
    applier LISTENs and applies at once: its periodic sweep is an hour away here and no body was stored in its
    process."""
    env = await make_env(postgres_url, webhook_applier_enabled=False, dispatch_listen_notify=True)
    messages = await sent_messages(env, 3)
    settings = env.settings.model_copy(
        update={
            "webhook_applier_enabled": True,
            "whatsapp_webhook_sweep_interval_seconds": 3600.0,
            "whatsapp_webhook_apply_linger_seconds": 0.0,
        }
    )
    dispatcher = env.dispatcher(settings=settings)
    parts = worker._webhook_parts(settings, dispatcher, None)
    parts.start_applying()
    try:
        await asyncio.sleep(0.5)  # its first round (nothing stored yet) and its LISTEN connection
        ids = []
        for m in messages:
            r = await post_signed(env.client, statuses_body(NUMBER, [status_item(m["wamid"], "read", T0)]))
            ids.append(r.json()["event_id"])
        await wait_applied(env, *ids)
    finally:
        await parts.aclose()
    assert {(await env.message(m["id"]))["status"] for m in messages} == {"read"}
    assert parts.applier.batches >= 1


async def test_two_appliers_apply_interleaved_statuses_of_the_same_messages(
    pg_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Two appliers (two processes' engines) claim batches concurrently, every batch naming the same messages
    in another order, each message's statuses stored out of order: claims skip each other's events (none is
    applied twice), message rows are locked in id order (no deadlock: no batch falls back to one by one), and
    every message ends as if its statuses had come in order, forward-only."""
    env = pg_env
    messages = await sent_messages(env, 12)
    runtime = env.app.state.runtime
    await runtime.webhook_applier.stop()
    rng = random.Random(14)
    items = [
        (m, status, T0 + 10 * i + step)
        for i, m in enumerate(messages)
        for step, status in enumerate(("sent", "delivered", "read"))
    ]
    rng.shuffle(items)
    ids = []
    for start in range(0, len(items), 4):  # four statuses of different messages per body, 9 bodies
        body = statuses_body(
            NUMBER, [status_item(m["wamid"], status, ts) for m, status, ts in items[start : start + 4]]
        )
        r = await post_signed(env.client, body)
        ids.append(r.json()["event_id"])

    other_settings = env.settings.model_copy(update={"webhook_applier_enabled": True})
    other_dispatcher = env.dispatcher(settings=other_settings)  # its own engine: another process's connections
    other = worker._webhook_parts(other_settings, other_dispatcher, None).processor
    mine: WebhookProcessor = runtime.webhooks

    async def drain(processor: WebhookProcessor) -> int:
        done = 0
        while (batch := await processor.apply_batch(2)).events:
            done += batch.events
        return done

    with caplog.at_level(logging.WARNING, logger="notification.whatsapp.webhooks"):
        shares = await asyncio.gather(drain(mine), drain(other), drain(mine), drain(other))
    assert sum(shares) == len(ids) == 9
    assert not [r for r in caplog.records if "one by one" in r.getMessage()]
    events = await rows(env, "webhook_events")
    assert all(e["processed_at"] is not None and e["process_attempts"] == 1 for e in events)
    assert all(e["last_error"] is None for e in events)
    statuses = await rows(env, "webhook_statuses")
    assert len(statuses) == 36
    assert {s["outcome"] for s in statuses} <= {"applied", "updated", "duplicate"}
    for i, m in enumerate(messages):
        after = await env.message(m["id"])
        assert after["status"] == "read", after
        assert as_utc(after["delivered_at"]) == at(T0 + 10 * i + 1)
        assert as_utc(after["read_at"]) == at(T0 + 10 * i + 2)
