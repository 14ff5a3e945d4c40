"""The outbox of events for the platform (services/outbound_events.record): stored in the caller's transaction,
for exactly the destinations configured, ordered per purchase order; nothing stored when the transaction fails."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from bakery_shared.db import create_engine, create_session_factory, transaction, utcnow
from notification_service.domain.outbound_events import SUPPLIER_CONFIRMED, SUPPLIER_OPTED_OUT, OutboundEvent
from notification_service.models import outbound_events
from notification_service.services import outbound_events as service

from .conftest import EnvFactory


def _event(tenant: uuid.UUID, name: str = SUPPLIER_CONFIRMED, po: str | None = "po-1") -> OutboundEvent:
    return OutboundEvent(
        name=name,
        tenant_id=tenant,
        occurred_at=utcnow(),
        purchase_order_id=po,
        purchase_order_number="PO-2026-0001" if po else None,
        supplier_phone="+34600000111",
        decision="confirmed" if name == SUPPLIER_CONFIRMED else None,
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ("off", "off")),
        ({"outbound_events_url": "http://127.0.0.1:9/events", "outbound_events_secret": "s"}, ("pending", "off")),
        ({"rabbitmq_url": "amqp://guest:guest@127.0.0.1:5672/"}, ("off", "pending")),
    ],
)
async def test_record_stores_the_event_for_the_configured_destinations(
    make_env: EnvFactory, database_url: str, overrides: dict[str, str], expected: tuple[str, str]
) -> None:
    env = await make_env(database_url, **overrides)
    tenant = uuid.uuid4()
    engine = create_engine(env.settings.notification_database_url)
    try:
        sessions = create_session_factory(engine)
        async with transaction(sessions) as session:
            first = await service.record(session, env.settings, _event(tenant), now=utcnow())
            opted = await service.record(
                session, env.settings, _event(tenant, SUPPLIER_OPTED_OUT, po=None), now=utcnow()
            )
        with pytest.raises(RuntimeError):
            async with transaction(sessions) as session:
                await service.record(session, env.settings, _event(tenant), now=utcnow())
                raise RuntimeError("the cause was not stored")  # the event must not be either
        async with sessions() as session:
            rows = (await session.execute(sa.select(outbound_events).order_by(outbound_events.c.seq))).mappings().all()
    finally:
        await engine.dispose()
    assert [r["id"] for r in rows] == [first, opted]
    assert [(r["http_status"], r["amqp_status"]) for r in rows] == [expected, expected]
    assert rows[0]["ordering_key"] == f"po:{tenant}:po-1"
    assert rows[1]["ordering_key"] == f"supplier:{tenant}:+34600000111"
    body = rows[0]["payload"]
    assert body["type"] == SUPPLIER_CONFIRMED and body["id"] == str(first) and body["decision"] == "confirmed"
    assert body["purchase_order"] == {"id": "po-1", "number": "PO-2026-0001"} and body["tenant_id"] == str(tenant)


def test_unknown_event_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown outbound event"):
        OutboundEvent(name="purchase_order.maybe", tenant_id=uuid.uuid4(), occurred_at=utcnow())
