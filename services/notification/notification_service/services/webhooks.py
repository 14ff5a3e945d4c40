"""Signed webhooks from Meta, once received (``services/webhook_receiver.py``): stored raw (deduplicated by
sha256; concurrent requests' bodies share one transaction), then applied idempotently off the request path, in
batches (:meth:`WebhookProcessor.apply_batch`, run by ``services/webhook_applier.py``): one transaction per batch,
every message the batch names loaded in one query, statuses merged in memory in event order, one executemany per
table. A batch that fails as a whole is applied again event by event, item by item (:meth:`WebhookProcessor.process`),
so one poison event never blocks the others (docs/notification.md, "Webhooks").

Processing rules (the same on both paths):

* a malformed item is recorded as ``invalid`` (and counted) and the others still apply; on the event-by-event
  path every change and ``statuses[]`` item runs in its own SAVEPOINT, so one that fails does not fail the others;
  every value is fitted to its column;
* each entry is routed by its ``id``, the WhatsApp Business Account it is about (issue 18): an entry of an account
  the platform does not know (``accounts.py``; the environment's account always is) is refused — its changes are
  not applied, counted (``whatsapp_webhook_unknown_account_total``) and named in the event's note — while the rest
  of the body applies; an entry without an id is the environment's account's;
* statuses are found by ``wamid``, else by our ``biz_opaque_callback_data`` (``notification:<id>``), and are
  only applied when ``metadata.phone_number_id`` is the number the message was sent from and the entry's account
  is the one it went out from (when the message recorded it);
* statuses are merged by the domain transition ``domain/message.reported`` (statuses by :func:`join_status`,
  timestamps with ``min``), so any order and any duplication of a message's webhooks give the same final state;
* ``pricing`` gives ``pricing_category``, ``pricing_type``, ``billable`` and ``cost_eur`` (rate card);
* ``recipient_user_id`` (Meta's business-scoped user ID, 2026) is kept once on the message; no webhook needs a
  phone number (a status has none when failed or sent by user ID, an inbound message none for some usernames);
* quality, account and template updates change ``phone_numbers`` / ``message_templates`` and the holds (a
  template event: that translation's state and holds at the entry's account only);
* inbound ``messages[]`` (what suppliers write back: taps, replies, opt-outs) go to their one owner,
  ``services/supplier_replies.py``, in the same transaction (issue 16).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bakery_shared.db import transaction, utcnow
from bakery_shared.group_commit import GroupCommit
from bakery_shared.observability import bind
from notification_service import metrics
from notification_service.accounts import Accounts
from notification_service.domain import transitions
from notification_service.domain.decisions import MASTER_ACCOUNT_KEY
from notification_service.domain.message import KEEP, ErrorInfo, Message, StatusReport
from notification_service.domain.pricing import RateCard, is_charged, normalize_category
from notification_service.domain.statuses import WEBHOOK_STATUSES, MessageStatus, notification_id_from_callback
from notification_service.domain.webhook_payload import (
    PHONE_NUMBER_ID_LENGTH,
    Change,
    ParsedBody,
    as_list,
    changes,
    clean_text,
    fit_status_item,
    inbound_sender,
    metric_field,
    parse_body,
    scalar_text,
)
from notification_service.repositories import messages as messages_repo
from notification_service.repositories import whatsapp_state as state_repo
from notification_service.services import webhook_fields
from notification_service.services import whatsapp_state as state_service
from notification_service.services.delivery_failures import AsyncFailures
from notification_service.services.supplier_replies import InboundItem, InboundResult, SupplierReplies
from notification_service.wakeup import WEBHOOK_CHANNEL

log = logging.getLogger("notification.whatsapp.webhooks")

#: Parsed payloads kept for this process's applier at most (a cache: the stored text is the truth). One status
#: webhook parsed is ~4 KB: 2,000 (ten apply batches of 200) is ~8 MB; it was 20,000 (~85 MB once full).
_PARSED_KEPT = 2_000

#: ``webhook_events.last_error`` of a processed event whose whole body was unusable.
INVALID_BODY = "invalid body: "
#: ``webhook_events.last_error`` of a processed event of which some parts were skipped.
INVALID_ITEMS = "invalid items: "


def parse_timestamp(value: Any, default: datetime) -> datetime:
    """Meta sends Unix seconds as a string."""
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def status_record(
    event_id: int, phone_number_id: str | None, item: dict[str, Any], now: datetime
) -> tuple[str | None, str, datetime, dict[str, Any]]:
    """One ``statuses[]`` item's wamid, status (lower case), time, and its ``webhook_statuses`` row so far."""
    wamid = str(item.get("id") or "") or None
    raw_status = str(item.get("status") or "").lower()
    at = parse_timestamp(item.get("timestamp"), now)
    record: dict[str, Any] = {
        "event_id": event_id,
        "wamid": wamid,
        "status": raw_status[:16] or "unknown",
        "status_at": at,
        "phone_number_id": phone_number_id,
        "created_at": now,
    }
    return wamid, raw_status, at, record


