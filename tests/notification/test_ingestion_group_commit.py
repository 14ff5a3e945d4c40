"""Ingestion's group commit (``PurchaseOrderIntake``): concurrent requests share one transaction per batch and
every caller still gets the answer it would have got alone; a refused item fails only its own caller, and no event
is ever stored without its message. On a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import create_engine, create_session_factory
from bakery_shared.errors import Conflict
from notification_service.domain.events import PurchaseOrderEvent, Supplier
from notification_service.models import purchase_order_events, whatsapp_messages
from notification_service.runtime import Runtime
from notification_service.services.ingestion import Accepted, PurchaseOrderIntake

from .conftest import Env, migrate
from .helpers import po_event


async def _rows(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            events = [dict(r) for r in (await conn.execute(sa.select(purchase_order_events))).mappings()]
            messages = [dict(r) for r in (await conn.execute(sa.select(whatsapp_messages))).mappings()]
    finally:
        await engine.dispose()
    return events, messages


def _assert_every_event_has_its_message(events: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    event_keys = sorted((e["tenant_id"], e["event_id"]) for e in events)
    message_keys = sorted((m["tenant_id"], m["event_id"]) for m in messages)
    assert event_keys == message_keys  # nothing half-written: no event without its message, no message twice


def _intake(env: Env) -> PurchaseOrderIntake:
    runtime: Runtime = env.app.state.runtime
    return runtime.intake


# ---------------------------------------------------------------- over HTTP, concurrent requests


async def test_concurrent_distinct_events_are_all_stored_with_their_messages(any_env: Env) -> None:
    env = any_env
    tenants = [env.tenants.add() for _ in range(3)]
    bodies = [po_event(tenants[i % 3], purchase_order={"number": f"PO-{i}"}) for i in range(40)]
    responses = await asyncio.gather(*(env.post_event(body) for body in bodies))
    assert [r.status_code for r in responses] == [202] * 40, [r.text for r in responses if r.status_code != 202]
    events, messages = await _rows(env.settings.notification_database_url)
    assert len(events) == 40
    _assert_every_event_has_its_message(events, messages)
    by_event = {str(m["event_id"]): m for m in messages}
    for body, response in zip(bodies, responses, strict=True):
        message = by_event[body["event_id"]]
        assert response.json() == {"notification_id": str(message["id"]), "status": "queued"}
        assert message["template_values"]["po_number"] == body["purchase_order"]["number"]
    assert _intake(env).batches < 40  # the requests shared transactions


async def test_concurrent_copies_of_one_event_create_one_message_and_replays(any_env: Env) -> None:
    env = any_env
    body = po_event(env.tenants.add())
    responses = await asyncio.gather(*(env.post_event(body) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 19 + [202]
    assert len({r.json()["notification_id"] for r in responses}) == 1
    events, messages = await _rows(env.settings.notification_database_url)
    assert len(events) == 1 and len(messages) == 1
    assert str(messages[0]["id"]) == responses[0].json()["notification_id"]


async def test_same_id_with_different_bodies_concurrently_one_wins_the_other_body_is_a_conflict(any_env: Env) -> None:
    env = any_env
    tenant = env.tenants.add()
    first = po_event(tenant)
    second = po_event(tenant, event_id=first["event_id"], purchase_order={"total_amount": "99.00"})
    bodies = [first if i % 2 == 0 else second for i in range(12)]
    responses = await asyncio.gather(*(env.post_event(body) for body in bodies))
    created = [i for i, r in enumerate(responses) if r.status_code == 202]
    assert len(created) == 1
    winner = bodies[created[0]]
    notification_id = responses[created[0]].json()["notification_id"]
    for body, response in zip(bodies, responses, strict=True):
        if body is winner:
            assert response.status_code in (200, 202)
            assert response.json()["notification_id"] == notification_id
        else:
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "event_conflict"
    events, messages = await _rows(env.settings.notification_database_url)
    assert len(events) == 1 and len(messages) == 1
    assert events[0]["payload"]["purchase_order"]["total_amount"] == winner["purchase_order"]["total_amount"]


# ---------------------------------------------------------------- one batch, item by item


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def _event(**overrides: Any) -> PurchaseOrderEvent:
    return PurchaseOrderEvent.model_validate(po_event(uuid.uuid4(), **overrides))


async def _accept_together(
    intake: PurchaseOrderIntake, events: list[PurchaseOrderEvent]
) -> list[Accepted | BaseException]:
    # submitted in one go: all are queued before the writer task first runs, so they form one batch
    return await asyncio.gather(*(intake.accept(event) for event in events), return_exceptions=True)


async def test_copies_in_the_same_batch_are_one_creation_replays_and_conflicts(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    intake = PurchaseOrderIntake(sessions)
    original = _event()
    copy = PurchaseOrderEvent.model_validate(original.model_dump(mode="json"))
    changed = PurchaseOrderEvent.model_validate(
        {**original.model_dump(mode="json"), "purchase_order": {**original.purchase_order.model_dump(), "number": "X"}}
    )
    other = _event()
    results = await _accept_together(intake, [original, copy, changed, other])
    await intake.aclose()
    assert intake.batches == 1
    created, replay, conflict, other_created = results
    assert isinstance(created, Accepted) and created.created
    assert isinstance(replay, Accepted) and not replay.created
    assert replay.notification_id == created.notification_id and replay.status == "queued"
    assert isinstance(conflict, Conflict) and conflict.code == "event_conflict"
    assert isinstance(other_created, Accepted) and other_created.created
    events, messages = await _rows(database_url)
    assert len(events) == 2
    _assert_every_event_has_its_message(events, messages)


async def test_a_batch_mixing_new_events_and_stored_ones_answers_each(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    intake = PurchaseOrderIntake(sessions)
    stored = _event()
    first = await intake.accept(stored)
    again = PurchaseOrderEvent.model_validate(stored.model_dump(mode="json"))
    changed = PurchaseOrderEvent.model_validate({**stored.model_dump(mode="json"), "occurred_at": "2026-01-01T00:00Z"})
    new = [_event() for _ in range(5)]
    results = await _accept_together(intake, [*new[:2], again, changed, *new[2:]])
    await intake.aclose()
    assert intake.batches == 2
    replay, conflict = results[2], results[3]
    assert isinstance(replay, Accepted) and replay == Accepted(first.notification_id, "queued", created=False)
    assert isinstance(conflict, Conflict)
    assert all(isinstance(r, Accepted) and r.created for r in [*results[:2], *results[4:]])
    events, messages = await _rows(database_url)
    assert len(events) == 6
    _assert_every_event_has_its_message(events, messages)


async def test_an_item_the_database_refuses_fails_alone_and_leaves_nothing_half_written(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    intake = PurchaseOrderIntake(sessions)
    good = [_event() for _ in range(8)]
    valid = _event()
    # past validation (built without it): no recipient, so the message row breaks a NOT NULL constraint after the
    # event row of the same item was inserted
    bad = valid.model_copy(update={"supplier": Supplier.model_construct(name="Harinas", phone=None, language=None)})
    results = await _accept_together(intake, [*good[:4], bad, *good[4:]])
    await intake.aclose()
    assert isinstance(results[4], DBAPIError)
    accepted = [r for i, r in enumerate(results) if i != 4]
    assert all(isinstance(r, Accepted) and r.created for r in accepted)
    events, messages = await _rows(database_url)
    assert sorted(str(e["event_id"]) for e in events) == sorted(str(e.event_id) for e in good)
    _assert_every_event_has_its_message(events, messages)
    assert {m["id"] for m in messages} == {r.notification_id for r in accepted if isinstance(r, Accepted)}
