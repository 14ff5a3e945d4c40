"""Waking dispatchers as soon as there is new work.

In-process: an :class:`asyncio.Event` set by the request that queued the message. Across processes on
PostgreSQL: ``NOTIFY notification_dispatch`` in the same transaction (delivered at commit) and a ``LISTEN``
connection per dispatcher. A short poll stays as the safety net either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

log = logging.getLogger("notification.wakeup")

CHANNEL = "notification_dispatch"
#: payload: a tenant id whose settings changed (every process drops its cached copy)
TENANT_CHANNEL = "notification_tenant_settings"
#: events for the platform were stored or re-driven (outbound/worker.py)
OUTBOUND_CHANNEL = "notification_outbound"
#: webhook bodies were stored by a process that does not apply them (``WEBHOOK_APPLIER_ENABLED=false``)
WEBHOOK_CHANNEL = "notification_webhooks"


class Notifiable(Protocol):
    """What a listener wakes: a :class:`Wakeup`, or anything else with ``notify()`` (the webhook applier)."""

    def notify(self) -> None: ...


class Wakeup:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def notify(self) -> None:
        self.event.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until notified or ``timeout``; returns True when notified."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout=timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.event.clear()


class PostgresListener:
    """Keeps a LISTEN connection open (reconnects on loss): sets the wake-up event on every new-work notification
    (on ``channel``: the dispatcher's by default) and calls ``on_tenant_changed`` with the tenant id of every
    settings-changed notification."""

    def __init__(
        self,
        database_url: str,
        wakeup: Notifiable,
        on_tenant_changed: Callable[[uuid.UUID | None], None] | None = None,
        *,
        channel: str = CHANNEL,
    ) -> None:
        self._url = make_url(database_url)
        self._channel = channel
        self._wakeup = wakeup
        self._on_tenant_changed = on_tenant_changed
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notification-listen")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _on_notify(self, *_: Any) -> None:
        self._wakeup.notify()

    def _on_tenant(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._on_tenant_changed is None:
            return
        try:
            self._on_tenant_changed(uuid.UUID(payload))
        except ValueError:
            log.warning("ignored a settings-changed notification without a tenant id")

    async def _run(self) -> None:
        import asyncpg

        while not self._stopping.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(
                    host=self._url.host or "127.0.0.1",
                    port=self._url.port or 5432,
                    user=self._url.username,
                    password=self._url.password,
                    database=self._url.database,
                    timeout=5,
                )
                await conn.add_listener(self._channel, self._on_notify)
                if self._on_tenant_changed is not None:
                    await conn.add_listener(TENANT_CHANNEL, self._on_tenant)
                    self._on_tenant_changed(None)  # changes missed while not listening: forget every tenant
                self._wakeup.notify()  # catch up on anything queued while not listening
                while not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=5)
                    if self._stopping.is_set():
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening whatever happened
                log.warning("LISTEN connection failed (%s); polling until it is back", type(exc).__name__)
                await asyncio.sleep(2)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
