"""The dispatcher: a loop that runs batches (``dispatch/batch.py``) and maintenance (hold probes, orphaned holds,
rate-limit clean-up), inside the API process (``DISPATCHER_ENABLED=true``) or stand-alone::

    python -m notification_service.dispatch

The stand-alone process also delivers the events for the platform (``outbound/worker.py``) unless
``OUTBOUND_DELIVERY_ENABLED=false``, and applies stored webhook events (``services/webhook_applier.py``) unless
``WEBHOOK_APPLIER_ENABLED=false``: with the API's applier off, the webhook POST's process only checks and stores.

Several dispatchers may share one PostgreSQL database: claims use ``FOR UPDATE SKIP LOCKED`` and leases, the
rate-limit state lives in the database. On SQLite run a single dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.db import create_engine, create_session_factory, is_sqlite, transaction, utcnow
from bakery_shared.graph import GraphClient
from bakery_shared.logging import configure_logging
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.accounts import Accounts
from notification_service.config import NotificationSettings
from notification_service.dispatch.batch import Batch
from notification_service.dispatch.context import DispatchContext
from notification_service.dispatch.gating import Gate
from notification_service.dispatch.probes import HoldProber
from notification_service.outbound.worker import OutboundDelivery
from notification_service.repositories import rate_limits as rate_repo
from notification_service.services import holds as holds_service
from notification_service.services import webhook_applier
from notification_service.tenant_client import TenantSettingsClient
from notification_service.wakeup import PostgresListener, Wakeup

log = logging.getLogger("notification.whatsapp.dispatcher")

#: the stand-alone dispatcher's engine pings a pooled connection only after it sat idle this long: a busy loop
#: checks connections out several times per batch, and a ping each time was one round trip per transaction (a
#: connection broken in between fails its statement: the batch is retried after the poll interval; see db.py)
_PING_AFTER_IDLE_SECONDS = 5.0


class Dispatcher:
    """One dispatcher. Tests drive it with :meth:`run_once` / :meth:`drain`; services with :meth:`start`."""

    def __init__(
        self,
        settings: NotificationSettings,
        *,
        engine: AsyncEngine | None = None,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        graph: GraphClient | None = None,
        tenant_client: TenantSettingsClient | None = None,
        wakeup: Wakeup | None = None,
        dispatcher_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        graph_transport: httpx.AsyncBaseTransport | None = None,
        tenant_transport: httpx.AsyncBaseTransport | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self.settings = settings
        self._owns_engine = engine is None and session_factory is None
        self.engine: AsyncEngine | None = engine
        if session_factory is None:
            self.engine = engine or create_engine(settings.database_url, ping_after_idle=_PING_AFTER_IDLE_SECONDS)
            session_factory = create_session_factory(self.engine)
        self.sessions = session_factory
        self._owns_graph = graph is None
        self.graph = graph or GraphClient.from_settings(settings, transport=graph_transport)
        self._owns_tenants = tenant_client is None
        self.tenants = tenant_client or TenantSettingsClient(settings, transport=tenant_transport)
        self.wakeup = wakeup or Wakeup()
        #: one per process (the API process shares its own): a number's account sends with its own token
        self.accounts = accounts or Accounts(settings, self.graph, self.tenants)
        self.id = dispatcher_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.ctx = DispatchContext(
            settings=settings,
            sessions=self.sessions,
            graph=self.graph,
            tenants=self.tenants,
            owner=self.id,
            clock=clock,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not security
            wake=self.wakeup.notify,
            accounts=self.accounts,
        )
        self.prober = HoldProber(self.ctx)
        self.gate = Gate(self.ctx)
        self._task: asyncio.Task[None] | None = None
        #: per batch slot (DISPATCH_BATCHES_IN_FLIGHT): the recording of its last batch, still running
        self._tails: dict[int, asyncio.Task[None]] = {}
        self._listener: PostgresListener | None = None
        self._last_probe = 0.0
        self._last_cleanup = 0.0
        self._token_fingerprint = self._fingerprint()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the loop as a background task (in the API process, or in the stand-alone command)."""
        if self._task is not None:
            return
        self.ctx.stopping.clear()
        url = self.settings.database_url
        if self.settings.dispatch_listen_notify and not is_sqlite(url):
            self._listener = PostgresListener(url, self.wakeup, on_tenant_changed=self.tenants.invalidate)
            self._listener.start()
        self._task = asyncio.create_task(self._loop(), name=f"dispatcher-{self.id}")

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: no new claims; in-flight HTTP calls finish; claimed-but-unsent work is returned."""
        grace = self.settings.dispatch_shutdown_grace_seconds if grace is None else grace
        self.ctx.stopping.set()
        self.wakeup.notify()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except TimeoutError:
                log.warning("dispatcher %s: in-flight work did not finish in %ss; leases will expire", self.id, grace)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                for tail in self._tails.values():
                    tail.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await tail
                self._tails.clear()
            except Exception:  # noqa: BLE001
                log.exception("dispatcher loop ended with an error")
            self._task = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None

    async def aclose(self) -> None:
        await self.stop()
        if self._owns_graph:
            await self.graph.aclose()
        if self._owns_tenants:
            await self.tenants.aclose()
        if self._owns_engine and self.engine is not None:
            await self.engine.dispose()

    def shares_changed(self) -> None:
        """An admin changed a bakery's share: read the shares again at the next batch (other processes within
        ``RECIPIENT_SHARE_REFRESH_SECONDS``)."""
        self.gate.shares.invalidate()
        self.wake()

    def wake(self) -> None:
        self.wakeup.notify()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        """``DISPATCH_BATCHES_IN_FLIGHT`` slots each run batches one after the other (claims are disjoint: SKIP
        LOCKED, as between dispatcher processes); the first slot also does the maintenance."""
        slots = 1 if is_sqlite(self.settings.database_url) else self.settings.dispatch_batches_in_flight
        log.info("dispatcher %s started (%d batch(es) in flight)", self.id, slots)
        await asyncio.gather(*(self._slot(n) for n in range(slots)))
        log.info("dispatcher %s stopped", self.id)

    async def _slot(self, slot: int) -> None:
        try:
            while not self.ctx.stopping.is_set():
                claimed = 0
                try:
                    if slot == 0:
                        await self._maintenance()
                    claimed = await self._run_pipelined(slot)
                except Exception:  # noqa: BLE001 - the loop must survive a database or bug hiccup
                    log.exception("dispatcher %s: batch failed; retrying after the poll interval", self.id)
                if self.ctx.stopping.is_set():
                    break
                if claimed < self.settings.dispatch_batch_size:
                    await self.wakeup.wait(self.settings.dispatch_poll_interval_seconds)
        finally:
            await self._await_tail(slot)

    async def _run_pipelined(self, slot: int = 0) -> int:
        """:meth:`run_once` for a slot of the loop: the batch's tail (recording its last accepted sends) runs while
        the slot's next batch is claimed and sent; at most one tail per slot is pending (the next batch waits for it
        before its own)."""
        with bind(request_id=f"dispatch-{uuid.uuid4().hex[:16]}"):
            claimed, tail = await Batch(self.ctx, self.gate, self.prober).start()
            await self._await_tail(slot)
            if tail is not None:
                self._tails[slot] = asyncio.create_task(tail, name=f"dispatcher-tail-{self.id}-{slot}")
        return claimed

    async def _await_tail(self, slot: int) -> None:
        tail = self._tails.pop(slot, None)
        if tail is not None:
            try:
                await tail
            except Exception:  # noqa: BLE001 - it logs its own failures; the leases expire
                log.exception("dispatcher %s: recording a batch's outcomes failed", self.id)

    # ------------------------------------------------------------------ batches

    async def run_once(self) -> int:
        """Claim one batch and process it completely. Returns how many messages were claimed.

        Each batch gets a fresh request id: in its log lines and as ``X-Request-ID`` on the tenant-settings calls.
        """
        with bind(request_id=f"dispatch-{uuid.uuid4().hex[:16]}"):
            return await Batch(self.ctx, self.gate, self.prober).run()

    async def drain(self, max_batches: int = 10_000) -> int:
        """Process batches until nothing is due now (test helper); returns the number of messages claimed."""
        total = 0
        for _ in range(max_batches):
            claimed = await self.run_once()
            total += claimed
            if claimed == 0:
                break
        return total

    async def probe_holds(self, *, force: bool = False) -> int:
        """Start the hold probes that are due (all with ``force``); see ``dispatch/probes.py``."""
        return await self.prober.probe(force=force)

    # ------------------------------------------------------------------ maintenance

    async def _maintenance(self) -> None:
        now_mono = time.monotonic()
        fingerprint = self._fingerprint()
        token_changed = fingerprint != self._token_fingerprint
        if token_changed:
            self._token_fingerprint = fingerprint
            log.info("a WhatsApp access token changed; probing held accounts now")
        if token_changed or now_mono - self._last_probe >= min(5.0, self.settings.hold_probe_interval_seconds):
            self._last_probe = now_mono
            await self.prober.probe(force=token_changed)
            async with transaction(self.sessions) as session:
                if await holds_service.release_orphans(session, self.ctx.clock()):
                    self.wake()
        if now_mono - self._last_cleanup >= 600:
            self._last_cleanup = now_mono
            now = self.ctx.clock()
            async with transaction(self.sessions) as session:
                await rate_repo.cleanup(
                    session, older_than=now - timedelta(hours=1), day_before=now.date() - timedelta(days=2)
                )

    def _fingerprint(self) -> str:
        """Of every token this process sends with (each account's, re-read from its file): a rotation is seen
        without a restart."""
        return self.accounts.fingerprint()


async def _main() -> None:
    settings = NotificationSettings()
    configure_logging(settings.log_level, secrets=settings.log_secrets(), service="notification-dispatcher")
    dispatcher = Dispatcher(settings)
    outbound = OutboundDelivery(settings, dispatcher.sessions) if settings.outbound_delivery_enabled else None
    webhooks = _webhook_parts(settings, dispatcher, outbound) if settings.webhook_applier_enabled else None
    gauges: asyncio.Task[None] | None = None
    if settings.dispatcher_metrics_port:
        metrics.start_dispatcher_metrics_server(settings.dispatcher_metrics_port, settings.dispatcher_metrics_host)
        gauges = asyncio.create_task(metrics.refresh_queue_gauges_forever(dispatcher.sessions), name="queue-gauges")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    dispatcher.start()
    if outbound is not None:
        outbound.start()
    if webhooks is not None:
        webhooks.start_applying()
    log.info("stand-alone dispatcher %s running against %s", dispatcher.id, settings.database_url.split("@")[-1])
    await stop.wait()
    if gauges is not None:
        gauges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gauges
    if webhooks is not None:
        await webhooks.aclose()
    if outbound is not None:
        await outbound.aclose()
    await dispatcher.aclose()


def _webhook_parts(
    settings: NotificationSettings, dispatcher: Dispatcher, outbound: OutboundDelivery | None
) -> webhook_applier.WebhookParts:
    """This process's webhook applier, sharing the dispatcher's engine, Graph client and accounts."""
    assert dispatcher.engine is not None  # the stand-alone dispatcher creates its own

    def changed() -> None:  # a webhook batch may have lifted holds (dispatcher) and stored events (outbound)
        dispatcher.wake()
        if outbound is not None:
            outbound.notify()

    return webhook_applier.build(
        settings,
        engine=dispatcher.engine,
        sessions=dispatcher.sessions,
        graph=dispatcher.graph,
        accounts=dispatcher.accounts,
        on_change=changed,
        on_sync_change=dispatcher.wake,
    )


def main() -> None:
    """``python -m notification_service.dispatch``: a stand-alone dispatcher process."""
    asyncio.run(_main())
