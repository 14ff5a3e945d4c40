"""Every state change of a message, as a pure function returning a :class:`MessageUpdate`.

Each takes the message (and facts such as "Meta accepted it as <wamid>") and checks the move against the one
status table (:data:`notification_service.domain.statuses.TRANSITIONS`, drawn in docs/architecture.md): asking for
a move the table does not have raises :class:`InvalidTransition` (a bug, never user input).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from notification_service.domain.message import (
    KEEP,
    ErrorInfo,
    Guard,
    InvalidTransition,
    Keep,
    Message,
    MessageUpdate,
    StatusReport,
)
from notification_service.domain.statuses import PENDING, MessageStatus, join_status, may_move


def _check(message: Message, *targets: MessageStatus) -> None:
    for target in targets:
        if not may_move(message.status, target):
            raise InvalidTransition(f"message {message.id}: {message.status} → {target} is not a transition")


# ------------------------------------------------------------------ the dispatcher's transitions (row leased)


def attempt_started(
    message: Message,
    owner: str,
    now: datetime,
    *,
    phone_number_id: str,
    language: str,
    parameters: list[str],
    possible_duplicate: bool,
    waba_id: str = "",
) -> MessageUpdate:
    """An HTTP attempt is about to start (written and committed before the call); the message records the account
    it goes out from (``waba_id``, issue 18; empty: unknown, kept as it was)."""
    _check(message, MessageStatus.SENDING)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.SENDING,
        previous=message.status,
        at=now,
        attempts=message.attempts + 1,
        phone_number_id=phone_number_id,
        waba_id=waba_id or KEEP,
        language=language,
        template_parameters=parameters,
        awaiting_webhook_until=None,
        possible_duplicates=message.possible_duplicates + (1 if possible_duplicate else 0),
    )


def accepted(message: Message, owner: str, now: datetime, *, wamid: str, pacing: str | None) -> MessageUpdate:
    """Meta accepted the message (``pacing``: Meta's ``message_status`` when it is not plain ``accepted``)."""
    _check(message, MessageStatus.SENT)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.SENT,
        previous=message.status,
        at=now,
        reason=f"meta_pacing: {pacing}" if pacing else None,
        wamid=wamid,
        sent_at=now,
        awaiting_webhook_until=None,
        error=None,
    )


def already_accepted(message: Message, owner: str, now: datetime) -> MessageUpdate:
    """A claimed message whose wamid is recorded: Meta has it, it is never sent again."""
    _check(message, MessageStatus.SENT)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.SENT,
        previous=message.status,
        at=now,
        reason="already_accepted: Meta accepted this message earlier; it is not sent again",
        sent_at=message.sent_at or now,
        awaiting_webhook_until=None,
    )


def requeued(
    message: Message,
    owner: str,
    now: datetime,
    *,
    due: datetime,
    reason: str,
    error: ErrorInfo | None | Keep = KEEP,
    transient_failures: int | Keep = KEEP,
    throttle_count: int | Keep = KEEP,
    awaiting_webhook_until: datetime | None | Keep = KEEP,
) -> MessageUpdate:
    """Back to the queue, due at ``due`` (retry backoff, pacing, tenant service down, ambiguous grace)."""
    _check(message, MessageStatus.QUEUED)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.QUEUED,
        previous=message.status,
        at=now,
        due_at=due,
        reason=reason,
        error=error,
        transient_failures=transient_failures,
        throttle_count=throttle_count,
        awaiting_webhook_until=awaiting_webhook_until,
    )


def returned(message: Message, owner: str, now: datetime) -> MessageUpdate:
    """Claimed but not sent (graceful shutdown): back to the queue as it was, due now, the attempt not counted."""
    _check(message, MessageStatus.QUEUED)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.QUEUED,
        previous=message.status,
        at=now,
        due_at=now,
        attempts=message.attempts,
    )


def failed(
    message: Message,
    owner: str,
    now: datetime,
    *,
    reason: str,
    error: ErrorInfo,
    transient_failures: int | Keep = KEEP,
    phone_number_id: str | Keep = KEEP,
    language: str | Keep = KEEP,
) -> MessageUpdate:
    """Given up: a permanent error, retries exhausted, a template that can never be sent, an unknown tenant."""
    _check(message, MessageStatus.FAILED)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.FAILED,
        previous=message.status,
        at=now,
        reason=reason,
        error=error,
        failed_at=now,
        awaiting_webhook_until=None,
        transient_failures=transient_failures,
        phone_number_id=phone_number_id,
        language=language,
    )


def skipped(message: Message, owner: str, now: datetime, *, reason: str) -> MessageUpdate:
    """Not to be sent at all (WhatsApp off for the bakery, no number, …); final."""
    _check(message, MessageStatus.SKIPPED)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.SKIPPED,
        previous=message.status,
        at=now,
        reason=reason,
        awaiting_webhook_until=None,
    )


