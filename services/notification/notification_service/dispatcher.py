"""The dispatcher: claims due messages from the database, decides, rate-gates, sends, records the outcome.

Runs inside the API process by default (``DISPATCHER_ENABLED=true``) and also standalone::

    python -m notification_service.dispatcher

Several dispatchers may share one PostgreSQL database: claims use ``FOR UPDATE SKIP LOCKED`` and leases
(``lease_expires_at``), rate-limit state lives in the database. On SQLite run a single dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.contracts import InternalNotificationSettings
from bakery_shared.db import create_engine, create_session_factory, is_sqlite, transaction, utcnow
from bakery_shared.graph import (
    ACCOUNT_WIDE_CODES,
    GraphClient,
    GraphClientError,
    GraphError,
    GraphNotConfigured,
    GraphTimeout,
    RetryClass,
    SendResult,
)
from bakery_shared.logging import configure_logging
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.config import NotificationSettings
from notification_service.domain import rate_gate, templates
from notification_service.domain.backoff import exponential_backoff, pair_backoff
from notification_service.domain.decisions import (
    ACCOUNT_SCOPE,
    MASTER_ACCOUNT_KEY,
    PHONE_NUMBER_SCOPE,
    Action,
    Reason,
    decide,
    hold_key,
)
from notification_service.domain.statuses import MessageStatus, callback_data_for
from notification_service.domain.whatsapp_state import (
    TEMPLATE_ACTIONS,
    TEMPLATE_SCOPE,
    TemplateAction,
    normalize_language,
    template_action,
    template_fail_reason,
    template_hold_reason,
    template_scope_key,
)
from notification_service.repositories import holds as holds_repo
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import rate_limits as rate_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.tenant_client import TenantNotFound, TenantServiceUnavailable, TenantSettingsClient
from notification_service.wakeup import PostgresListener, Wakeup

log = logging.getLogger("notification.whatsapp.dispatcher")

CREDENTIAL_HOLD = "credential"
_MAINTENANCE_CODES = {131057}
_PAIR_CODES = {131056}
_APP_CODES = {4, 80007}
_LONG_THROTTLES = {131049: 24 * 3600.0, 133015: 300.0, 133016: 72 * 3600.0}
_RECORD_CHUNK = 25  # accepted sends recorded per transaction


@dataclass
class _Send:
    row: dict[str, Any]
    phone_number_id: str
    rendered: templates.RenderedTemplate
    send_at: datetime | None = None
    attempt_id: int = 0
    attempt_no: int = 0
    possible_duplicate: bool = False


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    requeued: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


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
    ) -> None:
        self.settings = settings
        self._owns_engine = engine is None and session_factory is None
        self.engine: AsyncEngine | None
        if session_factory is None:
            self.engine = engine or create_engine(settings.notification_database_url)
            self.sessions = create_session_factory(self.engine)
        else:
            self.engine = engine
            self.sessions = session_factory
        self._owns_graph = graph is None
        self.graph = graph or GraphClient.from_settings(settings, transport=graph_transport)
        self._owns_tenants = tenant_client is None
        self.tenants = tenant_client or TenantSettingsClient(settings, transport=tenant_transport)
        self.wakeup = wakeup or Wakeup()
        self.id = dispatcher_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.stats = DispatchStats()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: PostgresListener | None = None
        self._in_flight_http = 0
        self._accepted: list[dict[str, Any]] | None = None  # accepted sends of the batch, recorded in chunks
        self._last_probe = 0.0
        self._last_cleanup = 0.0
        self._token_fingerprint = self._fingerprint()
        self.gate_config = rate_gate.GateConfig(
            rate_per_second=settings.rate_per_number_per_second,
            pair_interval=settings.recipient_min_interval_seconds,
            daily_cap=settings.tenant_daily_new_recipient_cap,
            horizon=settings.rate_wait_horizon_seconds,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the loop as a background task (in the API process, or in the standalone command)."""
        if self._task is not None:
            return
        self._stopping.clear()
        url = self.settings.notification_database_url
        if self.settings.dispatch_listen_notify and not is_sqlite(url):
            self._listener = PostgresListener(url, self.wakeup)
            self._listener.start()
        self._task = asyncio.create_task(self._loop(), name=f"dispatcher-{self.id}")

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: no new claims; in-flight HTTP calls finish; claimed-but-unsent work is released."""
        grace = self.settings.dispatch_shutdown_grace_seconds if grace is None else grace
        self._stopping.set()
        self.wakeup.notify()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except TimeoutError:
                log.warning("dispatcher %s: in-flight work did not finish in %ss; leases will expire", self.id, grace)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
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

    def wake(self) -> None:
        self.wakeup.notify()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        log.info("dispatcher %s started", self.id)
        while not self._stopping.is_set():
            claimed = 0
            try:
                await self._maintenance()
                claimed = await self.run_once()
            except Exception:  # noqa: BLE001 - the loop must survive a database or bug hiccup
                log.exception("dispatcher %s: batch failed; retrying after the poll interval", self.id)
            if self._stopping.is_set():
                break
            if claimed < self.settings.dispatch_batch_size:
                await self.wakeup.wait(self.settings.dispatch_poll_interval_seconds)
        log.info("dispatcher %s stopped", self.id)

    async def _maintenance(self) -> None:
        now_mono = time.monotonic()
        fingerprint = self._fingerprint()
        token_changed = fingerprint != self._token_fingerprint
        if token_changed:
            self._token_fingerprint = fingerprint
            log.info("the WhatsApp access token changed; probing held accounts now")
        if token_changed or now_mono - self._last_probe >= min(5.0, self.settings.hold_probe_interval_seconds):
            self._last_probe = now_mono
            await self.probe_holds(force=token_changed)
            async with transaction(self.sessions) as session:
                if await messages_repo.requeue_orphaned_holds(session, self.clock()):
                    self.wake()
        if now_mono - self._last_cleanup >= 600:
            self._last_cleanup = now_mono
            now = self.clock()
            async with transaction(self.sessions) as session:
                await rate_repo.cleanup(
                    session, older_than=now - timedelta(hours=1), day_before=now.date() - timedelta(days=2)
                )

    def _fingerprint(self) -> str:
        try:
            token = self.graph.tokens.get()
        except OSError:
            token = ""
        return hashlib.sha256(token.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ one batch

    async def drain(self, max_batches: int = 10_000) -> int:
        """Process batches until nothing is due now (test helper); returns the number of messages claimed."""
        total = 0
        for _ in range(max_batches):
            claimed = await self.run_once()
            total += claimed
            if claimed == 0:
                break
        return total

    async def run_once(self) -> int:
        """Claim one batch and process it completely. Returns how many messages were claimed.

        Each batch gets a fresh request id: in its log lines and as ``X-Request-ID`` on the tenant-settings calls.
        """
        with bind(request_id=f"dispatch-{uuid.uuid4().hex[:16]}"):
            return await self._run_batch()

    async def _run_batch(self) -> int:
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.dispatch_lease_seconds)
        async with transaction(self.sessions) as session:
            rows = await messages_repo.claim_batch(
                session, owner=self.id, now=now, lease_until=lease_until, limit=self.settings.dispatch_batch_size
            )
            if not rows:
                return 0
            unfinished = await messages_repo.unfinished_attempts(session, [r["id"] for r in rows])
            await messages_repo.abandon_attempts(session, [a["id"] for a in unfinished.values()], now)
        self.stats.claimed += len(rows)
        async with self.sessions() as session:
            active_holds = await holds_repo.active_hold_reasons(session)
            # templates that must not be sent now (PAUSED, PENDING, REJECTED, …): one small query per batch
            blocked = [s for s, a in TEMPLATE_ACTIONS.items() if a is not TemplateAction.SEND]
            template_states = await state_repo.template_states(session, blocked)
        tenant_ids = {r["tenant_id"] for r in rows}
        resolved = dict(zip(tenant_ids, await asyncio.gather(*(self._tenant(t) for t in tenant_ids)), strict=True))

        updates: list[tuple[uuid.UUID, dict[str, Any]]] = []
        to_send: list[_Send] = []
        for row in rows:
            outcome = self._prepare(
                row, now, unfinished.get(row["id"]), resolved[row["tenant_id"]], active_holds, template_states
            )
            if isinstance(outcome, _Send):
                to_send.append(outcome)
            else:
                updates.append((row["id"], outcome))
        if updates:
            async with transaction(self.sessions) as session:
                for message_id, values in updates:
                    await messages_repo.update_owned(session, message_id, self.id, values)
            by_id = {r["id"]: r for r in rows}
            for message_id, values in updates:
                self._log_settled(by_id[message_id], values)

        if to_send:
            to_send = await self._gate(to_send, now)
        if to_send:
            await self._start_attempts(to_send, now)
            semaphore = asyncio.Semaphore(self.settings.dispatch_concurrency)
            heartbeat = asyncio.create_task(self._extend_leases([i.row["id"] for i in to_send]))
            self._accepted = []
            try:
                await asyncio.gather(*(self._send_one(item, semaphore) for item in to_send))
            finally:
                await self._flush_accepted()
                self._accepted = None
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        return len(rows)

    async def _extend_leases(self, ids: list[uuid.UUID]) -> None:
        """Heartbeat: while a batch is still being sent, keep its leases from expiring (no double sends)."""
        period = self.settings.dispatch_lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            now = self.clock()
            try:
                async with transaction(self.sessions) as session:
                    await messages_repo.extend_leases(
                        session, self.id, ids, now + timedelta(seconds=self.settings.dispatch_lease_seconds)
                    )
            except Exception:  # noqa: BLE001 - the next beat retries
                log.warning("dispatcher %s: could not extend leases", self.id, exc_info=True)

    async def _tenant(self, tenant_id: uuid.UUID) -> InternalNotificationSettings | Exception:
        try:
            return await self.tenants.get(tenant_id)
        except (TenantServiceUnavailable, TenantNotFound) as exc:
            return exc

    def _prepare(
        self,
        row: dict[str, Any],
        now: datetime,
        unfinished: dict[str, Any] | None,
        tenant: InternalNotificationSettings | Exception,
        active_holds: dict[str, str],
        template_states: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> _Send | dict[str, Any]:
        """Decide one message: a _Send, or the column values that settle it for now."""
        possible_duplicate = False
        if unfinished is not None:
            # We crashed (or were killed) during the HTTP call: Meta may have the message. Wait for a webhook.
            grace_end = unfinished["started_at"] + timedelta(seconds=self.settings.ambiguous_grace_seconds)
            if grace_end <= now:
                # The lease (60 s) usually outlives the grace (30 s) and the send may have happened just before
                # the crash: give a status webhook still on its way a full grace period from now.
                grace_end = now + timedelta(seconds=self.settings.ambiguous_grace_seconds)
            if grace_end > now and row["awaiting_webhook_until"] is None:
                return self._requeue(now, grace_end, Reason.AMBIGUOUS, awaiting_webhook_until=grace_end)
            possible_duplicate = True
        if row["awaiting_webhook_until"] is not None:
            possible_duplicate = True  # no webhook arrived in the grace period: resending may duplicate
        if isinstance(tenant, TenantNotFound):
            return self._terminal(
                now,
                MessageStatus.FAILED,
                Reason.TENANT_NOT_FOUND,
                error_code="tenant_not_found",
                error_message="The tenant service does not know this tenant",
            )
        if isinstance(tenant, Exception):
            due = now + timedelta(seconds=self.settings.tenant_unavailable_retry_seconds)
            return self._requeue(now, due, Reason.TENANT_UNAVAILABLE)
        decision = decide(
            kind=row["kind"],
            globally_enabled=self.settings.enable_whatsapp_notifications,
            tenant=tenant,
            active_holds=active_holds,
        )
        if decision.action is Action.SKIP:
            self.stats.skipped += 1
            return self._terminal(now, MessageStatus.SKIPPED, decision.reason)
        if decision.action is Action.HOLD:
            self.stats.held += 1
            return self._held(now, decision.reason or "held", decision.hold_key, decision.phone_number_id)
        try:
            rendered = templates.render(
                row["template_name"],
                row["template_values"],
                row["requested_language"],
                tenant.whatsapp_default_language,
            )
        except (KeyError, ValueError, ArithmeticError) as exc:
            return self._terminal(
                now,
                MessageStatus.FAILED,
                "template_error: the message could not be rendered",
                error_code="template_error",
                error_message=f"{type(exc).__name__}: {exc}",
            )
        assert decision.phone_number_id is not None
        state = (template_states or {}).get((rendered.name, normalize_language(rendered.meta_language)))
        if state is not None:
            action = template_action(state["status"])
            if action is TemplateAction.HOLD:
                self.stats.held += 1
                key = hold_key(TEMPLATE_SCOPE, template_scope_key(rendered.name, rendered.meta_language))
                reason = template_hold_reason(rendered.name, rendered.meta_language, state["status"])
                return self._held(now, reason, key, decision.phone_number_id)
            if action is TemplateAction.FAIL:
                return self._terminal(
                    now,
                    MessageStatus.FAILED,
                    template_fail_reason(rendered.name, rendered.meta_language, state["status"], state["reason"]),
                    error_code=f"template_{str(state['status']).lower()}",
                    error_message=f"Template {rendered.name} ({rendered.meta_language}) is {state['status']}",
                    error_details=state["reason"],
                    phone_number_id=decision.phone_number_id,
                    language=rendered.language,
                )
        return _Send(
            row=row, phone_number_id=decision.phone_number_id, rendered=rendered, possible_duplicate=possible_duplicate
        )

    # ------------------------------------------------------------------ column values

    def _requeue(self, now: datetime, due: datetime, reason: str | None, **extra: Any) -> dict[str, Any]:
        self.stats.requeued += 1
        return {
            "status": MessageStatus.QUEUED.value,
            "status_reason": reason,
            "due_at": due,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            **extra,
        }

    def _terminal(self, now: datetime, status: MessageStatus, reason: str | None, **extra: Any) -> dict[str, Any]:
        values = {
            "status": status.value,
            "status_reason": reason,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "awaiting_webhook_until": None,
            **extra,
        }
        if status is MessageStatus.FAILED:
            self.stats.failed += 1
            values["failed_at"] = now
        return values

    def _held(self, now: datetime, reason: str, key: str | None, phone_number_id: str | None) -> dict[str, Any]:
        return {
            "status": MessageStatus.HELD.value,
            "status_reason": reason,
            "hold_key": key,
            "phone_number_id": phone_number_id,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }

    # ------------------------------------------------------------------ rate gates

    async def _gate(self, items: list[_Send], now: datetime) -> list[_Send]:
        requests = [
            rate_gate.GateRequest(
                message_id=i.row["id"],
                tenant_id=i.row["tenant_id"],
                phone_number_id=i.phone_number_id,
                recipient=i.row["recipient_phone"],
            )
            for i in items
        ]
        keys = rate_gate.keys_for(requests, self.gate_config, now.date())
        async with transaction(self.sessions) as session:
            await rate_repo.ensure_keys(session, keys, now)
        async with transaction(self.sessions) as session:
            counters = await rate_repo.lock_keys(session, keys)
            known: set[tuple[uuid.UUID, str]] = set()
            if self.gate_config.daily_cap > 0:
                known = await rate_repo.known_recipients(
                    session, now.date(), [(r.tenant_id, r.recipient) for r in requests]
                )
            results = rate_gate.plan(requests, counters, config=self.gate_config, now=now, known_today=known)
            await rate_repo.write_back(session, counters.values(), now)
            new = [(r.tenant_id, r.recipient) for r in requests if results[r.message_id].new_recipient]
            await rate_repo.add_recipients(session, now.date(), new, now)
            allowed: list[_Send] = []
            for item in items:
                result = results[item.row["id"]]
                if result.allowed:
                    item.send_at = result.send_at
                    allowed.append(item)
                else:
                    assert result.defer_until is not None
                    await messages_repo.update_owned(
                        session, item.row["id"], self.id, self._requeue(now, result.defer_until, result.reason)
                    )
        return allowed

    # ------------------------------------------------------------------ sending

    async def _start_attempts(self, items: list[_Send], now: datetime) -> None:
        """One attempt row per message, committed before any HTTP call (crash → the attempt stays open)."""
        async with transaction(self.sessions) as session:
            rows = []
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for item in items:
                item.attempt_no = int(item.row["attempts"]) + 1
                rows.append(
                    {
                        "message_id": item.row["id"],
                        "attempt_no": item.attempt_no,
                        "dispatcher_id": self.id,
                        "phone_number_id": item.phone_number_id,
                        "started_at": now,
                    }
                )
                values: dict[str, Any] = {
                    "attempts": item.attempt_no,
                    "phone_number_id": item.phone_number_id,
                    "language": item.rendered.language,
                    "template_parameters": item.rendered.parameters,
                    "awaiting_webhook_until": None,
                    "updated_at": now,
                }
                if item.possible_duplicate:
                    values["possible_duplicates"] = int(item.row["possible_duplicates"]) + 1
                    metrics.POSSIBLE_DUPLICATES.inc()
                    with bind(tenant_id=item.row["tenant_id"], notification_id=item.row["id"]):
                        log.warning("whatsapp message re-sent after an ambiguous attempt: possible duplicate")
                by_keys.setdefault(tuple(values), []).append({"id": item.row["id"], **values})
            for group in by_keys.values():  # one executemany per set of columns, not one UPDATE per message
                await messages_repo.update_many_owned(session, self.id, group)
            ids = await messages_repo.start_attempts(session, rows)
        for item in items:
            item.attempt_id = ids[item.row["id"]]

    async def _send_one(self, item: _Send, semaphore: asyncio.Semaphore) -> None:
        with bind(tenant_id=item.row["tenant_id"], notification_id=item.row["id"]):
            await self._send_one_bound(item, semaphore)

    async def _send_one_bound(self, item: _Send, semaphore: asyncio.Semaphore) -> None:
        message_id = item.row["id"]
        if item.send_at is not None:
            delay = (item.send_at - self.clock()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        async with semaphore:
            if self._stopping.is_set():
                await self._release(item)
                return
            started = time.monotonic()
            self._in_flight_http += 1
            try:
                result: SendResult | BaseException = await self.graph.send_template(
                    item.phone_number_id,
                    to=item.row["recipient_phone"],
                    template_name=item.rendered.name,
                    language=item.rendered.meta_language,
                    body_parameters=item.rendered.parameters,
                    biz_opaque_callback_data=callback_data_for(message_id),
                )
            except Exception as exc:  # noqa: BLE001 - every error is recorded on the message
                result = exc
            finally:
                self._in_flight_http -= 1
            duration_ms = int((time.monotonic() - started) * 1000)
            metrics.record_send(item.row["tenant_id"], result, time.monotonic() - started)
        try:
            await self._record(item, result, duration_ms)
        except Exception:  # noqa: BLE001
            log.exception("could not record the outcome of message %s; its lease will expire", message_id)

    async def _release(self, item: _Send) -> None:
        now = self.clock()
        async with transaction(self.sessions) as session:
            await messages_repo.finish_attempt(
                session,
                item.attempt_id,
                {"outcome": "released", "finished_at": now, "error_message": "dispatcher shutting down; not sent"},
            )
            await messages_repo.update_owned(
                session,
                item.row["id"],
                self.id,
                {
                    "attempts": item.attempt_no - 1,
                    "status": MessageStatus.QUEUED.value,
                    "due_at": now,
                    "updated_at": now,
                    "lease_owner": None,
                    "lease_expires_at": None,
                },
            )

    def _log_settled(self, row: dict[str, Any], values: dict[str, Any], error_code: str | None = None) -> None:
        """One log line for a message the dispatcher settled (re-queues are DEBUG: pacing makes many)."""
        status = str(values.get("status", ""))
        reason = values.get("status_reason")
        level = {"queued": logging.DEBUG, "failed": logging.WARNING}.get(status, logging.INFO)
        if status == "queued" and error_code:
            level = logging.INFO  # a Graph error we retry
        with bind(tenant_id=row["tenant_id"], notification_id=row["id"]):
            log.log(
                level,
                "whatsapp message %s: %s%s",
                status,
                reason or "",
                f" (error {error_code})" if error_code else "",
                extra={"status": status, "reason_code": metrics.reason_code(reason), "error_code": error_code},
            )

    def _count(self, outcome: str) -> None:
        self.stats.by_outcome[outcome] = self.stats.by_outcome.get(outcome, 0) + 1

    async def _flush_accepted(self) -> None:
        """Record the accepted sends buffered so far in one transaction (three statements per chunk instead of
        one transaction of two statements per message: the drain's main SQL cost, docs/benchmarks.md)."""
        chunk = self._accepted or []
        if self._accepted is not None:
            self._accepted = []
        if not chunk:
            return
        try:
            async with transaction(self.sessions) as session:
                await messages_repo.mark_sent_many(session, self.id, chunk, self.clock())
        except Exception:  # noqa: BLE001 - as for one message: the leases expire and the attempts are reconciled
            log.exception("could not record %d accepted sends; their leases will expire", len(chunk))

    async def _record(self, item: _Send, result: SendResult | BaseException, duration_ms: int) -> None:
        now = self.clock()
        row = item.row
        message_id = row["id"]
        attempt: dict[str, Any] = {"finished_at": now, "duration_ms": duration_ms}
        if isinstance(result, SendResult) and self._accepted is not None:
            self._count("accepted")
            self.stats.sent += 1
            reason = None
            if result.message_status and result.message_status != "accepted":
                reason = f"meta_pacing: {result.message_status}"
            self._accepted.append(
                {
                    "id": message_id,
                    "wamid": result.wamid,
                    "reason": reason,
                    "attempt_id": item.attempt_id,
                    "duration_ms": duration_ms,
                }
            )
            log.info(
                "whatsapp message sent: accepted by Meta as %s (%d ms)",
                result.wamid,
                duration_ms,
                extra={"status": "sent", "wamid": result.wamid, "duration_ms": duration_ms},
            )
            if len(self._accepted) >= _RECORD_CHUNK:
                await self._flush_accepted()
            return
        async with transaction(self.sessions) as session:
            if isinstance(result, SendResult):
                self._count("accepted")
                self.stats.sent += 1
                attempt.update(outcome="accepted", http_status=200, wamid=result.wamid)
                reason = None
                if result.message_status and result.message_status != "accepted":
                    reason = f"meta_pacing: {result.message_status}"
                await messages_repo.mark_sent(session, message_id, self.id, wamid=result.wamid, now=now, reason=reason)
                await messages_repo.finish_attempt(session, item.attempt_id, attempt)
                log.info(
                    "whatsapp message sent: accepted by Meta as %s (%d ms)",
                    result.wamid,
                    duration_ms,
                    extra={"status": "sent", "wamid": result.wamid, "duration_ms": duration_ms},
                )
                return
            values = await self._failure_values(session, item, result, now, attempt)
            await messages_repo.finish_attempt(session, item.attempt_id, attempt)
            if not await messages_repo.update_owned(session, message_id, self.id, values):
                log.warning("message %s: lease lost before its outcome was recorded", message_id)
        self._log_settled(row, values, error_code=attempt.get("error_code"))

    async def _failure_values(
        self, session: AsyncSession, item: _Send, exc: BaseException, now: datetime, attempt: dict[str, Any]
    ) -> dict[str, Any]:
        row = item.row
        transient_failures = int(row["transient_failures"]) + 1
        if isinstance(exc, GraphError):
            code = exc.code
            code_text = str(code) if code is not None else f"http_{exc.http_status}"
            text = exc.title + (f" ({exc.details})" if exc.details else "")
            attempt.update(http_status=exc.http_status, error_code=code_text, error_message=text)
            retry_class = exc.retry_class
        elif isinstance(exc, GraphNotConfigured):
            code, code_text, text = None, "not_configured", str(exc)
            attempt.update(error_code=code_text, error_message=text)
            retry_class = RetryClass.CREDENTIAL
        elif isinstance(exc, GraphTimeout) and exc.maybe_delivered:
            self._count("timeout_ambiguous")
            attempt.update(outcome="timeout_ambiguous", error_code="timeout", error_message=str(exc))
            if transient_failures >= self.settings.max_attempts:
                return self._terminal(
                    now,
                    MessageStatus.FAILED,
                    "attempts_exhausted: no answer from Meta",
                    transient_failures=transient_failures,
                    error_code="timeout",
                    error_message=str(exc),
                )
            grace_end = now + timedelta(seconds=self.settings.ambiguous_grace_seconds)
            return self._requeue(
                now,
                grace_end,
                Reason.AMBIGUOUS,
                awaiting_webhook_until=grace_end,
                transient_failures=transient_failures,
                error_code="timeout",
                error_message=str(exc),
            )
        elif isinstance(exc, GraphClientError):
            code, code_text, text = None, "transport", str(exc)
            attempt.update(error_code=code_text, error_message=text)
            retry_class = RetryClass.TRANSIENT
        else:
            log.error("unexpected error sending message %s: %r", row["id"], exc)
            code, code_text, text = None, "internal", f"{type(exc).__name__}: {exc}"
            attempt.update(error_code=code_text, error_message=text)
            retry_class = RetryClass.TRANSIENT

        attempt["outcome"] = retry_class.value
        self._count(retry_class.value)
        if retry_class is RetryClass.TRANSIENT:
            if transient_failures >= self.settings.max_attempts:
                return self._terminal(
                    now,
                    MessageStatus.FAILED,
                    f"attempts_exhausted: {transient_failures} transient failures",
                    transient_failures=transient_failures,
                    error_code=code_text,
                    error_message=text,
                )
            delay = exponential_backoff(
                transient_failures,
                base=self.settings.retry_base_seconds,
                cap=self.settings.retry_max_seconds,
                rng=self.rng,
            )
            if code in _MAINTENANCE_CODES:
                delay = max(delay, self.settings.maintenance_retry_seconds)
            return self._requeue(
                now,
                now + timedelta(seconds=delay),
                f"retrying: transient error {code_text}",
                transient_failures=transient_failures,
                error_code=code_text,
                error_message=text,
            )
        if retry_class is RetryClass.THROTTLED:
            throttles = int(row["throttle_count"]) + 1
            if code in _PAIR_CODES:
                delay = pair_backoff(throttles, cap=self.settings.throttle_max_seconds)
                delay = max(delay, self.settings.recipient_min_interval_seconds)
                key = rate_gate.pair_key(item.phone_number_id, row["recipient_phone"])
            elif code in _APP_CODES:
                delay = self.settings.app_throttle_seconds
                key = rate_gate.number_key(item.phone_number_id)
            elif code in _LONG_THROTTLES:
                delay = _LONG_THROTTLES[code]
                key = rate_gate.pair_key(item.phone_number_id, row["recipient_phone"])
            else:  # 130429, HTTP 429
                delay = exponential_backoff(
                    throttles,
                    base=self.settings.throttle_base_seconds,
                    cap=self.settings.throttle_max_seconds,
                    rng=self.rng,
                )
                key = rate_gate.number_key(item.phone_number_id)
            not_before = now + timedelta(seconds=delay)
            await rate_repo.push_tat(session, key, not_before, now)
            return self._requeue(
                now,
                not_before,
                f"throttled: Meta asked to slow down ({code_text})",
                throttle_count=throttles,
                error_code=code_text,
                error_message=text,
            )
        if retry_class is RetryClass.PERMANENT:
            return self._terminal(
                now,
                MessageStatus.FAILED,
                f"rejected: {code_text}",
                error_code=code_text,
                error_message=text,
                error_details=exc.details if isinstance(exc, GraphError) else None,
            )
        # credential / account / number problem: hold, keep the message, pause the scope
        if isinstance(exc, GraphNotConfigured) or code in ACCOUNT_WIDE_CODES:
            scope, scope_key = ACCOUNT_SCOPE, MASTER_ACCOUNT_KEY
        else:
            scope, scope_key = PHONE_NUMBER_SCOPE, item.phone_number_id
        reason = f"credential: ({code_text}) {text}"[:500]
        await holds_repo.place_hold(
            session,
            scope=scope,
            scope_key=scope_key,
            kind=CREDENTIAL_HOLD,
            reason=reason,
            error_code=code_text,
            probe_phone_number_id=item.phone_number_id,
            now=now,
            next_probe_at=now + timedelta(seconds=self.settings.hold_probe_interval_seconds),
        )
        log.warning("sending paused for %s %s: %s", scope, scope_key, reason)
        self.stats.held += 1
        values = self._held(now, reason, hold_key(scope, scope_key), item.phone_number_id)
        values.update(error_code=code_text, error_message=text)
        return values

    # ------------------------------------------------------------------ holds

    async def probe_holds(self, *, force: bool = False) -> int:
        """Probe credential holds that are due (or all of them with ``force``); release the ones that pass.

        Returns the number of holds released. The probe is a read (``GET /{phone_number_id}``), never a send.
        """
        now = self.clock()
        async with self.sessions() as session:
            candidates = await (holds_repo.active_holds(session) if force else holds_repo.due_probes(session, now))
        released = 0
        for hold in candidates:
            if hold["kind"] != CREDENTIAL_HOLD:
                continue  # other kinds (quality, templates) are released by whoever placed them
            try:
                await self._probe(hold)
            except GraphClientError as exc:
                failures = int(hold["probe_failures"]) + 1
                interval = min(
                    self.settings.hold_probe_max_interval_seconds,
                    self.settings.hold_probe_interval_seconds * (2 ** min(failures - 1, 10)),
                )
                async with transaction(self.sessions) as session:
                    await holds_repo.postpone_probe(
                        session,
                        hold["id"],
                        failures=failures,
                        next_probe_at=now + timedelta(seconds=interval),
                        now=now,
                    )
                log.info("hold %s:%s still failing its probe (%s)", hold["scope"], hold["scope_key"], exc)
                continue
            async with transaction(self.sessions) as session:
                requeued = await holds_repo.release_hold(
                    session, scope=hold["scope"], scope_key=hold["scope_key"], kind=hold["kind"], now=now
                )
            released += 1
            log.warning(
                "sending resumed for %s %s (%d held messages re-queued)", hold["scope"], hold["scope_key"], requeued
            )
        if released:
            self.wake()
        return released

    async def _probe(self, hold: dict[str, Any]) -> None:
        number = hold["probe_phone_number_id"] or (hold["scope_key"] if hold["scope"] == PHONE_NUMBER_SCOPE else None)
        if number:
            await self.graph.get_phone_number(number, fields="id,status,quality_rating")
        elif self.settings.whatsapp_business_account_id:
            await self.graph.list_phone_numbers(self.settings.whatsapp_business_account_id)
        else:
            raise GraphNotConfigured("WhatsApp master account not configured")


async def _main() -> None:
    settings = NotificationSettings()
    configure_logging(settings.log_level, secrets=settings.log_secrets(), service="notification-dispatcher")
    dispatcher = Dispatcher(settings)
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
    log.info(
        "standalone dispatcher %s running against %s", dispatcher.id, settings.notification_database_url.split("@")[-1]
    )
    await stop.wait()
    if gauges is not None:
        gauges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gauges
    await dispatcher.aclose()


def main() -> None:
    """``python -m notification_service.dispatcher``: a standalone dispatcher process."""
    asyncio.run(_main())


if __name__ == "__main__":
    main()
