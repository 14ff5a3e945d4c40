"""The webhook applier: applies stored webhook events off the request path, in batches (one transaction each).

One per API process, started and stopped with the runtime. It wakes when this process stores a body
(:meth:`WebhookApplier.notify`) and every ``WHATSAPP_WEBHOOK_SWEEP_INTERVAL_SECONDS`` (bodies stored by another
replica that stopped, a crash, a database error: that round also retries events that failed before). On
PostgreSQL several processes share the work (``FOR UPDATE SKIP LOCKED``); on SQLite batches are serialised.
After a batch it wakes the dispatcher (a hold may have been lifted) and reads changed numbers from the Graph API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from notification_service.services.webhooks import BatchResult, WebhookProcessor

if TYPE_CHECKING:
    from notification_service.services.sync import WhatsAppSync

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
    ) -> None:
        self.processor = processor
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

    async def stop(self) -> None:
        """Finish the batch in progress (cancel it after 10 s), then stop; Graph reads still running are cancelled."""
        self._stopping.set()
        self._wake.set()
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
