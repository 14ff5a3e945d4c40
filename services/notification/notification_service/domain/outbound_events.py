"""Events the platform hears about (issue 16): what a supplier decided or wrote, as one JSON shape.

Each event is stored in the outbox (``outbound_events``) in the transaction that records its cause, then delivered
to every configured destination (a signed HTTP endpoint, RabbitMQ) with retries, in order per purchase order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SUPPLIER_CONFIRMED = "purchase_order.supplier_confirmed"
SUPPLIER_REJECTED = "purchase_order.supplier_rejected"
SUPPLIER_REPLIED = "purchase_order.supplier_replied"
SUPPLIER_OPTED_OUT = "supplier.opted_out"
SUPPLIER_OPTED_IN = "supplier.opted_in"
EVENT_NAMES = frozenset(
    {SUPPLIER_CONFIRMED, SUPPLIER_REJECTED, SUPPLIER_REPLIED, SUPPLIER_OPTED_OUT, SUPPLIER_OPTED_IN}
)

#: The destinations an event can go to (one delivery state each on its outbox row).
HTTP = "http"
AMQP = "amqp"
DESTINATIONS = (HTTP, AMQP)


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One event, before it is stored. ``ordering_key`` orders deliveries: the purchase order's id, or for an
    opt-out without a purchase order ``supplier:<phone or user id>``."""

    name: str
    tenant_id: uuid.UUID
    occurred_at: datetime
    purchase_order_id: str | None = None
    purchase_order_number: str | None = None
    supplier_phone: str | None = None  # E.164, when Meta gave the phone
    supplier_user_id: str | None = None  # business-scoped user ID, when Meta gave one
    decision: str | None = None  # confirmed | rejected (decisions only)
    text: str | None = None  # the supplier's words (replies, opt-out/opt-in words)
    message_id: uuid.UUID | None = None  # our whatsapp_messages row the event is about, when known
    id: uuid.UUID | None = None  # set when stored

    def __post_init__(self) -> None:
        if self.name not in EVENT_NAMES:
            raise ValueError(f"unknown outbound event {self.name!r}")

    @property
    def ordering_key(self) -> str:
        if self.purchase_order_id:
            return f"po:{self.tenant_id}:{self.purchase_order_id}"
        return f"supplier:{self.tenant_id}:{self.supplier_phone or self.supplier_user_id or '-'}"

    def body(self, event_id: uuid.UUID) -> dict[str, Any]:
        """The JSON every destination receives (HTTP body and RabbitMQ message body alike)."""
        return {
            "id": str(event_id),
            "type": self.name,
            "occurred_at": self.occurred_at.isoformat(),
            "tenant_id": str(self.tenant_id),
            "purchase_order": (
                {"id": self.purchase_order_id, "number": self.purchase_order_number} if self.purchase_order_id else None
            ),
            "supplier": {"phone": self.supplier_phone, "user_id": self.supplier_user_id},
            "decision": self.decision,
            "text": self.text,
            "notification_id": str(self.message_id) if self.message_id else None,
        }
