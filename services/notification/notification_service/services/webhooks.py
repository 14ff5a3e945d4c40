"""Signed webhooks from Meta: verify, store raw (deduplicated), process idempotently.

Processing rules (docs/notification.md, "Webhooks"):

* statuses are found by ``wamid``, else by our ``biz_opaque_callback_data`` (``notification:<id>``), and are
  only applied when ``metadata.phone_number_id`` is the number the message was sent from;
* statuses are merged by the domain transition ``domain/message.reported`` (statuses by :func:`join_status`,
  timestamps with ``min``), so any order and any duplication of a message's webhooks give the same final state;
* ``pricing`` gives ``pricing_category``, ``pricing_type``, ``billable`` and ``cost_eur`` (rate card);
* quality, account and template updates change ``phone_numbers`` / ``message_templates`` and the holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.domain import message as transitions
from notification_service.domain.message import ErrorInfo, Message, StatusReport
from notification_service.domain.pricing import RateCard, normalize_category
from notification_service.domain.statuses import WEBHOOK_STATUSES, MessageStatus, notification_id_from_callback
from notification_service.domain.whatsapp_state import digits, stored_template_status
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.services import whatsapp_state as state_service

log = logging.getLogger("notification.whatsapp.webhooks")

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature_problem(raw: bytes, header: str | None, app_secret: str) -> str | None:
    """None when ``header`` is ``sha256=<hex HMAC-SHA256 of raw>``; else the rejection reason."""
    if not header:
        return "missing_signature"
    if not header.startswith("sha256="):
        return "bad_signature"
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    given = header.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")):
        return "bad_signature"
    return None


class TokenBucket:
    """Per-process limit on accepted webhook POSTs (monotonic clock)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self) -> int:
        return max(1, int((1 - self.tokens) / self.rate) + 1)


def change_fields(payload: Any) -> list[str]:
    fields: list[str] = []
    if isinstance(payload, dict):
        for entry in payload.get("entry") or []:
            if isinstance(entry, dict):
                for change in entry.get("changes") or []:
                    if isinstance(change, dict):
                        fields.append(str(change.get("field") or "unknown"))
    return fields


def parse_timestamp(value: Any, default: datetime) -> datetime:
    """Meta sends Unix seconds as a string."""
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


@dataclass
class ProcessResult:
    statuses: dict[str, int] = field(default_factory=dict)  # outcome → count
    numbers_to_refresh: set[str] = field(default_factory=set)
    refresh_all_numbers: bool = False

    def count(self, outcome: str) -> None:
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1


