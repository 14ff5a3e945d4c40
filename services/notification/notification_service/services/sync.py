"""Periodic sync of phone numbers (quality, limits, status) and templates from the Graph API.

Webhooks are the fast path; this catches what they miss (quality colours are not pushed, see the reference
§3.6). Every active account (issue 18) with its own token: one ``GET /{waba}/phone_numbers`` per page, one
``GET /{waba}/message_templates`` per page (Meta keeps templates per WABA: each account's are its state), and one
``GET /{waba}?fields=pricing_analytics…`` for the last ``WHATSAPP_PRICING_SYNC_DAYS`` days (Meta's bill), every
``WHATSAPP_SYNC_INTERVAL_SECONDS`` (default 15 min): far below Meta's 200 management calls per WABA and hour.
On PostgreSQL only the process holding the advisory lock syncs; on SQLite there is one process anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.graph import GraphClient, GraphClientError
from notification_service.accounts import Accounts
from notification_service.config import NotificationSettings
from notification_service.domain.decisions import account_scope_key
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.repositories.common import advisory_unlock, try_advisory_lock
from notification_service.services import holds as holds_service
from notification_service.services import pricing as pricing_service
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.sync")

ADVISORY_LOCK_KEY = 0x5741_5359  # "WASY"


class SyncBusy(Exception):
    """Another sync ran too recently (manual trigger) or holds the lock."""


class WhatsAppSync:
    def __init__(
        self,
        settings: NotificationSettings,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        graph: GraphClient,
        on_change: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        accounts: Accounts | None = None,
    ) -> None:
        self.settings = settings
        #: the accounts to read, each with its own token (issue 18); None: the environment's account alone
        self.accounts = accounts
        self.engine = engine
        self.sessions = sessions
        self.graph = graph
        self.on_change = on_change
        self.clock = clock
        self.last_run: datetime | None = None
        self.last_result: dict[str, Any] | None = None
        self._last_started = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ background

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="whatsapp-sync")

    async def stop(self) -> None:
        self._stopping.set()
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._tasks.clear()

    async def _loop(self) -> None:
        interval = self.settings.whatsapp_sync_interval_seconds
        delay = min(self.settings.whatsapp_sync_first_delay_seconds, interval)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                break
            try:
                await self.run_once()
            except SyncBusy:
                pass
            except Exception:  # noqa: BLE001 - the loop must survive
                log.exception("WhatsApp sync failed; next try in %ss", interval)
            delay = interval

    def spawn(self, coro: Any) -> None:
        """Run a follow-up (e.g. a number refresh after a quality webhook) in the background."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ work

    async def run_once(self, *, manual: bool = False) -> dict[str, Any]:
        """Sync numbers and templates now. ``manual``: refused within ``WHATSAPP_SYNC_MIN_INTERVAL_SECONDS``.

        Every active account is read with its own token (issue 18); one account's failure (a revoked token) is
        an error of that account and the others are still read. Each account's templates are that account's
        template state (a template paused at one account holds that account's messages only)."""
        now_mono = time.monotonic()
        if manual and now_mono - self._last_started < self.settings.whatsapp_sync_min_interval_seconds:
            raise SyncBusy("a sync ran moments ago; try again shortly")
        if self.settings.missing_master_account_variables():
            return {"status": "skipped", "reason": "WhatsApp master account not configured"}
        self._last_started = now_mono
        async with self._leader() as leader:
            if not leader:
                raise SyncBusy("another process is syncing")
            result: dict[str, Any] = {
                "status": "ok",
                "numbers": 0,
                "templates": 0,
                "held_numbers": [],
                "errors": [],
                "accounts": [],
            }
            for waba, token_ref in await self._accounts():
                result["accounts"].append(waba)
                try:
                    graph = self.accounts.graph_for(token_ref) if self.accounts is not None else self.graph
                except GraphClientError as exc:
                    result["errors"].append(f"{waba}: {exc}")
                    continue
                await self._sync_account(graph, waba, result)
            await self.finish()
            if result["errors"]:
                result["status"] = "partial"
                log.warning("WhatsApp sync incomplete: %s", "; ".join(result["errors"]))
            self.last_run = self.clock()
            self.last_result = result
            return result

    async def _accounts(self) -> list[tuple[str, str]]:
        """(WABA id, token reference) of every active account, the environment's first."""
        if self.accounts is None:
            return [(self.settings.whatsapp_business_account_id, "")]
        return [(a.waba_id, a.token_ref) for a in await self.accounts.active()]

    async def _sync_account(self, graph: GraphClient, waba: str, result: dict[str, Any]) -> None:
        """One account's numbers (with their account), templates and Meta's pricing analytics; each failure is
        named with the account and the others still run."""
        prefix = "" if waba == self.settings.whatsapp_business_account_id else f"{waba}: "
        try:
            numbers = await graph.list_phone_numbers(waba)
        except GraphClientError as exc:
            numbers = None
            result["errors"].append(f"{prefix}phone_numbers: {exc}")
        if numbers is not None:
            now = self.clock()
            async with transaction(self.sessions) as session:
                for item in numbers:
                    if not item.get("id"):
                        continue
                    values = state_service.number_values_from_graph(item)
                    values["synced_at"] = now
                    values["waba_id"] = waba
                    reason = await state_service.apply_number(session, str(item["id"]), values, now)
                    if reason:
                        result["held_numbers"].append(str(item["id"]))
                result["numbers"] += len(numbers)
        await self._sync_templates(graph, waba, prefix, result)
        if self.settings.whatsapp_pricing_sync_days > 0:
            # Meta's own volume and cost per number, day and category: the admin's reconciliation (issue 15)
            try:
                points = await pricing_service.sync_pricing_analytics(
                    graph,
                    self.sessions,
                    waba_id=waba,
                    now=self.clock(),
                    days=self.settings.whatsapp_pricing_sync_days,
                    legacy=waba == self.settings.whatsapp_business_account_id,
                )
                result["pricing_points"] = result.get("pricing_points", 0) + points
            except GraphClientError as exc:
                result["errors"].append(f"{prefix}pricing_analytics: {exc}")

    async def _sync_templates(self, graph: GraphClient, waba: str, prefix: str, result: dict[str, Any]) -> None:
        """The account's templates, stored as its state (``account_key``: ``master`` for the environment's)."""
        try:
            templates = await graph.list_templates(waba)
        except GraphClientError as exc:
            result["errors"].append(f"{prefix}message_templates: {exc}")
            return
        account_key = account_scope_key(waba, self.settings.whatsapp_business_account_id)
        now = self.clock()
        async with transaction(self.sessions) as session:
            for tpl in templates:
                if not tpl.get("name") or not tpl.get("status"):
                    continue
                await state_service.apply_template(
                    session,
                    name=str(tpl["name"]),
                    language=str(tpl.get("language") or ""),
                    status=str(tpl["status"]),
                    category=tpl.get("category"),
                    reason=tpl.get("rejected_reason"),
                    template_id=str(tpl.get("id") or "") or None,
                    now=now,
                    synced=True,
                    account_key=account_key,
                )
            result["templates"] += len(templates)

    async def finish(self) -> None:
        """After state changes: re-queue messages whose hold vanished, update the gauge, wake the dispatcher."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            requeued = await holds_service.release_orphans(session, now)
            await state_service.refresh_held_numbers_gauge(session)
        if requeued:
            log.info("%d held messages re-queued (their hold was lifted)", requeued)
        if self.on_change is not None:
            self.on_change()

    async def refresh_number(self, phone_number_id: str) -> str | None:
        """Read one number (``GET /{id}``, a management read, with the token of its account when the sync knows
        it) and apply its state; returns the hold reason."""
        graph = self.graph
        if self.accounts is not None and self.accounts.several():  # a single account: no look-up at all
            async with self.sessions() as session:
                row = await state_repo.get_number(session, phone_number_id)
            graph = await self.accounts.graph_for_waba(row.waba_id if row is not None else None)
        item = await graph.get_phone_number(phone_number_id)
        now = self.clock()
        values = state_service.number_values_from_graph(item)
        values["synced_at"] = now
        async with transaction(self.sessions) as session:
            reason = await state_service.apply_number(session, phone_number_id, values, now)
        await self.finish()
        return reason

    async def follow_up(self, numbers: set[str], refresh_all: bool) -> None:
        """After a quality/account webhook: read the numbers' current state (best effort)."""
        try:
            if refresh_all:
                await self.run_once(manual=True)
                return
            for number in sorted(numbers):
                await self.refresh_number(number)
        except SyncBusy:
            pass
        except GraphClientError as exc:
            log.warning("could not refresh numbers %s after a webhook: %s (the periodic sync will)", numbers, exc)
            await self.finish()
        except Exception:  # noqa: BLE001
            log.exception("refreshing numbers after a webhook failed")

    @contextlib.asynccontextmanager
    async def _leader(self) -> Any:
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        async with self.engine.connect() as conn:
            got = await try_advisory_lock(conn, ADVISORY_LOCK_KEY)
            try:
                yield got
            finally:
                if got:
                    await advisory_unlock(conn, ADVISORY_LOCK_KEY)
                await conn.commit()