@dataclass
class ProcessResult:
    statuses: dict[str, int] = field(default_factory=dict)  # outcome → count
    numbers_to_refresh: set[str] = field(default_factory=set)
    refresh_all_numbers: bool = False
    invalid_body: str | None = None  # the whole body was unusable
    invalid: list[str] = field(default_factory=list)  # the parts that were skipped, and why
    refused: list[str] = field(default_factory=list)  # changes of an account that is not ours (issue 18)
    inbound: InboundResult = field(default_factory=InboundResult)  # what suppliers wrote (issue 16)

    def count(self, outcome: str) -> None:
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1

    def note(self) -> str | None:
        """What ``webhook_events.last_error`` keeps of a processed event: NULL when everything was usable."""
        if self.invalid_body is not None:
            return INVALID_BODY + self.invalid_body
        skipped = self.invalid + self.refused
        if skipped:
            more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
            return INVALID_ITEMS + "; ".join(skipped[:20]) + more
        return None


@dataclass
class BatchResult:
    """What one :meth:`WebhookProcessor.apply_batch` did."""

    events: int = 0  # events claimed (and processed, or marked failed)
    statuses: int = 0  # statuses[] items applied as a change of a message
    changed: bool = False  # something may lift a hold or requeue a message: wake the dispatcher
    numbers_to_refresh: set[str] = field(default_factory=set)
    refresh_all_numbers: bool = False

    def add(self, result: ProcessResult) -> None:
        self.statuses += result.statuses.get("applied", 0) + result.statuses.get("updated", 0)
        self.numbers_to_refresh |= result.numbers_to_refresh
        self.refresh_all_numbers = self.refresh_all_numbers or result.refresh_all_numbers


class _BatchFailed(Exception):
    def __init__(self, event_ids: list[int]) -> None:
        super().__init__(f"a batch of {len(event_ids)} webhook events failed")
        self.event_ids = event_ids


@dataclass
class _Counts:
    """A batch's metrics, counted once per batch after its commit."""

    transitions: Counter[tuple[str, str]]  # (status, status_reason or "webhook") → messages
    costs: dict[str, float]  # tenant id → EUR
    mismatches: int
    account_mismatches: int = 0

    def publish(self) -> None:
        for (status, reason), n in self.transitions.items():
            metrics.MESSAGE_STATUS.labels(status=status).inc(n)
            metrics.count_transition(status, reason, n)
        for tenant_id, eur in self.costs.items():
            metrics.COST_EUR.labels(tenant_id=tenant_id).inc(eur)
        if self.mismatches:
            metrics.WEBHOOKS_REJECTED.labels(reason="status_phone_number_mismatch").inc(self.mismatches)
        if self.account_mismatches:
            metrics.WEBHOOKS_REJECTED.labels(reason="status_account_mismatch").inc(self.account_mismatches)


def _newly_failed(update: Any, report: StatusReport) -> bool:
    """A ``failed`` status that makes (or keeps) its message failed with Meta's error: its effects apply once."""
    return (
        report.status is MessageStatus.FAILED
        and update.status is MessageStatus.FAILED
        and isinstance(update.error, ErrorInfo)
    )


def _column_values(message: Message, columns: list[str]) -> dict[str, Any]:
    """``columns`` of ``message`` as ``whatsapp_messages`` stores them (every column is a field of the message)."""
    values = {column: getattr(message, column) for column in columns}
    if "status" in values:
        values["status"] = message.status.value
    return values


def _count_invalid(result: ProcessResult) -> None:
    if result.invalid_body is not None:
        metrics.WEBHOOKS_INVALID.labels(part="body").inc()
    invalid_statuses = result.statuses.get("invalid", 0)
    if invalid_statuses:
        metrics.WEBHOOKS_INVALID.labels(part="status").inc(invalid_statuses)
    if len(result.invalid) > invalid_statuses:
        metrics.WEBHOOKS_INVALID.labels(part="change").inc(len(result.invalid) - invalid_statuses)


def _log_inbound(value: dict[str, Any], phone_number_id: str | None) -> None:
    """Inbound messages (handled by ``services/supplier_replies.py``). A sender may come with a user ID and no phone
    number (a user with a username): such a message is kept like any other, never rejected for it."""
    inbound = as_list(value.get("messages"))
    if inbound:
        without_phone = sum(1 for message in inbound if inbound_sender(message)[0] is None)
        log.info(
            "%d inbound message(s) for number %s (%d without a phone number)",
            len(inbound),
            phone_number_id,
            without_phone,
        )


