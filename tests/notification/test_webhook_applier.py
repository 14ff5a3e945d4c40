"""The webhook applier: the POST only stores; stored events are applied off the request path, in batches (one
transaction each), with the same rules as one by one; a failing batch falls back to event-by-event."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bakery_shared.db import create_engine, create_session_factory
from notification_service.domain.pricing import RateCard
from notification_service.services.webhooks import ParsedPayloads, WebhookProcessor

from .conftest import Env
from .webhook_helpers import (
    UTILITY,
    post_applied,
    post_signed,
    rows,
    sent_messages,
    status_item,
    statuses_body,
    wait_applied,
)

NUMBER = "200000000000001"
T0 = 1_780_000_000


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def as_utc(value: Any) -> Any:
    """A timestamp column as an aware datetime (the API answers ISO text)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


async def paused(env: Env) -> WebhookProcessor:
    """Stop the background applier, so that the test decides when stored events are applied."""
    runtime = env.app.state.runtime
    await runtime.webhook_applier.stop()
    processor: WebhookProcessor = runtime.webhooks
    return processor


async def event(env: Env, event_id: int) -> dict[str, Any]:
    return next(e for e in await rows(env, "webhook_events") if e["id"] == event_id)


def lifecycle(m: dict[str, Any]) -> tuple[Any, ...]:
    return (
        m["status"],
        as_utc(m["sent_at"]),
        as_utc(m["delivered_at"]),
        as_utc(m["read_at"]),
        m["error_code"],
        m["status_reason"],
    )


# ---------------------------------------------------------------- the request path only stores


async def test_the_post_answers_before_the_status_is_applied(any_env: Env) -> None:
    (message,) = await sent_messages(any_env, 1)
    await paused(any_env)
    r = await post_signed(any_env.client, statuses_body(NUMBER, [status_item(message["wamid"], "delivered", T0)]))
    assert r.status_code == 200
    assert r.json() == {"status": "received", "event_id": r.json()["event_id"], "duplicate": False}
    stored = await event(any_env, r.json()["event_id"])
    assert stored["processed_at"] is None  # stored, not applied yet
    assert (await any_env.message(message["id"]))["status"] == "sent"
    assert await rows(any_env, "webhook_statuses") == []

    any_env.app.state.runtime.webhook_applier.start()  # picks up what was stored meanwhile
    await wait_applied(any_env, r.json()["event_id"])
    assert (await any_env.message(message["id"]))["status"] == "delivered"
    applied = await event(any_env, r.json()["event_id"])
    assert applied["processed_at"] is not None and applied["last_error"] is None
    assert [s["outcome"] for s in await rows(any_env, "webhook_statuses")] == ["applied"]


async def test_a_duplicate_body_is_answered_duplicate_and_applied_once(any_env: Env) -> None:
    (message,) = await sent_messages(any_env, 1)
    body = statuses_body(NUMBER, [status_item(message["wamid"], "read", T0)])
    first = await post_signed(any_env.client, body)
    again = await post_signed(any_env.client, body)  # Meta's retry, maybe before the first was applied
    assert first.json()["duplicate"] is False
    assert again.json() == {**first.json(), "duplicate": True}
    # two identical bodies in flight at once (one group-commit batch, or two): one stored, one duplicate
    other = statuses_body(NUMBER, [status_item(message["wamid"], "delivered", T0 - 5)])
    both = await asyncio.gather(post_signed(any_env.client, other), post_signed(any_env.client, other))
    assert sorted(r.json()["duplicate"] for r in both) == [False, True]
    assert both[0].json()["event_id"] == both[1].json()["event_id"]
    await wait_applied(any_env, first.json()["event_id"], both[0].json()["event_id"])
    assert len(await rows(any_env, "webhook_events")) == 2
    assert [s["outcome"] for s in await rows(any_env, "webhook_statuses")] == ["applied", "updated"]
    after = await any_env.message(message["id"])
    assert after["status"] == "read" and as_utc(after["delivered_at"]) == at(T0 - 5)


async def test_an_invalid_body_is_stored_and_answered_invalid(any_env: Env) -> None:
    r = await post_signed(any_env.client, b"{not json")
    assert r.status_code == 200
    answer = r.json()
    assert answer["status"] == "invalid" and answer["duplicate"] is False
    assert answer["detail"].startswith("stored, not processed: the body is not JSON")
    stored = await event(any_env, answer["event_id"])
    assert stored["body"] == "{not json"
    assert stored["processed_at"] is not None  # never handed to the applier
    assert stored["last_error"].startswith("invalid body: the body is not JSON")
    again = await post_signed(any_env.client, b"{not json")
    assert again.json() == {**answer, "duplicate": True}
    envelope_less = await post_signed(any_env.client, {"entry": 5})
    assert envelope_less.json()["status"] == "invalid"
    assert envelope_less.json()["detail"] == "stored, not processed: entry: expected a list of entries"