def held(
    message: Message,
    owner: str,
    now: datetime,
    *,
    reason: str,
    hold_key: str,
    phone_number_id: str | None,
    error: ErrorInfo | None | Keep = KEEP,
) -> MessageUpdate:
    """Parked until its hold (``hold_key``: account, number or template) is lifted."""
    _check(message, MessageStatus.HELD)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.HELD,
        previous=message.status,
        at=now,
        reason=reason,
        hold_key=hold_key,
        phone_number_id=phone_number_id if phone_number_id is not None else KEEP,
        error=error,
    )


# ------------------------------------------------------------------ transitions of held and failed messages


def released(hold_key: str, now: datetime) -> MessageUpdate:
    """A hold was lifted: every message held under it is due now (a bulk update)."""
    return MessageUpdate(
        message_id=None,
        guard=Guard.held_under(hold_key),
        status=MessageStatus.QUEUED,
        at=now,
        due_at=now,
        reason=None,
    )


def probe_released(message_id: uuid.UUID, hold_key: str, now: datetime) -> MessageUpdate:
    """One held message goes out as the probe of its hold (is the number allowed to send again?)."""
    return MessageUpdate(
        message_id=message_id,
        guard=Guard.held_under(hold_key),
        status=MessageStatus.QUEUED,
        previous=MessageStatus.HELD,
        at=now,
        due_at=now,
        reason="hold_probe: sent once to check whether sending works again",
    )


def redriven(message: Message, now: datetime, actor: str) -> MessageUpdate:
    """An admin re-drives a failed message: a fresh retry budget, really re-sent."""
    if message.status is not MessageStatus.FAILED:
        raise InvalidTransition(f"message {message.id}: only failed messages can be re-driven")
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.in_status(MessageStatus.FAILED),
        status=MessageStatus.QUEUED,
        previous=message.status,
        at=now,
        reason=f"retry requested by {actor}",
        due_at=now,
        transient_failures=0,
        throttle_count=0,
        awaiting_webhook_until=None,
        sent_at=None,
        delivered_at=None,
        read_at=None,
        failed_at=None,
        wamid=None,
    )


# ------------------------------------------------------------------ status webhooks


def reported(message: Message, report: StatusReport, now: datetime) -> MessageUpdate | None:
    """The message after a status webhook (a join: any order and any duplication give the same result).

    None when nothing changes. The update is guarded by the status it was computed from (compare-and-set).
    """
    new_status = join_status(message.status, report.status)
    changes: dict[str, Any] = {}

    def earliest(column: str) -> None:
        existing = getattr(message, column)
        if existing is None or report.at < existing:
            changes[column] = report.at

    if report.status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ):
        earliest("sent_at")
    if report.status in (MessageStatus.DELIVERED, MessageStatus.READ):
        earliest("delivered_at")
    if report.status is MessageStatus.READ:
        earliest("read_at")
    error: ErrorInfo | None | Keep = KEEP
    if report.status is MessageStatus.FAILED and (message.failed_at is None or report.at < message.failed_at):
        changes["failed_at"] = report.at
        error = report.error or ErrorInfo("unknown", "delivery failed")
    if report.wamid and message.wamid is None:
        changes["wamid"] = report.wamid
    if report.recipient_user_id and message.recipient_user_id is None:
        changes["recipient_user_id"] = report.recipient_user_id  # the first one Meta gives is kept
    reason: str | None | Keep = KEEP
    clears_error = message.status in PENDING and message.failed_at is None and report.status is not MessageStatus.FAILED
    if new_status is not message.status and clears_error:
        error = None  # errors of earlier attempts (e.g. the ambiguous timeout) no longer describe it
    if new_status is MessageStatus.FAILED:
        shown = (
            error
            if isinstance(error, ErrorInfo)
            else ErrorInfo(message.error_code or "unknown", message.error_message or "")
        )
        if new_status is not message.status or isinstance(error, ErrorInfo):
            reason = f"delivery_failed: ({shown.code}) {shown.message}"
    elif new_status is not message.status and new_status in (
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
    ):
        reason = None
    if report.pricing_category is not None and message.pricing_category is None:
        changes.update(
            pricing_category=report.pricing_category,
            pricing_type=report.pricing_type,
            billable=report.billable,
            cost_eur=report.cost_eur,
        )
    if new_status is message.status and not changes and error is KEEP and reason is KEEP:
        return None
    if new_status is not message.status:
        changes["awaiting_webhook_until"] = None
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.in_status(message.status),
        status=new_status,
        previous=message.status,
        at=now,
        reason=reason,
        error=error,
        **changes,
    )
