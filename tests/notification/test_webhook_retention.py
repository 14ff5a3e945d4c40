"""Bounded storage (issue 13 item 11): old webhook bodies and status rows are removed, what a message still needs
is kept, the sweeper runs the job, and a counter says how many rows went."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client import REGISTRY

from bakery_shared.db import create_engine
from notification_service.models import webhook_events
from notification_service.services.webhook_retention import Purged, WebhookRetention

from .conftest import Env, EnvFactory
from .webhook_helpers import (
    UTILITY,
    post_applied,
    post_signed,
    raw_json,
    rows,
    sent_messages,
    status_item,
    statuses_body,
    wait_applied,
)

NUMBER = "200000000000001"
T0 = 1_780_000_000


def purged(table: str) -> float:
    return REGISTRY.get_sample_value("whatsapp_webhook_rows_purged_total", {"table": table}) or 0.0


def retention(env: Env, days_later: float, batch_size: int = 500) -> WebhookRetention:
    later = datetime.now(UTC) + timedelta(days=days_later)
    return WebhookRetention(
        env.app.state.runtime.sessions, retention_days=30, clock=lambda: later, batch_size=batch_size
    )


async def stored_given_up(env: Env, raw: bytes) -> int:
    """A stored event the applier gave up on (20 failed attempts): never processed, so never purged."""
    async with env.app.state.runtime.sessions() as session, session.begin():
        inserted = await session.execute(
            sa.insert(webhook_events)
            .values(
                body_sha256=hashlib.sha256(raw).hexdigest(),
                body=raw.decode(),
                size=len(raw),
                fields="messages",
                received_at=datetime.now(UTC),
                process_attempts=20,
                last_error="OperationalError: the database was unreachable",
            )
            .returning(webhook_events.c.id)
        )
        return int(inserted.scalar_one())


async def test_retention_keeps_what_messages_still_need(any_env: Env) -> None:
    a, b, c = await sent_messages(any_env, 3)
    settled = await post_signed(
        any_env.client,
        statuses_body(NUMBER, [status_item(a["wamid"], "delivered", T0), status_item(b["wamid"], "read", T0)]),
    )
    in_flight = await post_signed(any_env.client, statuses_body(NUMBER, [status_item(c["wamid"], "sent", T0)]))
    unknown = await post_signed(any_env.client, statuses_body(NUMBER, [status_item("wamid.NOPE", "read", T0)]))
    invalid = await post_signed(any_env.client, {"entry": 5})
    assert all(r.status_code == 200 for r in (settled, in_flight, unknown, invalid))
    await wait_applied(any_env, *(r.json()["event_id"] for r in (settled, in_flight, unknown, invalid)))
    unprocessed = await stored_given_up(
        any_env, raw_json(statuses_body(NUMBER, [status_item("wamid.LATER", "sent", T0)]))
    )
    assert len(await rows(any_env, "webhook_events")) == 5
    assert len(await rows(any_env, "webhook_statuses")) == 4

    # nothing is old enough yet
    assert await retention(any_env, days_later=29).purge() == Purged()
    assert len(await rows(any_env, "webhook_events")) == 5

    before = (purged("webhook_events"), purged("webhook_statuses"))
    # 31 days later, in batches of one so that the kept events do not stop the walk
    result = await retention(any_env, days_later=31, batch_size=1).purge()
    assert (result.events, result.statuses) == (3, 3)
    assert (purged("webhook_events") - before[0], purged("webhook_statuses") - before[1]) == (3, 3)
    kept = {e["id"] for e in await rows(any_env, "webhook_events")}
    assert kept == {in_flight.json()["event_id"], unprocessed}  # c is still "sent"; one was never processed
    assert [(s["wamid"], s["outcome"]) for s in await rows(any_env, "webhook_statuses")] == [(c["wamid"], "updated")]

    # once c settles, its old evidence goes too; the unprocessed event never does
    delivered = await post_applied(any_env, statuses_body(NUMBER, [status_item(c["wamid"], "delivered", T0)]))
    assert (await any_env.message(c["id"]))["status"] == "delivered"
    result = await retention(any_env, days_later=31).purge()
    assert (result.events, result.statuses) == (2, 2)
    assert {e["id"] for e in await rows(any_env, "webhook_events")} == {unprocessed}
    assert delivered.json()["event_id"] not in {e["id"] for e in await rows(any_env, "webhook_events")}

    # Meta re-delivering a removed body (it never does after 7 days): stored again, idempotent, nothing changes
    again = await post_applied(
        any_env,
        statuses_body(NUMBER, [status_item(a["wamid"], "delivered", T0), status_item(b["wamid"], "read", T0)]),
    )
    assert again.json()["duplicate"] is False
    assert (await any_env.message(a["id"]))["status"] == "delivered"
    assert (await any_env.message(b["id"]))["status"] == "read"


async def test_retention_zero_keeps_everything(any_env: Env) -> None:
    await post_applied(any_env, statuses_body(NUMBER, [status_item("wamid.X", "sent", T0, pricing=UTILITY)]))
    later = datetime.now(UTC) + timedelta(days=3650)
    keep = WebhookRetention(any_env.app.state.runtime.sessions, retention_days=0, clock=lambda: later)
    result = await keep.purge()
    assert (result.events, result.statuses) == (0, 0)
    assert len(await rows(any_env, "webhook_events")) == 1


async def test_the_sweeper_runs_the_retention_job(make_env: EnvFactory, database_url: str) -> None:
    env = await make_env(
        database_url,
        whatsapp_webhook_retention_days=1,
        whatsapp_webhook_sweep_interval_seconds=0.05,
        whatsapp_webhook_retention_interval_seconds=0.05,
    )
    old = await post_applied(env, statuses_body(NUMBER, [status_item("wamid.OLD", "read", T0)]))
    recent = await post_applied(env, statuses_body(NUMBER, [status_item("wamid.NEW", "read", T0)]))
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.begin() as conn:  # two days pass for the first one
            await conn.execute(
                sa.update(webhook_events)
                .where(webhook_events.c.id == old.json()["event_id"])
                .values(received_at=datetime.now(UTC) - timedelta(days=2))
            )
    finally:
        await engine.dispose()
    deadline = time.monotonic() + 10
    while len(await rows(env, "webhook_events")) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [e["id"] for e in await rows(env, "webhook_events")] == [recent.json()["event_id"]]
    assert [s["wamid"] for s in await rows(env, "webhook_statuses")] == ["wamid.NEW"]