# ---------------------------------------------------------------- batches


async def test_one_batch_joins_statuses_of_one_message_exactly_as_one_by_one(any_env: Env) -> None:
    """read, delivered, sent of one message in reverse order in ONE batch end as the same three applied one by
    one: read, with every timestamp and the pricing; and each status row has the same outcome."""
    batched, one_by_one = await sent_messages(any_env, 2)

    def items(wamid: str) -> list[dict[str, Any]]:
        return [
            status_item(wamid, "read", T0 + 9),
            status_item(wamid, "delivered", T0 + 2, pricing=UTILITY),
            status_item(wamid, "sent", T0, pricing=UTILITY),
        ]

    for item in items(one_by_one["wamid"]):
        await post_applied(any_env, statuses_body(NUMBER, [item]))
    processor = await paused(any_env)
    ids = []
    for item in items(batched["wamid"]):
        ids.append((await post_signed(any_env.client, statuses_body(NUMBER, [item]))).json()["event_id"])
    batch = await processor.apply_batch(200)
    assert batch.events == 3  # all three in one batch, one transaction

    a, b = await any_env.message(batched["id"]), await any_env.message(one_by_one["id"])
    assert lifecycle(a) == ("read", at(T0), at(T0 + 2), at(T0 + 9), None, None)
    assert lifecycle(a) == lifecycle(b)
    messages = {m["id"]: m for m in await rows(any_env, "whatsapp_messages")}
    for key in ("pricing_category", "pricing_type", "billable", "cost_eur"):
        assert messages[batched["id"]][key] == messages[one_by_one["id"]][key], key
    assert messages[batched["id"]]["pricing_category"] == "utility"
    outcomes = {
        wamid: [s["outcome"] for s in await rows(any_env, "webhook_statuses") if s["wamid"] == wamid]
        for wamid in (batched["wamid"], one_by_one["wamid"])
    }
    assert outcomes[batched["wamid"]] == outcomes[one_by_one["wamid"]] == ["applied", "updated", "updated"]
    assert all(e["processed_at"] is not None for e in await rows(any_env, "webhook_events") if e["id"] in ids)


async def test_one_batch_applies_statuses_of_many_messages(any_env: Env) -> None:
    messages = await sent_messages(any_env, 12)
    processor = await paused(any_env)
    # one body with several statuses and several bodies, a status by callback data, an unknown one, a foreign one
    first = statuses_body(NUMBER, [status_item(m["wamid"], "delivered", T0) for m in messages[:6]])
    await post_signed(any_env.client, first)
    for m in messages[6:10]:
        await post_signed(any_env.client, statuses_body(NUMBER, [status_item(m["wamid"], "read", T0 + 1)]))
    by_callback = status_item("wamid.OTHER", "delivered", T0, callback=f"notification:{messages[10]['id']}")
    await post_signed(any_env.client, statuses_body(NUMBER, [by_callback, status_item("wamid.NOPE", "read", T0)]))
    await post_signed(
        any_env.client, statuses_body("200000000000009", [status_item(messages[11]["wamid"], "read", T0)])
    )
    batch = await processor.apply_batch(200)
    assert batch.events == 7 and batch.statuses == 11
    statuses = [(await any_env.message(m["id"]))["status"] for m in messages]
    assert statuses == ["delivered"] * 6 + ["read"] * 4 + ["delivered", "sent"]
    outcomes = sorted(s["outcome"] for s in await rows(any_env, "webhook_statuses"))
    assert outcomes == sorted(["applied"] * 11 + ["unknown_message", "rejected_phone_number_mismatch"])
    assert (await processor.apply_batch(200)).events == 0  # nothing left


