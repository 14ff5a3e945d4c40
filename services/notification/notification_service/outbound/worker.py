"""The delivery worker: takes due events from the outbox and delivers them, one loop per configured destination.

Runs in the API process (``OUTBOUND_DELIVERY_ENABLED``, started by the runtime) and in the stand-alone dispatcher
(``python -m notification_service.dispatch``). Several processes share the work on PostgreSQL (claims ``FOR UPDATE
SKIP LOCKED`` with a lease: ``repositories/outbound_events.claim_due``); on SQLite run one process.

Order: an event is claimed only when every earlier event of its ordering key (its purchase order, or its supplier for
an opt-out without one) is delivered at that destination, so a subscriber sees one purchase order's events in the
order they happened. A ``dead`` event blocks the later ones of its key until an admin re-drives it (delivering them
would break the order the subscriber relies on); other purchase orders go on.

Wake-ups: PostgreSQL ``NOTIFY notification_outbound`` sent by ``services/outbound_events.record`` at commit (every
process listens), :meth:`OutboundDelivery.notify` in-process, and a poll every
``OUTBOUND_EVENTS_POLL_INTERVAL_SECONDS`` as the safety net (retries become due that way too).

This worker is the one writer of a delivery's outcome (``settle``); the admin's re-drive is the other state change
(``services/outbound_events.redrive``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import is_sqlite, transaction, utcnow
from notification_service import metrics
from notification_service.config import NotificationSettings
from notification_service.domain.outbound_delivery import Outcome, RetryPolicy, Verdict
from notification_service.repositories import outbound_events as repo
from notification_service.repositories.outbound_events import Claimed
from notification_service.wakeup import OUTBOUND_CHANNEL, PostgresListener, Wakeup

log = logging.getLogger("notification.outbound")


class Destination(Protocol):
    name: str

    async def deliver(self, event: Claimed, now: datetime) -> Outcome: ...

    async def aclose(self) -> None: ...


def destinations_from_settings(settings: NotificationSettings) -> list[Destination]:
    """The destinations configured now (none: the worker has nothing to do and does not start)."""
    from notification_service.outbound.amqp import AmqpDestination
    from notification_service.outbound.http import HttpDestination

    found: list[Destination] = []
    timeout = settings.outbound_events_timeout_seconds
    if settings.outbound_events_url:
        secret = settings.outbound_events_secret.get_secret_value()
        found.append(HttpDestination(settings.outbound_events_url, secret, timeout=timeout))
    if settings.rabbitmq_url.get_secret_value():
        url = settings.rabbitmq_url.get_secret_value()
        found.append(AmqpDestination(url, settings.rabbitmq_events_exchange, timeout=timeout))
    return found


class _Fanout(Wakeup):
    """One notification (PostgreSQL LISTEN, :meth:`OutboundDelivery.notify`) wakes every destination's loop."""

    def __init__(self, targets: list[Wakeup]) -> None:
        super().__init__()
        self._targets = targets

    def notify(self) -> None:
        for target in self._targets:
            target.notify()