class WebhookProcessor:
    """Stores and processes webhook events. One per app; the SQLite path is serialised by an asyncio lock."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rate_card: RateCard,
        *,
        serialise: bool,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.rate_card = rate_card
        self.clock = clock
        self._lock = asyncio.Lock() if serialise else None

    async def store(self, raw: bytes, fields: list[str]) -> tuple[int, bool]:
        sha = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8", errors="replace")
        async with transaction(self.sessions) as session:
            return await state_repo.store_event(
                session, sha256=sha, body=text, size=len(raw), fields=",".join(sorted(set(fields))), now=self.clock()
            )

    async def process(self, event_id: int) -> ProcessResult | None:
        """Process one stored event (idempotent). None when someone else processed it (or is doing so)."""
        if self._lock is not None:
            async with self._lock:
                return await self._process(event_id)
        return await self._process(event_id)

    async def _process(self, event_id: int) -> ProcessResult | None:
        try:
            async with transaction(self.sessions) as session:
                event = await state_repo.lock_unprocessed_event(session, event_id)
                if event is None:
                    return None
                result = ProcessResult()
                await self._apply(session, event_id, json.loads(event["body"]), result)
                await state_repo.mark_processed(session, event_id, self.clock())
                await state_service.refresh_held_numbers_gauge(session)
        except Exception as exc:  # noqa: BLE001 - stored; the sweeper retries it
            log.exception("webhook event %s could not be processed; will retry", event_id)
            async with transaction(self.sessions) as session:
                await state_repo.mark_failed(session, event_id, f"{type(exc).__name__}: {exc}")
            return None
        return result

    async def sweep(self, older_than_seconds: float = 5.0, limit: int = 100) -> int:
        """Process stored events that were never processed (a crash, a bug, a database hiccup)."""
        cutoff = self.clock() - timedelta(seconds=older_than_seconds)
        async with self.sessions() as session:
            ids = await state_repo.unprocessed_events(session, cutoff, limit)
        done = 0
        for event_id in ids:
            if await self.process(event_id) is not None:
                done += 1
        return done

    # ------------------------------------------------------------------ dispatch by field

    async def _apply(self, session: AsyncSession, event_id: int, payload: Any, result: ProcessResult) -> None:
        if not isinstance(payload, dict):
            return
        for entry in payload.get("entry") or []:
            if not isinstance(entry, dict):
                continue
            for change in entry.get("changes") or []:
                if not isinstance(change, dict):
                    continue
                field_name = str(change.get("field") or "")
                value = change.get("value") or {}
                if not isinstance(value, dict):
                    continue
                if field_name == "messages":
                    await self._messages(session, event_id, value, result)
                elif field_name == "phone_number_quality_update":
                    await self._quality(session, value, result)
                elif field_name == "account_update":
                    await self._account(session, value, result)
                elif field_name == "message_template_status_update":
                    await self._template(session, value)
                else:
                    log.info("webhook field %s stored, not processed", field_name)

    async def _messages(
        self, session: AsyncSession, event_id: int, value: dict[str, Any], result: ProcessResult
    ) -> None:
        metadata = value.get("metadata") or {}
        phone_number_id = str(metadata.get("phone_number_id") or "") or None
        for item in value.get("statuses") or []:
            if isinstance(item, dict):
                outcome = await self._status(session, event_id, phone_number_id, item)
                result.count(outcome)
        for error in value.get("errors") or []:
            log.warning("system-level webhook error for number %s: %s", phone_number_id, error)
        inbound = value.get("messages") or []
        if inbound:
            log.info("%d inbound message(s) for number %s stored (not processed)", len(inbound), phone_number_id)

    async def _status(
        self, session: AsyncSession, event_id: int, phone_number_id: str | None, item: dict[str, Any]
    ) -> str:
        now = self.clock()
        wamid = str(item.get("id") or "") or None
        raw_status = str(item.get("status") or "").lower()
        at = parse_timestamp(item.get("timestamp"), now)
        notification_id = notification_id_from_callback(item.get("biz_opaque_callback_data"))
        record: dict[str, Any] = {
            "event_id": event_id,
            "wamid": wamid,
            "status": raw_status[:16] or "unknown",
            "status_at": at,
            "phone_number_id": phone_number_id,
            "created_at": now,
        }
        message = await messages_repo.find_for_status(session, wamid=wamid, notification_id=notification_id)
        if message is None:
            log.info("status %s for unknown message wamid=%s (stored)", raw_status, wamid)
            await state_repo.record_status(session, {**record, "outcome": "unknown_message"})
            return "unknown_message"
        with bind(tenant_id=message.tenant_id, notification_id=message.id):
            record["message_id"] = message.id
            if not phone_number_id or message.phone_number_id != phone_number_id:
                log.warning(
                    "status %s for message %s rejected: webhook phone_number_id %s is not the message's number %s",
                    raw_status,
                    message.id,
                    phone_number_id,
                    message.phone_number_id,
                )
                metrics.WEBHOOKS_REJECTED.labels(reason="status_phone_number_mismatch").inc()
                await state_repo.record_status(session, {**record, "outcome": "rejected_phone_number_mismatch"})
                return "rejected_phone_number_mismatch"
            report = self._report(message, raw_status, at, wamid, item)
            if report is None:
                await state_repo.record_status(session, {**record, "outcome": "ignored_status"})
                return "ignored_status"
            update = transitions.reported(message, report, now)
            applied = update is not None and await messages_repo.apply(session, update) == 1
            outcome = "duplicate"
            if update is not None and applied:
                outcome = "applied" if update.changes_status else "updated"
            if update is not None and applied and update.changes_status:
                if message.status is MessageStatus.SENDING:
                    # e.g. the dispatcher was killed during the HTTP call: close its open attempt
                    await messages_repo.settle_open_attempts(session, message.id, wamid, now)
                metrics.MESSAGE_STATUS.labels(status=update.status.value).inc()
                metrics.count_transition(update.status.value, update.columns().get("status_reason") or "webhook")
                log.info(
                    "whatsapp message %s: %s → %s (webhook)",
                    message.id,
                    message.status.value,
                    update.status.value,
                    extra={"status": update.status.value, "wamid": wamid},
                )
            if update is not None and applied and update.cost_eur not in (None, transitions.KEEP):
                metrics.COST_EUR.labels(tenant_id=str(message.tenant_id)).inc(float(update.cost_eur))  # type: ignore[arg-type]
            await state_repo.record_status(session, {**record, "outcome": outcome})
            return outcome

    def _report(
        self, message: Message, raw_status: str, at: datetime, wamid: str | None, item: dict[str, Any]
    ) -> StatusReport | None:
        """One ``statuses[]`` item as the domain reads it (None for a status a webhook may not set)."""
        try:
            status = MessageStatus(raw_status)
        except ValueError:
            return None
        if status not in WEBHOOK_STATUSES:
            return None
        error: ErrorInfo | None = None
        if status is MessageStatus.FAILED:
            errors = item.get("errors") or [{}]
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            code = first.get("code")
            title = str(first.get("title") or first.get("message") or "delivery failed")
            error_data = first.get("error_data")
            details = error_data.get("details") if isinstance(error_data, dict) else None
            error = ErrorInfo(str(code) if code is not None else "unknown", title, str(details) if details else None)
        pricing = item.get("pricing")
        if not isinstance(pricing, dict):
            return StatusReport(status=status, at=at, wamid=wamid, error=error)
        category = normalize_category(pricing.get("category"))
        billable = pricing.get("billable")
        billable = bool(billable) if isinstance(billable, bool) else (pricing.get("type") == "regular")
        return StatusReport(
            status=status,
            at=at,
            wamid=wamid,
            error=error,
            pricing_category=category,
            pricing_type=str(pricing.get("type") or "")[:48] or None,
            billable=billable,
            cost_eur=self.rate_card.cost(message.recipient_phone, category, billable),
        )

    async def _quality(self, session: AsyncSession, value: dict[str, Any], result: ProcessResult) -> None:
        now = self.clock()
        display = digits(str(value.get("display_phone_number") or ""))
        phone_number_id = str(value.get("phone_number_id") or "") or await state_repo.number_id_for_display(
            session, display
        )
        event = str(value.get("event") or "")[:64]
        if phone_number_id is None:
            log.warning("quality update %s for unknown number %s: syncing all numbers", event, display)
            result.refresh_all_numbers = True
            return
        values: dict[str, Any] = {"last_event": event, "last_event_at": now}
        if display:
            values["display_phone_number"] = display
        tier = value.get("max_daily_conversations_per_business") or value.get("current_limit")
        if tier:
            values["messaging_limit_tier"] = str(tier).upper()
        # The event does not carry the quality colour (reference §3.6); when a payload has it, use it,
        # and in any case read the number's current state from the Graph API right after.
        for key in ("quality_rating", "new_quality_rating"):
            if value.get(key):
                values["quality_rating"] = str(value[key]).upper()
        if value.get("status"):
            values["status"] = str(value["status"]).upper()
        await state_service.apply_number(session, phone_number_id, values, now)
        result.numbers_to_refresh.add(phone_number_id)

    async def _account(self, session: AsyncSession, value: dict[str, Any], result: ProcessResult) -> None:
        now = self.clock()
        event = str(value.get("event") or "")[:64]
        number = value.get("phone_number") or value.get("display_phone_number")
        if number:
            phone_number_id = await state_repo.number_id_for_display(session, digits(str(number)))
            if phone_number_id:
                await state_service.apply_number(
                    session, phone_number_id, {"last_event": f"account_update:{event}"[:64], "last_event_at": now}, now
                )
                result.numbers_to_refresh.add(phone_number_id)
        await state_service.apply_account_event(session, value, now)

    async def _template(self, session: AsyncSession, value: dict[str, Any]) -> None:
        name = str(value.get("message_template_name") or "")
        language = str(value.get("message_template_language") or "")
        event = str(value.get("event") or "")
        if not name or not event:
            return
        await state_service.apply_template(
            session,
            name=name,
            language=language,
            status=stored_template_status(event),
            category=value.get("message_template_category"),
            reason=value.get("reason"),
            template_id=str(value.get("message_template_id") or "") or None,
            now=self.clock(),
        )
        log.warning("template %s (%s) is now %s (webhook)", name, language, event)
