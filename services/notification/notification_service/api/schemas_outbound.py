"""Response shapes of the admin's view of the events for the platform (``/api/v1/admin/outbound-events``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from notification_service.api.schemas_admin import IsoTime


class DeliveryOut(BaseModel):
    status: Literal["pending", "delivered", "dead", "off"] = Field(
        description="off: the destination was not configured when the event was stored"
    )
    attempts: int = Field(description="attempts since the event was stored or last re-driven")
    next_attempt_at: IsoTime | None = Field(description="when a pending delivery is tried next")
    last_error: str | None
    delivered_at: IsoTime | None


class OutboundEventOut(BaseModel):
    id: uuid.UUID
    seq: int = Field(description="order of the events; each purchase order's events are delivered in this order")
    type: str = Field(description="e.g. purchase_order.supplier_confirmed")
    tenant_id: uuid.UUID
    ordering_key: str
    occurred_at: IsoTime
    created_at: IsoTime
    http: DeliveryOut
    amqp: DeliveryOut
    body: dict[str, Any] = Field(description="the JSON every destination receives")


class OutboundEventsOut(BaseModel):
    events: list[OutboundEventOut]


class RedriveOut(BaseModel):
    event: OutboundEventOut
    redriven: list[Literal["http", "amqp"]] = Field(description="the destinations that were dead and are pending again")
