"""Data contracts shared between services (request/response shapes, not business rules)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error that names the field."""

    model_config = ConfigDict(extra="forbid")


class NotificationSettings(BaseModel):
    """A tenant's ``notification_settings``, with the web frontend's exact key names."""

    whatsapp_enabled: bool = False
    whatsapp_phone_number_id: str = ""
    whatsapp_display_phone_number: str = ""
    whatsapp_default_language: str = "es"
    enable_po_notifications: bool = True


class InternalNotificationSettings(NotificationSettings):
    """What the tenant service's internal endpoint returns to the notification service."""

    tenant_id: uuid.UUID
    tenant_name: str


class PhoneNumberOwner(BaseModel):
    phone_number_id: str
    tenant_id: uuid.UUID
    tenant_name: str
