"""Real parts for the tests of the events for the platform: an HTTP subscriber (aiohttp on a free port, which can be
down and come up again on the same port), a TCP proxy in front of RabbitMQ that a test can cut and restore (a broker
outage without touching the shared broker), a movable clock, and a way to store events as the service does."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.launcher import free_port
from notification_service.config import NotificationSettings
from notification_service.domain.outbound_events import SUPPLIER_CONFIRMED, SUPPLIER_REPLIED, OutboundEvent
from notification_service.services import outbound_events as service


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["X-Bakery-Event-Id"]


@dataclass
class Subscriber:
    """An HTTP subscriber. ``answers`` (status codes) are used one per request, then ``default_status``; only the
    requests answered 2xx are in ``delivered``, every request is in ``requests``."""

    port: int = field(default_factory=free_port)
    default_status: int = 200
    answers: list[int] = field(default_factory=list)
    status_for: dict[str, int] = field(default_factory=dict)  # event id → status (sticky)
    requests: list[Received] = field(default_factory=list)
    delivered: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(dict(request.headers), await request.read())
        self.requests.append(received)
        status = self.status_for.get(received.event_id) or (
            self.answers.pop(0) if self.answers else self.default_status
        )
        if 200 <= status < 300:
            self.delivered.append(received)
        return web.Response(status=status, text="ok" if status < 300 else "not now")

    async def start(self) -> Subscriber:
        app = web.Application()
        app.router.add_post("/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class TcpProxy:
    """Forwards a local port to ``upstream``; :meth:`cut` closes the listener and every connection (the broker looks
    gone: refused connections), :meth:`restore` listens again on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        return self

    restore = start

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, upstream_writer}
        for task in (
            asyncio.create_task(self._pipe(client_reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, client_writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0.05)

    stop = cut


class Clock:
    """The worker's clock: now, moved forward by tests to make retries due."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def store_events(
    sessions: async_sessionmaker[AsyncSession],
    settings: NotificationSettings,
    tenant: uuid.UUID,
    pos: list[str],
    *,
    per_po: int = 1,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """``per_po`` events for each purchase order, interleaved (po1#1, po2#1, po1#2, …), one transaction each as the
    inbound side stores them; their ids in storing order."""
    ids = []
    for n in range(per_po):
        for po in pos:
            event = OutboundEvent(
                name=SUPPLIER_CONFIRMED if n == 0 else SUPPLIER_REPLIED,
                tenant_id=tenant,
                occurred_at=utcnow(),
                purchase_order_id=po,
                purchase_order_number=f"PO-{po}",
                supplier_phone="+34600000111",
                decision="confirmed" if n == 0 else None,
                text=None if n == 0 else f"reply {n}",
            )
            async with transaction(sessions) as session:
                ids.append(await service.record(session, settings, event, now=now or utcnow()))
    return ids


def by_po(received: list[Any], field_name: str = "body") -> dict[str, list[str]]:
    """Event ids per purchase order, in the order they arrived."""
    import json

    out: dict[str, list[str]] = {}
    for item in received:
        body = json.loads(getattr(item, field_name))
        out.setdefault(body["purchase_order"]["id"], []).append(body["id"])
    return out
