"""Migrations up and down on SQLite and PostgreSQL; the seed's SQL works on PostgreSQL."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from bakery_shared.db import create_engine
from notification_service.migrate import downgrade, upgrade

from .conftest import Env
from .helpers import po_event

TABLES = {
    "purchase_order_events",
    "whatsapp_messages",
    "whatsapp_message_attempts",
    "sending_holds",
    "rate_limit_state",
    "tenant_daily_recipients",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_up_down_up(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
    assert await _tables(database_url) >= TABLES
    await asyncio.to_thread(downgrade, database_url, "base")
    assert not (TABLES & await _tables(database_url))
    await asyncio.to_thread(upgrade, database_url)
    assert await _tables(database_url) >= TABLES


async def test_seed_sql_query_on_postgres(pg_env: Env) -> None:
    env = pg_env
    tenant = env.tenants.add()
    await env.post_event(po_event(tenant))
    await env.dispatcher().drain()
    engine = create_engine(env.settings.notification_database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT tenant_id, recipient_phone, status, created_at, error_message\n"
                        "FROM whatsapp_messages\n"
                        "WHERE created_at > NOW() - INTERVAL '24 hours'\n"
                        "ORDER BY created_at DESC;"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1
    assert rows[0].status == "sent"
    assert rows[0].recipient_phone == "+34612345678"
    assert rows[0].tenant_id == str(tenant)
