"""The periodic sync's leader election: on PostgreSQL only the holder of the advisory lock syncs."""

from __future__ import annotations

from bakery_shared.db import create_engine
from notification_service.repositories.common import advisory_unlock, try_advisory_lock
from notification_service.services.sync import ADVISORY_LOCK_KEY

from .conftest import Env
from .helpers import token


async def test_only_the_lock_holder_syncs(pg_env: Env) -> None:
    env = pg_env
    env.graph.add_number("200000000000001", "+34 612 345 678")
    other_process = create_engine(env.settings.notification_database_url)
    try:
        async with other_process.connect() as conn:
            assert await try_advisory_lock(conn, ADVISORY_LOCK_KEY)
            busy = await env.client.post("/api/v1/admin/whatsapp/sync", headers=token(env.settings, "admin"))
            assert busy.status_code == 429 and busy.json()["detail"] == "another process is syncing"
            assert env.graph.management_calls == []
            await advisory_unlock(conn, ADVISORY_LOCK_KEY)
            await conn.commit()
        synced = await env.client.post("/api/v1/admin/whatsapp/sync", headers=token(env.settings, "admin"))
        assert synced.status_code == 200 and synced.json()["numbers"] == 1
        async with other_process.connect() as conn:  # the sync let go of the lock when it finished
            assert await try_advisory_lock(conn, ADVISORY_LOCK_KEY)
            await advisory_unlock(conn, ADVISORY_LOCK_KEY)
    finally:
        await other_process.dispose()
