"""A WhatsApp message as a typed value, and every change of its lifecycle as a pure function.

Every state change of a message is one function here. Each takes the message (and facts such as "Meta
accepted it as <wamid>") and returns a :class:`MessageUpdate`: the new status, the columns that change, and the
*guard* — the state the row must still be in for the update to apply (the dispatcher's lease, or the status the
update was computed from). The repository applies an update in one statement and says whether it applied; nothing
else writes a message's lifecycle columns. The statuses and the moves between them are listed in
:data:`notification_service.domain.statuses.TRANSITIONS` (and drawn in docs/architecture.md).

Leaving ``sending`` always clears the lease; leaving ``held`` always clears the hold key: that is done once, in
:meth:`MessageUpdate.columns`, never by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final, TypeAlias, TypeVar, Union

from notification_service.domain.statuses import (
    PENDING,
    MessageStatus,
    join_status,
    may_move,
)


class InvalidTransition(Exception):
    """A transition was asked for a message in a status it cannot leave that way (a bug, never user input)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One row of ``whatsapp_messages``, typed."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    event_id: uuid.UUID | None
    kind: str
    recipient_phone: str
    template_name: str
    requested_language: str | None
    language: str | None
    template_values: Mapping[str, Any]
    template_parameters: list[str] | None
    phone_number_id: str | None
    status: MessageStatus
    status_reason: str | None
    hold_key: str | None
    wamid: str | None
    attempts: int
    transient_failures: int
    throttle_count: int
    possible_duplicates: int
    error_code: str | None
    error_message: str | None
    error_details: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    awaiting_webhook_until: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    pricing_category: str | None
    pricing_type: str | None
    billable: bool | None
    cost_eur: Decimal | None

    @classmethod
    def from_row(cls, row: Any) -> Message:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["status"] = MessageStatus(values["status"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The columns as a plain dict (API responses)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Keep(Enum):
    KEEP = "keep"


#: "this column does not change" (distinct from None, which writes NULL).
KEEP: Final = _Keep.KEEP
_T = TypeVar("_T")
Change: TypeAlias = Union[_T, _Keep]  # noqa: UP007 - a generic alias needs Union


@dataclass(frozen=True, slots=True)
class Guard:
    """The row state an update requires: leased by ``owner`` (status ``sending``), or in ``status``."""

    owner: str | None = None
    status: MessageStatus | None = None
    hold_key: str | None = None

    @staticmethod
    def leased_by(owner: str) -> Guard:
        return Guard(owner=owner, status=MessageStatus.SENDING)

    @staticmethod
    def in_status(status: MessageStatus) -> Guard:
        return Guard(status=status)

    @staticmethod
    def held_under(key: str) -> Guard:
        return Guard(status=MessageStatus.HELD, hold_key=key)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What went wrong, as shown to people (already free of secrets: the Graph client redacts)."""

    code: str
    message: str
    details: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageUpdate:
    """A change to one message (``message_id``) or to every message the guard matches (``message_id`` None)."""

    message_id: uuid.UUID | None
    guard: Guard
    status: MessageStatus
    at: datetime
    reason: Change[str | None] = KEEP
    error: Change[ErrorInfo | None] = KEEP
    due_at: Change[datetime] = KEEP
    hold_key: Change[str | None] = KEEP
    wamid: Change[str | None] = KEEP
    phone_number_id: Change[str] = KEEP
    language: Change[str] = KEEP
    template_parameters: Change[list[str]] = KEEP
    attempts: Change[int] = KEEP
    transient_failures: Change[int] = KEEP
    throttle_count: Change[int] = KEEP
    possible_duplicates: Change[int] = KEEP
    awaiting_webhook_until: Change[datetime | None] = KEEP
    sent_at: Change[datetime | None] = KEEP
    delivered_at: Change[datetime | None] = KEEP
    read_at: Change[datetime | None] = KEEP
    failed_at: Change[datetime | None] = KEEP
    pricing_category: Change[str | None] = KEEP
    pricing_type: Change[str | None] = KEEP
    billable: Change[bool | None] = KEEP
    cost_eur: Change[Decimal | None] = KEEP
    #: the status the message had when the update was computed (for metrics and logs); None for bulk updates
    previous: MessageStatus | None = None

    @property
    def changes_status(self) -> bool:
        return self.previous is None or self.previous is not self.status

    def columns(self) -> dict[str, Any]:
        """Column → value, with the lease and hold cleared whenever the status leaves ``sending`` / ``held``."""
        values: dict[str, Any] = {"status": self.status.value, "updated_at": self.at}
        for name in (
            "due_at",
            "hold_key",
            "wamid",
            "phone_number_id",
            "language",
            "template_parameters",
            "attempts",
            "transient_failures",
            "throttle_count",
            "possible_duplicates",
            "awaiting_webhook_until",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "pricing_category",
            "pricing_type",
            "billable",
            "cost_eur",
        ):
            value = getattr(self, name)
            if value is not KEEP:
                values[name] = value
        if self.reason is not KEEP:
            values["status_reason"] = _fit(self.reason, 500)
        if self.error is not KEEP:
            error = self.error if isinstance(self.error, ErrorInfo) else None
            values["error_code"] = _fit(error.code, 32) if error else None
            values["error_message"] = _fit(error.message, 2000) if error else None
            values["error_details"] = _fit(error.details, 2000) if error else None
        if self.status is not MessageStatus.SENDING:
            values["lease_owner"] = None
            values["lease_expires_at"] = None
        if self.status is not MessageStatus.HELD:
            values["hold_key"] = None
        return values


def _fit(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


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
) -> MessageUpdate:
    """An HTTP attempt is about to start (written and committed before the call)."""
    _check(message, MessageStatus.SENDING)
    return MessageUpdate(
        message_id=message.id,
        guard=Guard.leased_by(owner),
        status=MessageStatus.SENDING,
        previous=message.status,
        at=now,
        attempts=message.attempts + 1,
        phone_number_id=phone_number_id,
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
    error: ErrorInfo | None | _Keep = KEEP,
    transient_failures: int | _Keep = KEEP,
    throttle_count: int | _Keep = KEEP,
    awaiting_webhook_until: datetime | None | _Keep = KEEP,
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
    transient_failures: int | _Keep = KEEP,
    phone_number_id: str | _Keep = KEEP,
    language: str | _Keep = KEEP,
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
    error: ErrorInfo | None | _Keep = KEEP,
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


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One ``statuses[]`` item of a webhook, already parsed."""

    status: MessageStatus  # sent | delivered | read | failed
    at: datetime
    wamid: str | None
    error: ErrorInfo | None = None
    pricing_category: str | None = None
    pricing_type: str | None = None
    billable: bool | None = None
    cost_eur: Decimal | None = None


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
    error: ErrorInfo | None | _Keep = KEEP
    if report.status is MessageStatus.FAILED and (message.failed_at is None or report.at < message.failed_at):
        changes["failed_at"] = report.at
        error = report.error or ErrorInfo("unknown", "delivery failed")
    if report.wamid and message.wamid is None:
        changes["wamid"] = report.wamid
    reason: str | None | _Keep = KEEP
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
