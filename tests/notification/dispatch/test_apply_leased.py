"""``repositories/messages.apply_leased``: the one writer of a leased message's changes, on SQLite and PostgreSQL
(PostgreSQL writes each set of columns in one ``UPDATE … FROM unnest(arrays)``, issue 14)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service.domain import transitions
from notification_service.domain.message import Message
from notification_service.models import whatsapp_messages as M
from notification_service.repositories import messages as messages_repo

from ..conftest import Env
from ..helpers import message_row


async def test_only_updates_of_messages_still_leased_by_the_owner_apply(any_env: Env) -> None:
    engine = create_engine(any_env.settings.notification_database_url)
    sessions = create_session_factory(engine)
    now = utcnow()
    mine, stolen, other = (message_row(at=now) for _ in range(3))
    stolen["lease_owner"] = "d2"  # its lease expired and another dispatcher claimed it
    try:
        async with transaction(sessions) as session:
            await session.execute(sa.insert(M), [mine, stolen, other])
        started = [
            transitions.attempt_started(
                Message.from_row(row),
                "d1",
                now,
                phone_number_id="200000000000009",
                language="es",
                parameters=["Harinas Ana", "PO-1", "1.250,00 €"],
                possible_duplicate=False,
            )
            for row in (mine, stolen)
        ]
        accepted = transitions.accepted(Message.from_row(other), "d1", now, wamid="wamid.OTHER", pacing=None)
        async with transaction(sessions) as session:
            applied = await messages_repo.apply_leased(session, "d1", [*started, accepted])
        assert applied == {mine["id"], other["id"]}
        async with sessions() as session:
            rows = {r.id: r for r in (await session.execute(sa.select(M))).all()}
    finally:
        await engine.dispose()
    written = rows[mine["id"]]
    assert (written.status, written.lease_owner, written.attempts) == ("sending", "d1", 2)
    assert written.template_parameters == ["Harinas Ana", "PO-1", "1.250,00 €"]  # a JSON list, not an array
    assert (written.phone_number_id, written.language) == ("200000000000009", "es")
    untouched = rows[stolen["id"]]
    assert (untouched.lease_owner, untouched.attempts, untouched.template_parameters) == ("d2", 1, None)
    sent = rows[other["id"]]
    assert (sent.status, sent.wamid, sent.lease_owner, sent.lease_expires_at) == ("sent", "wamid.OTHER", None, None)
    assert sent.sent_at == now


async def test_it_locks_in_id_order_so_the_webhook_applier_cannot_deadlock_with_it(pg_env: Env) -> None:
    """The webhook applier locks message rows in id order (lock_for_statuses). apply_leased must take its rows in
    the same order whatever order its updates come in: while the applier holds the lower id, the dispatcher waits
    for it holding nothing, and the applier then gets the higher id at once (no deadlock, nobody aborted)."""
    engine = create_engine(pg_env.settings.notification_database_url)
    sessions = create_session_factory(engine)
    now = utcnow()
    low, high = sorted((message_row(at=now) for _ in range(2)), key=lambda r: str(r["id"]))
    try:
        async with transaction(sessions) as session:
            await session.execute(sa.insert(M), [high, low])  # stored (and scanned) higher id first
        updates = [
            transitions.accepted(Message.from_row(row), "d1", now, wamid=f"wamid.{i}", pacing=None)
            for i, row in enumerate((high, low))  # the higher id first
        ]
        async with sessions() as applier, applier.begin():
            await applier.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            await applier.execute(sa.select(M.c.id).where(M.c.id == low["id"]).with_for_update())

            async def dispatcher() -> set[object]:
                async with transaction(sessions) as session:
                    return set(await messages_repo.apply_leased(session, "d1", updates))

            task = asyncio.create_task(dispatcher())
            for _ in range(200):  # until the dispatcher waits for a row lock
                async with engine.connect() as probe:
                    waiting = await probe.scalar(
                        sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                    )
                if waiting:
                    break
                await asyncio.sleep(0.02)
            assert waiting, "the dispatcher never waited for the applier's row"
            # the applier's next lock (the higher id): free, because the dispatcher holds nothing yet
            await applier.execute(sa.select(M.c.id).where(M.c.id == high["id"]).with_for_update())
        assert await task == {low["id"], high["id"]}
    finally:
        await engine.dispose()
