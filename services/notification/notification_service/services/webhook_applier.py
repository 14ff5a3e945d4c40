"""The webhook applier: applies stored webhook events off the request path, in batches (one transaction each).

One per process that applies (``WEBHOOK_APPLIER_ENABLED``): the API process (started and stopped with the
runtime) and the stand-alone dispatcher (``dispatch/worker.py``). It wakes when this process stores a body
(:meth:`WebhookApplier.notify`), when another process that does not apply stored some (PostgreSQL ``NOTIFY`` on
``wakeup.WEBHOOK_CHANNEL``), and every ``WHATSAPP_WEBHOOK_SWEEP_INTERVAL_SECONDS`` (bodies stored by another
replica that stopped, a missed notification, a crash, a database error: that round also retries events that
failed before). On PostgreSQL several processes share the work (claims ``FOR UPDATE SKIP LOCKED``, messages locked
in id order); on SQLite batches are serialised. After a batch it wakes the dispatcher (a hold may have been
lifted) and reads changed numbers from the Graph API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.db import is_sqlite
from bakery_shared.graph import GraphClient
from notification_service.accounts import Accounts
from notification_service.config import NotificationSettings
from notification_service.domain.pricing import RateCard
from notification_service.services.delivery_failures import AsyncFailures
from notification_service.services.pricing import RateCardStore
from notification_service.services.supplier_replies import SupplierReplies
from notification_service.services.sync import WhatsAppSync
from notification_service.services.webhooks import BatchResult, WebhookProcessor
from notification_service.wakeup import WEBHOOK_CHANNEL, PostgresListener

log = logging.getLogger("notification.whatsapp.webhooks")


class WebhookApplier:
    def __init__(
        self,
        processor: WebhookProcessor,
        *,
        batch_size: int = 200,
        linger_seconds: float = 0.0,
        sweep_interval_seconds: float = 30.0,
        sync: WhatsAppSync | None = None,
        on_change: Callable[[], None] | None = None,
        listen_url: str | None = None,
    ) -> None:
        self.processor = processor
        #: PostgreSQL: LISTEN for the bodies stored by processes that do not apply (``WEBHOOK_CHANNEL``)
        self.listen_url = listen_url
        self._listener: PostgresListener | None = None
        self.batch_size = batch_size
        self.linger = linger_seconds
        self.batches = 0  # non-empty batches applied (tests, diagnostics)
        self.sweep_interval = sweep_interval_seconds
        self.sync = sync
        self.on_change = on_change
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._follow_ups: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """A body was stored: apply it soon (bodies stored meanwhile join the same batch)."""
        self._wake.set()

    def start(self) -> None:
        if not self.running:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="webhook-applier")
            if self.listen_url is not None and self._listener is None:
                self._listener = PostgresListener(self.listen_url, self, channel=WEBHOOK_CHANNEL)
                self._listener.start()

    async def stop(self) -> None:
        """Finish the batch in progress (cancel it after 10 s), then stop; Graph reads still running are cancelled."""
        self._stopping.set()
        self._wake.set()
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                log.warning("the whatsapp webhook applier did not stop in 10 s; cancelled")
            self._task = None
        for task in list(self._follow_ups):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        retries = True  # at start-up: whatever is left (a crash, another replica), including failed events
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.run(retries=retries)
            except Exception:  # noqa: BLE001 - the stored events stay; the next round retries them
                log.exception("whatsapp webhook applier round failed")
            retries = False
            if self._stopping.is_set():
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_interval)
            except TimeoutError:
                retries = True  # the periodic sweep
                continue
            if self.linger > 0:  # let the next bodies of a trickle join this batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.linger)

    async def run(self, *, retries: bool = False) -> int:
        """Apply batches until fewer than a full batch is left; returns the events processed."""
        done = 0
        while True:
            batch = await self.processor.apply_batch(self.batch_size, retries=retries)
            done += batch.events
            self.batches += 1 if batch.events else 0
            self._after(batch)
            if batch.events < self.batch_size or self._stopping.is_set():
                return done

    def _after(self, batch: BatchResult) -> None:
        if batch.changed and self.on_change is not None:
            self.on_change()  # holds may have been lifted, messages re-queued
        if self.sync is not None and (batch.numbers_to_refresh or batch.refresh_all_numbers):
            task = asyncio.create_task(
                self.sync.follow_up(set(batch.numbers_to_refresh), batch.refresh_all_numbers),
                name="webhook-number-refresh",
            )
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)


@dataclass(frozen=True)
class WebhookParts:
    """What storing and applying webhooks takes in one process (:func:`build`)."""

    rate_card: RateCard  # the base card; ``rates.card`` is the one in use (with the loaded rates)
    processor: WebhookProcessor
    rates: RateCardStore
    sync: WhatsAppSync  # here for the number refreshes after a batch; its periodic run is the API's
    applier: WebhookApplier

    def start_applying(self) -> None:
        """The stand-alone dispatcher's: the rate card refresh (costs) and the applier."""
        self.rates.start()
        self.applier.start()

    async def aclose(self) -> None:
        await self.processor.aclose()  # bodies still being stored are written
        await self.applier.stop()
        await self.sync.stop()
        await self.rates.stop()


def build(
    settings: NotificationSettings,
    *,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    graph: GraphClient,
    accounts: Accounts,
    on_change: Callable[[], None],
    on_sync_change: Callable[[], None],
) -> WebhookParts:
    """The webhook members of a process (the API's runtime, the stand-alone dispatcher), built the same way in both.
    ``on_change``: after a batch that changed something (wake the dispatcher, the outbound delivery);
    ``on_sync_change``: after the Graph API sync changed numbers or templates. Nothing runs yet."""
    url = settings.notification_database_url
    rate_card = RateCard.load(settings.whatsapp_rate_card, settings.whatsapp_rate_card_file)
    processor = WebhookProcessor(
        sessions,
        rate_card,
        serialise=is_sqlite(url),
        failures=AsyncFailures.from_settings(settings),
        replies=SupplierReplies(settings),
        accounts=accounts,
        applies_here=settings.webhook_applier_enabled,
        notify_other_processes=not settings.webhook_applier_enabled and settings.dispatch_listen_notify,
    )
    rates = RateCardStore(
        rate_card,
        sessions,
        on_change=lambda card: setattr(processor, "rate_card", card),
        refresh_seconds=settings.whatsapp_rate_card_refresh_seconds,
    )
    sync = WhatsAppSync(
        settings, engine=engine, sessions=sessions, graph=graph, on_change=on_sync_change, accounts=accounts
    )
    applier = WebhookApplier(
        processor,
        batch_size=settings.whatsapp_webhook_apply_batch,
        linger_seconds=settings.whatsapp_webhook_apply_linger_seconds,
        sweep_interval_seconds=settings.whatsapp_webhook_sweep_interval_seconds,
        sync=sync,
        on_change=on_change,
        listen_url=url if settings.dispatch_listen_notify and not is_sqlite(url) else None,
    )
    return WebhookParts(rate_card, processor, rates, sync, applier)
