from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import inspect, text

from bakery_shared.db import create_engine
from tenant_service.migrate import downgrade, upgrade

OLD = datetime(2025, 1, 17, 10, 0, tzinfo=UTC)
TABLES = {
    "tenants",
    "tenant_settings",
    "whatsapp_phone_assignments",
    "whatsapp_audit_log",
    "whatsapp_accounts",
    "whatsapp_account_audit",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


def test_up_down_up(database_url):
    upgrade(database_url)
    assert asyncio.run(_tables(database_url)) == TABLES
    downgrade(database_url, "base")
    assert asyncio.run(_tables(database_url)) == set()
    upgrade(database_url)
    assert asyncio.run(_tables(database_url)) == TABLES


def test_legacy_credentials_are_scrubbed(database_url):
    upgrade(database_url, "0001")
    tid = str(uuid.uuid4())
    legacy = {
        "whatsapp_enabled": True,
        "whatsapp_phone_number_id": "123",
        "whatsapp_access_token": "EAAG-legacy-secret-token",
        "whatsapp_business_account_id": "999",
        "whatsapp_api_version": "v18.0",
        "whatsapp_default_language": "en",
    }

    async def insert_and_read(after_upgrade: bool) -> dict:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            if not after_upgrade:
                await conn.execute(
                    text("INSERT INTO tenants (id, name, created_at, updated_at) VALUES (:id, 'Old', :t, :t)"),
                    {"id": tid, "t": OLD},
                )
                value = "CAST(:ns AS JSONB)" if engine.dialect.name == "postgresql" else ":ns"
                await conn.execute(
                    text(
                        "INSERT INTO tenant_settings (tenant_id, general_settings, notification_settings, "
                        f"procurement_settings, version, updated_at) VALUES (:id, '{{}}', {value}, '{{}}', 1, :t)"
                    ),
                    {"id": tid, "ns": json.dumps(legacy), "t": OLD},
                )
            row = (
                await conn.execute(
                    text("SELECT notification_settings FROM tenant_settings WHERE tenant_id = :id"), {"id": tid}
                )
            ).scalar_one()
        await engine.dispose()
        return json.loads(row) if isinstance(row, str) else row

    before = asyncio.run(insert_and_read(False))
    assert before["whatsapp_access_token"] == "EAAG-legacy-secret-token"
    upgrade(database_url)
    after = asyncio.run(insert_and_read(True))
    assert "whatsapp_access_token" not in after
    assert "whatsapp_business_account_id" not in after and "whatsapp_api_version" not in after
    assert after["whatsapp_phone_number_id"] == "123" and after["whatsapp_default_language"] == "en"
