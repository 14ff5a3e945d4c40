"""Data contracts shared between services (request/response shapes, not business rules)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

#: Largest ``offset`` a list accepts (a bigger one overflows the database's BIGINT: a 500 before this bound).
MAX_OFFSET = 1_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"rows to skip (0-{MAX_OFFSET})")]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error that names the field."""

    model_config = ConfigDict(extra="forbid")


#: The most staff numbers a bakery keeps for its own alerts (issue 17)
MAX_STAFF_NUMBERS = 5


class StaffNumber(BaseModel):
    """One of the bakery's own people who receives alerts: E.164 ``phone``, a ``name`` for the pages, and the
    message kinds (``inventory_alert``, ``production_alert``) this number receives."""

    phone: str
    name: str = ""
    kinds: list[str] = Field(default_factory=list)


class NotificationSettings(BaseModel):
    """A tenant's ``notification_settings``, with the web frontend's exact key names."""

    whatsapp_enabled: bool = False
    whatsapp_phone_number_id: str = ""
    whatsapp_display_phone_number: str = ""
    whatsapp_default_language: str = "es"
    enable_po_notifications: bool = True
    #: the on/off switch of each staff alert kind (issue 17); a kind off → its messages are skipped
    enable_inventory_alerts: bool = False
    enable_production_alerts: bool = False
    staff_numbers: list[StaffNumber] = Field(default_factory=list)


class InternalNotificationSettings(NotificationSettings):
    """What the tenant service's internal endpoint returns to the notification service."""

    tenant_id: uuid.UUID
    tenant_name: str


class PhoneNumberOwner(BaseModel):
    phone_number_id: str
    tenant_id: uuid.UUID
    tenant_name: str
