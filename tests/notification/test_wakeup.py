"""The dispatcher inside the service wakes on new work at once; on PostgreSQL LISTEN/NOTIFY wakes other processes."""

from __future__ import annotations

import asyncio
import time

from .conftest import EnvFactory
from .helpers import po_event


async def _wait_for(predicate, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await predicate():
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_in_process_dispatcher_wakes_immediately(make_env: EnvFactory, sqlite_url: str) -> None:
    env = await make_env(sqlite_url, dispatcher_enabled=True, dispatch_poll_interval_seconds=30)
    runtime = env.app.state.runtime
    assert runtime.dispatcher is not None and runtime.dispatcher.running
    await asyncio.sleep(0.2)  # let the first (empty) poll pass
    nid = (await env.post_event(po_event(env.tenants.add()))).json()["notification_id"]

    async def sent() -> bool:
        return (await env.message(nid))["status"] == "sent"

    elapsed = await _wait_for(sent, timeout=5)
    assert elapsed < 5  # far below the 30 s poll: the asyncio.Event woke it


async def test_listen_notify_wakes_a_dispatcher_in_another_process(make_env: EnvFactory, postgres_url: str) -> None:
    env = await make_env(postgres_url, dispatch_listen_notify=True)
    settings = env.settings.model_copy(update={"dispatch_poll_interval_seconds": 30})
    standalone = env.dispatcher(settings=settings)  # its own engine, wake-up event and LISTEN connection
    standalone.start()
    await asyncio.sleep(0.5)  # LISTEN established, first poll done
    nid = (await env.post_event(po_event(env.tenants.add()))).json()["notification_id"]

    async def sent() -> bool:
        return (await env.message(nid))["status"] == "sent"

    await _wait_for(sent, timeout=5)
    await standalone.stop()
