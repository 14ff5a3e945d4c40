"""A WhatsApp message as a typed value, and the typed change of one (:class:`MessageUpdate`).

A :class:`MessageUpdate` says the new status, the columns that change, and the *guard*: the state the row must
still be in for the update to apply (the dispatcher's lease, or the status it was computed from). Updates are
built only by the pure transitions of ``domain/transitions.py`` and written only by
``repositories/messages.apply``/``apply_leased``, which say whether they applied.

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

from notification_service.domain.statuses import MessageStatus


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
    #: the recipient's business-scoped user ID (Meta's ``recipient_user_id``), once a status webhook carried it;
    #: sends go to ``recipient_phone``: this is what a send by user ID (Graph ``recipient``) would use instead
    recipient_user_id: str | None = None
    #: the purchase order's PDF as uploaded to Meta (``POST /<PHONE_NUMBER_ID>/media``) and when: a retry reuses it
    #: while it is younger than :data:`notification_service.domain.po_document.MEDIA_REUSE`
    media_id: str | None = None
    media_uploaded_at: datetime | None = None
    #: the WhatsApp Business Account the message went out from (migration 0012, issue 18; None before its first
    #: attempt and on rows older than that)
    waba_id: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Message:
        values = {name: row[name] for name in _MESSAGE_FIELDS if name not in _OPTIONAL_FIELDS}
        values.update({name: row.get(name) for name in _OPTIONAL_FIELDS})  # rows built before migration 0010
        values["status"] = MessageStatus(values["status"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The columns as a plain dict (API responses)."""
        return {name: getattr(self, name) for name in _MESSAGE_FIELDS}


#: ``Message``'s field names, read once (``dataclasses.fields`` walks the class on every call: the webhook applier
#: builds a message per status it merges).
_MESSAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Message))
#: columns of migration 0010 (issue 17): a row may lack them (rows written by hand in tests and tools)
_OPTIONAL_FIELDS = ("media_id", "media_uploaded_at", "waba_id")


class Keep(Enum):
    KEEP = "keep"


#: "this column does not change" (distinct from None, which writes NULL).
KEEP: Final = Keep.KEEP
_T = TypeVar("_T")
Change: TypeAlias = Union[_T, Keep]  # noqa: UP007 - a generic alias needs Union


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
    waba_id: Change[str] = KEEP
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
    recipient_user_id: Change[str] = KEEP
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
            "waba_id",
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
            "recipient_user_id",
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
    recipient_user_id: str | None = (
        None  # the status item's ``recipient_user_id`` (absent: failed after a send to a phone)
    )