def _inbound_items(event_id: int, phone_number_id: str | None, value: dict[str, Any]) -> list[InboundItem]:
    return [InboundItem(event_id, phone_number_id, item) for item in as_list(value.get("messages"))]


@dataclass
class _StatusItem:
    event_id: int
    phone_number_id: str | None
    item: dict[str, Any]  # fitted
    waba_id: str = ""  # the entry's account (issue 18)


def _account_mismatch(message: Message, waba_id: str, raw_status: str) -> bool:
    """A status from another account than the one the message went out from (when both are known): logged."""
    if not (message.waba_id and waba_id and message.waba_id != waba_id):
        return False
    with bind(tenant_id=message.tenant_id, notification_id=message.id):
        log.warning(
            "status %s for message %s rejected: the webhook's account %s is not the message's %s",
            raw_status,
            message.id,
            waba_id,
            message.waba_id,
        )
    return True


_TEMPLATE_FIELDS = frozenset(
    {"message_template_status_update", "template_category_update", "message_template_quality_update"}
)
#: what each non-status field changes (``services/webhook_fields.py``)
_FIELD_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    "phone_number_quality_update": webhook_fields.quality,
    "message_template_status_update": webhook_fields.template,
    "template_category_update": webhook_fields.template_category,
    "message_template_quality_update": webhook_fields.template_quality,
}


class ParsedPayloads:
    """The payloads the request path parsed, by stored event id, until this process's applier takes them (so that
    a body is not parsed twice). A cache: an event whose payload is not here is parsed from its stored text.

    At most ``limit`` payloads: when full, a new one is not kept (the applier claims the oldest events first, so
    the payloads kept are the next ones used). A payload can be left behind for good: its event applied by another
    process, or claimed by this process's applier in the moment between the commit of its row and the request's
    :meth:`keep` (in the soak at 100 events/s: 961 payloads kept after 80 s with fewer than 100 events unapplied).
    :meth:`forget_before` drops those: every payload of an event older than the oldest one a batch claimed (that
    one is the oldest not yet applied, or locked by another process). Before, they stayed until the cache was full
    (20,000 payloads, ~85 MB): the API's memory grew with the events received."""

    def __init__(self, limit: int = _PARSED_KEPT) -> None:
        self.limit = limit
        self._by_id: dict[int, Any] = {}  # in the order kept: ascending ids, as the rows were stored

    def __len__(self) -> int:
        return len(self._by_id)

    def keep(self, event_id: int, payload: Any) -> None:
        if len(self._by_id) < self.limit:
            self._by_id[event_id] = payload

    def take(self, event_id: int) -> Any:
        """The payload of ``event_id`` (None if not kept), forgotten."""
        return self._by_id.pop(event_id, None)

    def forget_before(self, event_id: int) -> None:
        """Drop the payloads of events older than ``event_id`` (kept in id order: stops at the first newer one)."""
        by_id = self._by_id
        while by_id:
            oldest = next(iter(by_id))
            if oldest >= event_id:
                return
            del by_id[oldest]


