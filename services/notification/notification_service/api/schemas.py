"""Response shapes of the public API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel

from notification_service.domain.decisions import KIND_TEST


class AcceptedOut(BaseModel):
    notification_id: uuid.UUID
    status: str


class AlertAcceptedOut(BaseModel):
    """A staff alert: one message per staff number that takes the kind (none: nobody takes it)."""

    notification_ids: list[uuid.UUID]


class AttemptOut(BaseModel):
    attempt_no: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    phone_number_id: str
    http_status: int | None
    error_code: str | None
    error_message: str | None
    wamid: str | None
    duration_ms: int | None


class SupplierDecisionOut(BaseModel):
    """The supplier's tap on the purchase-order message (the first one: it stands)."""

    decision: str  # confirmed | rejected
    decided_at: datetime
    #: our short confirmation reply (a message of kind supplier_ack), or why none was sent
    ack_message_id: uuid.UUID | None = None
    ack_skipped_reason: str | None = None


class InboundOut(BaseModel):
    """One message a supplier wrote to a bakery's number."""

    id: uuid.UUID
    tenant_id: uuid.UUID | None
    phone_number_id: str
    from_phone: str | None  # null when Meta withholds the number
    #: the sender's business-scoped user ID: admins only (always null for an owner)
    from_user_id: str | None = None
    type: str
    text: str | None
    button_text: str | None
    message_id: uuid.UUID | None
    purchase_order_id: str | None
    purchase_order_number: str | None
    outcome: str
    outcome_detail: str | None
    sent_at: datetime
    received_at: datetime


class InboundPage(BaseModel):
    items: list[InboundOut]
    next_before: datetime | None = None


class OptedOutOut(BaseModel):
    supplier_phone: str | None  # null: known only by a user ID (never shown to an owner)
    word: str
    opted_out_at: datetime


class OptedOutListOut(BaseModel):
    tenant_id: uuid.UUID
    suppliers: list[OptedOutOut]


class MessageOut(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    event_id: uuid.UUID | None
    kind: str
    recipient_phone: str
    template_name: str
    language: str | None
    template_parameters: list[str] | None
    phone_number_id: str | None
    status: str
    status_reason: str | None
    wamid: str | None
    attempts: int
    possible_duplicates: int
    error_code: str | None
    error_message: str | None
    error_details: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    #: the recipient's business-scoped user ID: admins only (always null for an owner; docs/notification.md)
    recipient_user_id: str | None = None
    #: issue 18: the WhatsApp Business Account the message went out from: admins only (null for an owner, and for
    #: a message not sent yet or sent before accounts were recorded)
    waba_id: str | None = None
    #: issue 16: the supplier's decision on this message (its buttons), and what the supplier wrote about it
    supplier_decision: SupplierDecisionOut | None = None
    replies: list[InboundOut] = []
    #: issue 17: who and what the message is about, from the event's values (the tenant's own data, both roles);
    #: null when the message's kind carries none (a test message with sample values, an alert)
    supplier_name: str | None = None
    purchase_order_number: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        # a test message's values are samples ("Proveedor de prueba"), not a supplier's: not shown as one
        values = (row.get("template_values") or {}) if row.get("kind") != KIND_TEST else {}
        about = {
            "supplier_name": _text(values.get("supplier_name")),
            "purchase_order_number": _text(values.get("po_number")),
        }
        return cls.model_validate({**about, **{k: row[k] for k in cls.model_fields if k in row}})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class MessageDetailOut(MessageOut):
    attempt_log: list[AttemptOut] = []


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None