async def test_a_poison_event_does_not_stop_the_others(any_env: Env) -> None:
    """A batch that fails as a whole (here the database refuses one event's status row) is applied again event
    by event: the others apply, the poison one is processed with its failure noted, never retried for ever."""
    messages = await sent_messages(any_env, 3)
    engine = create_engine(any_env.settings.notification_database_url)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                sa.text(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.wamid = 'wamid.POISON' THEN RAISE EXCEPTION 'poison status'; END IF; RETURN NEW; END $$"
                )
            )
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER poison BEFORE INSERT ON webhook_statuses FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )
        else:
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER poison BEFORE INSERT ON webhook_statuses WHEN NEW.wamid = 'wamid.POISON' "
                    "BEGIN SELECT RAISE(ABORT, 'poison status'); END"
                )
            )
    await engine.dispose()
    processor = await paused(any_env)
    good = []
    for m in messages[:2]:
        good.append(
            (await post_signed(any_env.client, statuses_body(NUMBER, [status_item(m["wamid"], "read", T0)]))).json()
        )
    poison = await post_signed(
        any_env.client,
        statuses_body(
            NUMBER, [status_item("wamid.POISON", "read", T0), status_item(messages[2]["wamid"], "delivered", T0)]
        ),
    )
    batch = await processor.apply_batch(200)
    assert batch.events == 3
    assert [(await any_env.message(m["id"]))["status"] for m in messages] == ["read", "read", "delivered"]
    for answer in good:
        assert (await event(any_env, answer["event_id"]))["last_error"] is None
    noted = await event(any_env, poison.json()["event_id"])
    assert noted["processed_at"] is not None
    assert noted["last_error"].startswith("invalid items: entry[0].changes[0].value.statuses[0]")
    assert "wamid.POISON" not in {s["wamid"] for s in await rows(any_env, "webhook_statuses")}
    assert (await processor.apply_batch(200)).events == 0


# ---------------------------------------------------------------- PostgreSQL: replicas and the dispatcher's locks


async def test_two_appliers_never_apply_an_event_twice(pg_env: Env) -> None:
    env = pg_env
    messages = await sent_messages(env, 30)
    mine = await paused(env)
    ids = []
    for i, m in enumerate(messages):
        for status, ts in (("delivered", T0 + i), ("read", T0 + 100 + i)):
            r = await post_signed(env.client, statuses_body(NUMBER, [status_item(m["wamid"], status, ts)]))
            ids.append(r.json()["event_id"])
    other_engine = create_engine(env.settings.notification_database_url)  # another replica
    other = WebhookProcessor(create_session_factory(other_engine), RateCard.load(None, None), serialise=False)

    async def drain(processor: WebhookProcessor) -> int:
        done = 0
        while (batch := await processor.apply_batch(7)).events:
            done += batch.events
        return done

    try:
        shares = await asyncio.gather(drain(mine), drain(other), drain(mine))
    finally:
        await other_engine.dispose()
    assert sum(shares) == len(ids) == 60
    events = await rows(env, "webhook_events")
    assert all(e["processed_at"] is not None and e["process_attempts"] == 1 for e in events)
    statuses = await rows(env, "webhook_statuses")
    assert len(statuses) == 60 and len({s["event_id"] for s in statuses}) == 60
    assert {(await env.message(m["id"]))["status"] for m in messages} == {"read"}


async def test_a_status_for_a_message_the_dispatcher_holds_locked_waits_then_applies(pg_env: Env) -> None:
    env = pg_env
    (message,) = await sent_messages(env, 1)
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as holder:
            transaction = await holder.begin()
            await holder.execute(
                sa.text("SELECT id FROM whatsapp_messages WHERE id = :id FOR UPDATE"), {"id": message["id"]}
            )
            r = await post_signed(env.client, statuses_body(NUMBER, [status_item(message["wamid"], "delivered", T0)]))
            assert r.status_code == 200  # answered although the row is locked
            deadline = time.monotonic() + 15
            async with engine.connect() as watcher:
                waiting = sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                while not (await watcher.execute(waiting)).scalar_one():
                    assert time.monotonic() < deadline, "the applier never waited for the row lock"
                    await asyncio.sleep(0.01)
            assert (await event(env, r.json()["event_id"]))["processed_at"] is None
            await transaction.commit()
    finally:
        await engine.dispose()
    await wait_applied(env, r.json()["event_id"])
    assert (await env.message(message["id"]))["status"] == "delivered"


async def test_a_trickle_of_bodies_shares_one_batch_thanks_to_the_linger(any_env: Env) -> None:
    """Meta delivers status webhooks one by one: each wakes the applier, which waits
    ``WHATSAPP_WEBHOOK_APPLY_LINGER_SECONDS`` so that the next ones share its transaction (a batch of one costs a
    whole transaction per status)."""
    messages = await sent_messages(any_env, 4)
    applier = any_env.app.state.runtime.webhook_applier
    applier.linger = 1.0  # generous: the four POSTs below must all land within it, even on a loaded machine
    before = applier.batches
    ids = []
    for m in messages:  # one after the other, each answered before the next
        r = await post_signed(any_env.client, statuses_body(NUMBER, [status_item(m["wamid"], "delivered", T0)]))
        ids.append(r.json()["event_id"])
    await wait_applied(any_env, *ids)
    assert applier.batches - before == 1
    assert {(await any_env.message(m["id"]))["status"] for m in messages} == {"delivered"}


