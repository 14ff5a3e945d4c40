"""``repositories/messages.apply_leased``: the one writer of a leased message's changes, on SQLite and PostgreSQL
(PostgreSQL writes each set of columns in one ``UPDATE … FROM unnest(arrays)``, issue 14)."""

from __future__ import annotations

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
