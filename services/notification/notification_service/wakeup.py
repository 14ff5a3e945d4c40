"""Waking dispatchers as soon as there is new work.

In-process: an :class:`asyncio.Event` set by the request that queued the message. Across processes on
PostgreSQL: ``NOTIFY notification_dispatch`` in the same transaction (delivered at commit) and a ``LISTEN``
connection per dispatcher. A short poll stays as the safety net either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("notification.wakeup")

CHANNEL = "notification_dispatch"


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


async def notify_in_transaction(session: AsyncSession) -> None:
    """PostgreSQL only: other dispatcher processes wake when this transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class PostgresListener:
    """Keeps a LISTEN connection open and sets the wake-up event on every notification (reconnects on loss)."""

    def __init__(self, database_url: str, wakeup: Wakeup) -> None:
        self._url = make_url(database_url)
        self._wakeup = wakeup
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
                await conn.add_listener(CHANNEL, self._on_notify)
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