async def test_both_paths_keep_the_recipient_user_id_of_a_status(any_env: Env) -> None:
    """Meta page "Business-scoped user IDs" (2026): the batch and the event-by-event path keep the first
    ``recipient_user_id`` of a message alike, also when the status carrying it comes after one without it."""
    batched, one_by_one = await sent_messages(any_env, 2)
    processor = await paused(any_env)

    def bodies(wamid: str) -> list[dict[str, Any]]:
        return [
            statuses_body(NUMBER, [status_item(wamid, "failed", T0 + 9, error_code=131026)]),  # no user ID
            statuses_body(NUMBER, [status_item(wamid, "sent", T0, recipient=None, user_id="ES.777")]),
            statuses_body(NUMBER, [status_item(wamid, "delivered", T0 + 1, user_id="ES.888")]),
        ]

    for body in bodies(batched["wamid"]):
        await post_signed(any_env.client, body)
    assert (await processor.apply_batch(200)).events == 3
    for body in bodies(one_by_one["wamid"]):
        stored = (await post_signed(any_env.client, body)).json()
        assert await processor.process(stored["event_id"]) is not None
    a, b = await any_env.message(batched["id"]), await any_env.message(one_by_one["id"])
    assert a["recipient_user_id"] == b["recipient_user_id"] == "ES.777"
    assert lifecycle(a) == lifecycle(b) and a["status"] == "delivered"  # delivered wins over failed


# ---------------------------------------------------------------- the parsed payloads handed to the applier


def test_parsed_payloads_keep_at_most_their_limit_and_the_oldest_first() -> None:
    cache = ParsedPayloads(limit=3)
    for event_id in range(1, 6):
        cache.keep(event_id, {"n": event_id})
    assert len(cache) == 3  # full: 4 and 5 are parsed from their stored text when applied
    assert cache.take(4) is None and cache.take(2) == {"n": 2}
    assert cache.take(2) is None  # taken once
    cache.keep(6, {"n": 6})  # room again
    assert [cache.take(i) for i in (1, 3, 6)] == [{"n": 1}, {"n": 3}, {"n": 6}]
    assert len(cache) == 0


def test_parsed_payloads_forget_the_events_older_than_a_claimed_one() -> None:
    cache = ParsedPayloads(limit=10)
    for event_id in (1, 2, 5, 7):
        cache.keep(event_id, {"n": event_id})
    cache.forget_before(5)
    assert len(cache) == 2 and cache.take(1) is None and cache.take(2) is None
    assert cache.take(5) == {"n": 5} and cache.take(7) == {"n": 7}
    cache.forget_before(100)  # empty: nothing to do
    assert len(cache) == 0


async def test_payloads_of_events_another_process_applied_do_not_stay(pg_env: Env) -> None:
    """A payload this process parsed for an event another replica applied was never taken back: it stayed in the
    API's memory (up to 20,000 of them, ~85 MB). The next batch this process applies forgets it."""
    env = pg_env
    messages = await sent_messages(env, 3)
    mine = await paused(env)
    ids = []
    for i, m in enumerate(messages[:2]):
        r = await post_signed(env.client, statuses_body(NUMBER, [status_item(m["wamid"], "delivered", T0 + i)]))
        ids.append(r.json()["event_id"])
    assert len(mine._parsed) == 2  # kept for this process's applier
    other_engine = create_engine(env.settings.notification_database_url)  # another replica applies them
    other = WebhookProcessor(create_session_factory(other_engine), RateCard.load(None, None), serialise=False)
    try:
        assert (await other.apply_batch(10)).events == 2
    finally:
        await other_engine.dispose()
    assert len(mine._parsed) == 2  # left behind
    r = await post_signed(env.client, statuses_body(NUMBER, [status_item(messages[2]["wamid"], "read", T0 + 9)]))
    assert (await mine.apply_batch(10)).events == 1
    assert len(mine._parsed) == 0
    assert (await env.message(messages[2]["id"]))["status"] == "read"
    assert {(await env.message(m["id"]))["status"] for m in messages[:2]} == {"delivered"}