class OutboundDelivery:
    """Tests drive it with :meth:`run_once` / :meth:`drain`; processes with :meth:`start` / :meth:`aclose`."""

    def __init__(
        self,
        settings: NotificationSettings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        destinations: list[Destination] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.destinations = destinations_from_settings(settings) if destinations is None else destinations
        self.policy = RetryPolicy(
            max_attempts=settings.outbound_events_max_attempts,
            base_seconds=settings.outbound_events_retry_base_seconds,
            max_seconds=settings.outbound_events_retry_max_seconds,
        )
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._wakeups = {d.name: Wakeup() for d in self.destinations}
        self.wakeup: Wakeup = _Fanout(list(self._wakeups.values()))
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: PostgresListener | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def notify(self) -> None:
        """Events were stored (or re-driven) in this process: deliver them now."""
        self.wakeup.notify()

    def start(self) -> None:
        if self._tasks or not self.destinations:
            return
        self._stopping.clear()
        url = self.settings.database_url
        if self.settings.dispatch_listen_notify and not is_sqlite(url):
            self._listener = PostgresListener(url, self.wakeup, channel=OUTBOUND_CHANNEL)
            self._listener.start()
        self._tasks = [asyncio.create_task(self._loop(d), name=f"outbound-events-{d.name}") for d in self.destinations]
        log.info("outbound event delivery started: %s", ", ".join(d.name for d in self.destinations))

    async def stop(self, grace: float | None = None) -> None:
        """No new claims; deliveries in flight finish (or are cancelled after ``grace``: their leases expire and
        another round delivers them again, which is why subscribers deduplicate by event id)."""
        grace = self.settings.dispatch_shutdown_grace_seconds if grace is None else grace
        self._stopping.set()
        self.wakeup.notify()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            except TimeoutError:
                log.warning("outbound event delivery did not finish in %ss; its leases will expire", grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:  # noqa: BLE001
                log.exception("outbound event delivery ended with an error")
        self._tasks = []
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None

    async def aclose(self) -> None:
        await self.stop()
        for destination in self.destinations:
            await destination.aclose()

    async def _loop(self, destination: Destination) -> None:
        wakeup = self._wakeups[destination.name]
        while not self._stopping.is_set():
            delivered = 0
            try:
                delivered = await self.run_destination(destination)
            except Exception:  # noqa: BLE001 - the loop must survive a database hiccup; the next round retries
                log.exception("outbound events (%s): round failed; retrying after the poll interval", destination.name)
            if self._stopping.is_set():
                break
            if not delivered:  # something delivered may have unblocked the next event of its key: go on at once
                await wakeup.wait(self.settings.outbound_events_poll_interval_seconds)

    # ------------------------------------------------------------------ rounds

    async def run_once(self) -> int:
        """One round at every destination; returns the deliveries that succeeded."""
        done = 0
        for destination in self.destinations:
            done += await self.run_destination(destination)
        return done

    async def drain(self, max_rounds: int = 1000) -> int:
        """Rounds until one delivers nothing (test helper); returns the deliveries that succeeded."""
        total = 0
        for _ in range(max_rounds):
            done = await self.run_once()
            total += done
            if not done:
                break
        return total

    async def run_destination(self, destination: Destination) -> int:
        """Claim the due events of ``destination`` (one per ordering key), deliver them concurrently, record each
        outcome; returns how many were delivered."""
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.outbound_events_lease_seconds)
        async with transaction(self.sessions) as session:
            claimed = await repo.claim_due(
                session,
                destination.name,
                now=now,
                lease_until=lease_until,
                limit=self.settings.outbound_events_batch_size,
            )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(destination, event) for event in claimed))
        delivered = 0
        for event, outcome in zip(claimed, outcomes, strict=True):
            delivered += await self._settle(destination.name, event, outcome)
        return delivered

    async def _attempt(self, destination: Destination, event: Claimed) -> Outcome:
        # httpx's timeout is per phase (connect, write, read): a whole attempt gets at most twice the setting
        limit = 2 * self.settings.outbound_events_timeout_seconds + 1
        try:
            return await asyncio.wait_for(destination.deliver(event, self.clock()), timeout=limit)
        except TimeoutError:
            return Outcome.retry(f"timeout: no answer within {limit:.0f} s")
        except Exception as exc:  # noqa: BLE001 - a destination's bug is a failed attempt, never a lost event
            log.exception("outbound event %s (%s): delivery raised", event.id, destination.name)
            return Outcome.retry(f"internal error: {type(exc).__name__}")

    async def _settle(self, destination: str, event: Claimed, outcome: Outcome) -> int:
        now = self.clock()
        if outcome.verdict is Verdict.DELIVERED:
            status, next_at = repo.DELIVERED, None
        else:
            next_at = self.policy.after_failure(outcome, event.attempt, now, self._rng)
            status = repo.PENDING if next_at is not None else repo.DEAD
        async with transaction(self.sessions) as session:
            held = await repo.settle(
                session,
                destination,
                event.id,
                attempt=event.attempt,
                status=status,
                now=now,
                next_at=next_at,
                error=outcome.error,
            )
        if not held:
            result = "lease_lost"
            log.warning("outbound event %s (%s): lease lost before its outcome was recorded", event.id, destination)
        elif status == repo.DELIVERED:
            result = "delivered"
            log.info(
                "outbound event %s %s delivered to %s (attempt %d)", event.name, event.id, destination, event.attempt
            )
        elif status == repo.DEAD:
            result = "dead"
            log.error(
                "outbound event %s %s is dead at %s after %d attempts: %s (re-drive it once the destination is "
                "fixed; later events of the same purchase order wait for it)",
                event.name,
                event.id,
                destination,
                event.attempt,
                outcome.error,
            )
        else:
            result = "retry"
            log.warning(
                "outbound event %s %s not delivered to %s (attempt %d): %s; next attempt at %s",
                event.name,
                event.id,
                destination,
                event.attempt,
                outcome.error,
                next_at.isoformat() if next_at else "-",
            )
        metrics.OUTBOUND_DELIVERIES.labels(destination=destination, result=result).inc()
        return 1 if held and status == repo.DELIVERED else 0