class WebhookProcessor:
    """Stores and processes webhook events. One per app; the SQLite path is serialised by an asyncio lock."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rate_card: RateCard,
        *,
        serialise: bool,
        clock: Callable[[], datetime] = utcnow,
        failures: AsyncFailures | None = None,
        replies: SupplierReplies | None = None,
        accounts: Accounts | None = None,
        applies_here: bool = True,
        notify_other_processes: bool = False,
    ) -> None:
        self.sessions = sessions
        #: this process's applier applies what it stores: the request's parsed payload is kept for it (False:
        #: ``WEBHOOK_APPLIER_ENABLED=false``, other processes apply and parse the stored text)
        self.applies_here = applies_here
        #: PostgreSQL: wake the other processes' appliers with a ``NOTIFY`` in the store's transaction when it
        #: stored usable bodies (their periodic sweep is the safety net)
        self.notify_other_processes = notify_other_processes
        #: the accounts whose webhooks are ours (issue 18); None: every entry is applied (tools and tests)
        self.accounts = accounts
        #: changes refused since start because their account is not ours (the health view shows it)
        self.unknown_account_changes = 0
        #: what suppliers write back (inbound ``messages[]``): issue 16; None: stored raw, not handled
        self.replies = replies
        self.rate_card = rate_card
        #: what a ``failed`` status does beyond its message (unreachable supplier, pacing, holds): issue 15
        self.failures = failures
        self.clock = clock
        self._lock = asyncio.Lock() if serialise else None
        self._store = GroupCommit(self._store_batch, name="webhook store")
        self._parsed = ParsedPayloads()

    # ------------------------------------------------------------------ storing

    async def store(self, raw: bytes, fields: list[str]) -> state_repo.StoredEvent:
        """Store a body, to be applied later (the stored row: its id and state)."""
        stored, _ = await self.store_received(raw, fields)
        return stored

    async def store_received(
        self, raw: bytes, fields: list[str], *, invalid: str | None = None, payload: Any = None
    ) -> tuple[state_repo.StoredEvent, bool]:
        """Store a signature-valid body (the request path): concurrent callers share one transaction. Returns the
        stored row and whether it is a duplicate (the same bytes were stored before: Meta's retry). ``invalid``: the
        body is unusable; it is stored already processed, with ``last_error`` = ``invalid body: <why>``.
        ``payload``: the body as the request parsed it (a usable one), handed to this process's applier so that it
        is not parsed twice (another process's applier parses the stored text)."""
        event = state_repo.NewEvent(
            sha256=hashlib.sha256(raw).hexdigest(),
            body=raw.decode("utf-8", errors="replace"),
            size=len(raw),
            fields=",".join(sorted(set(fields))),
            invalid=INVALID_BODY + invalid if invalid is not None else None,
        )
        stored, duplicate = await self._store.submit(event)
        if payload is not None and self.applies_here and not duplicate and not stored.processed:
            self._parsed.keep(stored.id, payload)
        return stored, duplicate

    async def _store_batch(
        self, events: Sequence[state_repo.NewEvent]
    ) -> Sequence[tuple[state_repo.StoredEvent, bool] | BaseException]:
        engine = self.sessions.kw.get("bind")
        if isinstance(engine, AsyncEngine) and engine.dialect.name == "postgresql":  # on the driver's connection
            channel = WEBHOOK_CHANNEL if self.notify_other_processes else None
            return await state_repo.store_events_pg(engine, list(events), self.clock(), notify_channel=channel)
        async with transaction(self.sessions) as session:
            return await state_repo.store_events(session, list(events), self.clock())

    async def aclose(self) -> None:
        await self._store.aclose()

    # ------------------------------------------------------------------ applying, in batches

    async def apply_batch(self, limit: int = 200, *, retries: bool = False) -> BatchResult:
        """Claim up to ``limit`` unprocessed events and apply them in one transaction (``retries``: also events
        that failed before). If the batch fails as a whole, each of its events is processed on its own
        (:meth:`process`: item by item, a poison item recorded invalid, a failing event marked failed)."""
        try:
            if self._lock is not None:
                async with self._lock:
                    return await self._apply_batch(limit, retries)
            return await self._apply_batch(limit, retries)
        except _BatchFailed as failed:
            log.warning(
                "whatsapp webhook batch of %d events failed (%s: %s); processing them one by one",
                len(failed.event_ids),
                type(failed.__cause__).__name__,
                failed.__cause__,
            )
            batch = BatchResult(events=len(failed.event_ids), changed=True)
            for event_id in failed.event_ids:
                result = await self.process(event_id)
                if result is not None:
                    batch.add(result)
            return batch

    async def _apply_batch(self, limit: int, retries: bool) -> BatchResult:
        now = self.clock()
        claimed: list[int] = []
        try:
            async with transaction(self.sessions) as session:
                events = await state_repo.claim_events(session, limit, retries=retries)
                claimed = [event_id for event_id, _ in events]
                if not events:
                    return BatchResult()
                self._parsed.forget_before(min(claimed))  # the oldest unapplied: an older payload is never taken
                results, items, inbound, changed = await self._read_events(session, events, now)
                counts = await self._apply_statuses(session, items, results, now)
                replies = InboundResult()
                if inbound and self.replies is not None:
                    await self.replies.apply(session, inbound, now, replies)
                await state_repo.mark_many_processed(
                    session, {event_id: result.note() for event_id, result in results.items()}, now
                )
                await state_service.refresh_held_numbers_gauge(session)
        except Exception as exc:
            if not claimed:
                raise
            raise _BatchFailed(claimed) from exc
        counts.publish()  # once the batch is committed (a failed batch is applied again, event by event)
        replies.publish()
        batch = BatchResult(events=len(claimed), changed=changed or replies.queued)
        for result in results.values():
            batch.add(result)
            _count_invalid(result)
        batch.changed = batch.changed or batch.statuses > 0
        return batch

    async def _read_events(
        self, session: AsyncSession, events: list[tuple[int, str]], now: datetime
    ) -> tuple[dict[int, ProcessResult], list[_StatusItem], list[InboundItem], bool]:
        """Parse every event; apply its non-status changes (quality, account, templates) at once, in event order;
        collect its ``statuses[]`` items (an item that is not an object is recorded invalid here)."""
        results: dict[int, ProcessResult] = {}
        items: list[_StatusItem] = []
        inbound: list[InboundItem] = []
        changed = False
        for event_id, body in events:
            result = results[event_id] = ProcessResult()
            payload = self._parsed.take(event_id)
            parsed = ParsedBody(payload) if payload is not None else parse_body(body.encode("utf-8"))
            if parsed.problem is not None:
                result.invalid_body = parsed.problem
                log.warning("webhook event %s stored but not usable: %s", event_id, parsed.problem)
                continue
            for change in changes(parsed.payload, result.invalid):
                waba = await self._account_of(change, result)
                if waba is None:
                    continue
                if change.field != "messages":
                    changed = await self._field(session, change, waba, result, now) or changed
                    continue
                value = change.value
                metadata = value.get("metadata")
                phone_number_id = (
                    scalar_text(metadata.get("phone_number_id"), PHONE_NUMBER_ID_LENGTH)
                    if isinstance(metadata, dict)
                    else None
                )
                statuses = value.get("statuses")
                if statuses is not None and not isinstance(statuses, list):
                    result.invalid.append(f"{change.path}.value.statuses: expected a list")
                for i, item in enumerate(as_list(statuses)):
                    if isinstance(item, dict):
                        items.append(_StatusItem(event_id, phone_number_id, fit_status_item(item), waba))
                        continue
                    path = f"{change.path}.value.statuses[{i}]"
                    log.warning("webhook event %s: %s skipped: TypeError: expected an object", event_id, path)
                    result.invalid.append(f"{path}: TypeError: expected an object")
                    items.append(_StatusItem(event_id, phone_number_id, {"invalid": True}))
                for error in as_list(value.get("errors")):
                    log.warning("system-level webhook error for number %s: %s", phone_number_id, clean_text(error, 500))
                _log_inbound(value, phone_number_id)
                inbound.extend(_inbound_items(event_id, phone_number_id, value))
        return results, items, inbound, changed

    async def _apply_statuses(
        self, session: AsyncSession, items: list[_StatusItem], results: dict[int, ProcessResult], now: datetime
    ) -> _Counts:
        """Every status item of the batch, in event order, merged in memory through the domain transition exactly
        as if applied one by one; then one query to load (and lock) the messages and one executemany per table."""
        wamids: set[str] = set()
        ids: set[Any] = set()
        for status_item in items:
            wamid = status_item.item.get("id")
            if wamid:
                wamids.add(wamid)
            notification_id = notification_id_from_callback(status_item.item.get("biz_opaque_callback_data"))
            if notification_id is not None:
                ids.add(notification_id)
        current: dict[Any, Message] = {}
        if wamids or ids:
            current = {m.id: m for m in await messages_repo.lock_for_statuses(session, wamids=wamids, ids=ids)}
        by_wamid = {m.wamid: m.id for m in current.values() if m.wamid}
        original: dict[Any, MessageStatus] = {}  # message id → status before this batch
        net: dict[Any, dict[str, Any]] = {}  # message id → the columns this batch changes
        settle: list[tuple[Any, str | None]] = []  # messages still `sending` that Meta reports: close the attempt
        records: list[dict[str, Any]] = []
        transitions_done: Counter[tuple[str, str]] = Counter()
        costs: dict[str, float] = {}
        mismatches = account_mismatches = 0
        failed: list[tuple[Message, ErrorInfo]] = []  # failed statuses whose effects go beyond their message
        for status_item in items:
            item, event_id, phone_number_id = status_item.item, status_item.event_id, status_item.phone_number_id
            result = results[status_item.event_id]
            wamid, raw_status, at, record = status_record(event_id, phone_number_id, item, now)
            record.update(message_id=None, outcome="invalid")
            records.append(record)
            if item.get("invalid"):
                result.count("invalid")
                continue
            message_id = by_wamid.get(wamid) if wamid else None
            if message_id is None:
                notification_id = notification_id_from_callback(item.get("biz_opaque_callback_data"))
                message_id = notification_id if notification_id in current else None
            if message_id is None:
                log.info("status %s for unknown message wamid=%s (stored)", raw_status, wamid)
                record["outcome"] = "unknown_message"
                result.count("unknown_message")
                continue
            message = current[message_id]
            record["message_id"] = message.id
            outcome = "duplicate"
            if not phone_number_id or message.phone_number_id != phone_number_id:
                with bind(tenant_id=message.tenant_id, notification_id=message.id):
                    log.warning(
                        "status %s for message %s rejected: webhook phone_number_id %s is not the message's number %s",
                        raw_status,
                        message.id,
                        phone_number_id,
                        message.phone_number_id,
                    )
                mismatches += 1
                outcome = "rejected_phone_number_mismatch"
            elif _account_mismatch(message, status_item.waba_id, raw_status):
                account_mismatches += 1
                outcome = "rejected_account_mismatch"
            elif (report := self._report(message, raw_status, at, wamid, item)) is None:
                outcome = "ignored_status"
            elif (update := transitions.reported(message, report, now)) is not None:
                if _newly_failed(update, report) and report.error is not None:
                    failed.append((message, report.error))
                columns = update.columns()
                original.setdefault(message.id, message.status)
                net.setdefault(message.id, {}).update(columns)
                current[message.id] = Message.from_row({**message.as_dict(), **columns})
                if columns.get("wamid"):
                    by_wamid.setdefault(columns["wamid"], message.id)
                outcome = "updated"
                if update.changes_status:
                    outcome = "applied"
                    if message.status is MessageStatus.SENDING:
                        settle.append((message.id, wamid))
                    transitions_done[(update.status.value, columns.get("status_reason") or "webhook")] += 1
                    if log.isEnabledFor(logging.INFO):  # no bound context built for a line nobody takes
                        with bind(tenant_id=message.tenant_id, notification_id=message.id):
                            log.info(
                                "whatsapp message %s: %s → %s (webhook)",
                                message.id,
                                message.status.value,
                                update.status.value,
                                extra={"status": update.status.value, "wamid": wamid},
                            )
                if update.cost_eur not in (None, KEEP):
                    tenant = str(message.tenant_id)
                    costs[tenant] = costs.get(tenant, 0.0) + float(update.cost_eur)  # type: ignore[arg-type]
            record["outcome"] = outcome
            result.count(outcome)
        if net:
            # one set of columns for the whole batch (one executemany): the union of what changed, each message's
            # values taken from its merged state in memory (its row is locked, so unchanged columns stay as read)
            changed_columns = sorted({column for columns in net.values() for column in columns})
            await messages_repo.write_status_updates(
                session,
                [
                    (message_id, original[message_id], _column_values(current[message_id], changed_columns))
                    for message_id in net
                ],
            )
        for message_id, wamid in settle:
            # e.g. the dispatcher was killed during the HTTP call: close its open attempt
            await messages_repo.settle_open_attempts(session, message_id, wamid, now)
        await state_repo.record_statuses(session, records)
        if failed and self.failures is not None:
            await self.failures.apply(session, failed, now)
        return _Counts(transitions_done, costs, mismatches, account_mismatches)

    # ------------------------------------------------------------------ one event, item by item (the fallback)

    async def process(self, event_id: int, parsed: ParsedBody | None = None) -> ProcessResult | None:
        """Process one stored event (idempotent). None when someone else processed it (or is doing so), or when
        it failed as a whole (a database error: the sweeper retries it)."""
        if self._lock is not None:
            async with self._lock:
                return await self._process(event_id, parsed)
        return await self._process(event_id, parsed)

    async def _process(self, event_id: int, parsed: ParsedBody | None) -> ProcessResult | None:
        try:
            async with transaction(self.sessions) as session:
                event = await state_repo.claim_event(session, event_id)
                if event is None:
                    return None
                if parsed is None:
                    parsed = parse_body(event["body"].encode("utf-8"))
                result = ProcessResult()
                if parsed.problem is not None:
                    result.invalid_body = parsed.problem
                    log.warning("webhook event %s stored but not usable: %s", event_id, parsed.problem)
                else:
                    try:  # the common case: every item applies; one SAVEPOINT for the whole event
                        async with session.begin_nested():
                            await self._apply(session, event_id, parsed.payload, result, isolate=False)
                    except Exception:  # noqa: BLE001 - again item by item, each in its own SAVEPOINT
                        log.info("webhook event %s: applying item by item", event_id)
                        result = ProcessResult()
                        await self._apply(session, event_id, parsed.payload, result, isolate=True)
                await state_repo.mark_processed(session, event_id, self.clock(), result.note())
                await state_service.refresh_held_numbers_gauge(session)
        except Exception as exc:  # noqa: BLE001 - stored; the sweeper retries it
            log.exception("webhook event %s could not be processed; will retry", event_id)
            async with transaction(self.sessions) as session:
                await state_repo.mark_failed(session, event_id, f"{type(exc).__name__}: {exc}")
            return None
        _count_invalid(result)
        result.inbound.publish()
        return result

    async def sweep(self, limit: int = 200) -> int:
        """Apply every stored event not processed yet, including those that failed before (a crash, a database
        error, another replica that stopped): the applier's periodic round. Returns the events processed."""
        done = 0
        while True:
            batch = await self.apply_batch(limit, retries=True)
            done += batch.events
            if batch.events < limit:
                return done

    # ------------------------------------------------------------------ dispatch by field, one item at a time

    async def _apply(
        self, session: AsyncSession, event_id: int, payload: dict[str, Any], result: ProcessResult, *, isolate: bool
    ) -> None:
        """Apply every change. ``isolate``: each change and status item in its own SAVEPOINT, a failing one recorded
        as invalid while the others apply; without it the first failure raises (the caller then isolates)."""
        for change in changes(payload, result.invalid):
            waba = await self._account_of(change, result)
            if waba is None:
                continue
            if change.field == "messages":
                await self._messages(session, event_id, change, waba, result, isolate=isolate)
                continue
            if not isolate:
                await self._field(session, change, waba, result, self.clock())
                continue
            try:
                async with session.begin_nested():
                    await self._field(session, change, waba, result, self.clock())
            except Exception as exc:  # noqa: BLE001 - this change only; the others still apply
                log.exception("webhook event %s: %s (%s) skipped", event_id, change.path, change.field)
                result.invalid.append(f"{change.path} ({change.field}): {type(exc).__name__}: {exc}")

    async def _account_of(self, change: Change, result: ProcessResult) -> str | None:
        """The account (WABA id) a change is applied for, or None when it is refused: its entry names an account
        the platform does not know. Counted and logged with the WABA id and the field only (never the payload's
        phone numbers); the body's other entries still apply and Meta gets its 200 all the same."""
        if self.accounts is None:
            return change.waba_id or ""
        environment = self.accounts.environment_waba
        waba = change.waba_id or environment  # an entry without an id: the environment's account
        if waba == environment or await self.accounts.is_known(waba):
            return waba
        self.unknown_account_changes += 1
        metrics.WEBHOOKS_UNKNOWN_ACCOUNT.labels(field=metric_field(change.field)).inc()
        log.warning("webhook %s (%s) refused: WABA %s is no account of the platform", change.path, change.field, waba)
        result.refused.append(f"{change.path} ({change.field}): unknown WhatsApp account {waba}; not applied")
        return None

    async def _field(
        self, session: AsyncSession, change: Change, waba: str, result: ProcessResult, now: datetime
    ) -> bool:
        """Apply a non-status change (quality, account, templates); False when the field is not processed."""
        if change.field == "phone_number_quality_update" and self.accounts is not None:
            # the messaging limit a number reports is its portfolio's: stored on that account's numbers only
            legacy = waba == self.accounts.environment_waba
            await webhook_fields.quality(session, change.value, result, now, waba_id=waba, legacy=legacy)
            return True
        if change.field == "account_update":
            key = self.accounts.key_for(waba) if self.accounts is not None else MASTER_ACCOUNT_KEY
            await webhook_fields.account(session, change.value, result, now, account_key=key, waba_id=waba or None)
            return True
        handler = _FIELD_HANDLERS.get(change.field)
        if handler is None:
            log.info("webhook field %s stored, not processed", change.field)
            return False
        if change.field in _TEMPLATE_FIELDS:
            # Meta keeps templates per WABA (issue 18): the event changes the entry's account's state and holds only
            key = self.accounts.key_for(waba) if self.accounts is not None else MASTER_ACCOUNT_KEY
            await handler(session, change.value, result, now, account_key=key)
            return True
        await handler(session, change.value, result, now)
        return True

    async def _messages(
        self,
        session: AsyncSession,
        event_id: int,
        change: Change,
        waba: str,
        result: ProcessResult,
        *,
        isolate: bool,
    ) -> None:
        value = change.value
        metadata = value.get("metadata")
        phone_number_id = (
            scalar_text(metadata.get("phone_number_id"), PHONE_NUMBER_ID_LENGTH) if isinstance(metadata, dict) else None
        )
        statuses = value.get("statuses")
        if statuses is not None and not isinstance(statuses, list):
            result.invalid.append(f"{change.path}.value.statuses: expected a list")
        for i, item in enumerate(as_list(statuses)):
            path = f"{change.path}.value.statuses[{i}]"
            fitted = fit_status_item(item) if isinstance(item, dict) else {}
            if not isolate:
                if not isinstance(item, dict):
                    raise TypeError(f"{path}: expected an object")
                result.count(await self._status(session, event_id, phone_number_id, fitted, waba))
                continue
            try:
                if not isinstance(item, dict):
                    raise TypeError("expected an object")
                async with session.begin_nested():
                    outcome = await self._status(session, event_id, phone_number_id, fitted, waba)
            except Exception as exc:  # noqa: BLE001 - this status only; the others still apply
                log.warning("webhook event %s: %s skipped: %s: %s", event_id, path, type(exc).__name__, exc)
                result.invalid.append(f"{path}: {type(exc).__name__}: {exc}")
                outcome = await self._invalid_status(session, event_id, phone_number_id, fitted)
            result.count(outcome)
        for error in as_list(value.get("errors")):
            log.warning("system-level webhook error for number %s: %s", phone_number_id, clean_text(error, 500))
        _log_inbound(value, phone_number_id)
        if self.replies is None:
            return
        for i, inbound in enumerate(_inbound_items(event_id, phone_number_id, value)):
            if not isolate:
                await self.replies.handle(session, inbound, self.clock(), result.inbound)
                continue
            try:
                async with session.begin_nested():
                    await self.replies.handle(session, inbound, self.clock(), result.inbound)
            except Exception as exc:  # noqa: BLE001 - this inbound message only; the others still apply
                path = f"{change.path}.value.messages[{i}]"
                log.warning("webhook event %s: %s skipped: %s: %s", event_id, path, type(exc).__name__, exc)
                result.invalid.append(f"{path}: {type(exc).__name__}: {exc}")

    async def _invalid_status(
        self, session: AsyncSession, event_id: int, phone_number_id: str | None, item: dict[str, Any]
    ) -> str:
        """Record a status item that could not be applied (in its own SAVEPOINT, best effort)."""
        now = self.clock()
        try:
            async with session.begin_nested():
                await state_repo.record_status(
                    session,
                    {
                        "event_id": event_id,
                        "wamid": item.get("id"),
                        "status": str(item.get("status") or "unknown").lower()[:16],
                        "status_at": parse_timestamp(item.get("timestamp"), now),
                        "phone_number_id": phone_number_id,
                        "created_at": now,
                        "outcome": "invalid",
                    },
                )
        except Exception:  # noqa: BLE001 - the note on the event still says what was skipped
            log.exception("webhook event %s: an invalid status could not be recorded", event_id)
        return "invalid"

    async def _status(
        self, session: AsyncSession, event_id: int, phone_number_id: str | None, item: dict[str, Any], waba: str = ""
    ) -> str:
        now = self.clock()
        wamid, raw_status, at, record = status_record(event_id, phone_number_id, item, now)
        notification_id = notification_id_from_callback(item.get("biz_opaque_callback_data"))
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
            if _account_mismatch(message, waba, raw_status):
                metrics.WEBHOOKS_REJECTED.labels(reason="status_account_mismatch").inc()
                await state_repo.record_status(session, {**record, "outcome": "rejected_account_mismatch"})
                return "rejected_account_mismatch"
            report = self._report(message, raw_status, at, wamid, item)
            if report is None:
                await state_repo.record_status(session, {**record, "outcome": "ignored_status"})
                return "ignored_status"
            update = transitions.reported(message, report, now)
            applied = update is not None and await messages_repo.apply(session, update) == 1
            if applied and update is not None and self.failures is not None and _newly_failed(update, report):
                await self.failures.apply(session, [(message, report.error)], now)  # type: ignore[list-item]
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
            if update is not None and applied and update.cost_eur not in (None, KEEP):
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
        user_id = item.get("recipient_user_id")  # fitted; None when the status has none
        pricing = item.get("pricing")
        if not isinstance(pricing, dict):
            return StatusReport(status=status, at=at, wamid=wamid, error=error, recipient_user_id=user_id)
        category = normalize_category(pricing.get("category"))
        pricing_type = str(pricing.get("type") or "")[:48] or None
        raw_billable = pricing.get("billable")
        # ``type`` decides, ``billable`` (deprecated by Meta) only when the type says nothing (domain/pricing.py)
        charged = is_charged(pricing_type, raw_billable if isinstance(raw_billable, bool) else None)
        return StatusReport(
            status=status,
            at=at,
            wamid=wamid,
            error=error,
            recipient_user_id=user_id,
            pricing_category=category,
            pricing_type=pricing_type,
            billable=charged,
            # priced once: a message that has its pricing keeps it (``transitions.reported``), so no need to price it;
            # the rate is the one in force when the message was sent
            cost_eur=self.rate_card.cost(
                message.recipient_phone,
                category,
                pricing_type=pricing_type,
                billable=charged,
                sent_at=message.sent_at or at,
            )
            if message.pricing_category is None
            else None,
        )
