"""Request and response bodies of the tenant service's API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from bakery_shared.contracts import StrictModel
from bakery_shared.text import CleanText, NoControlText


class TenantCreate(StrictModel):
    #: control characters refused (422); tabs, line breaks and runs of 5+ spaces become one space (bakery_shared.text)
    name: CleanText = Field(min_length=1, max_length=200, examples=["Panadería Sol"])


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime


class TenantPage(BaseModel):
    items: list[TenantOut]
    total: int
    limit: int
    offset: int


class NotificationSettingsUpdate(StrictModel):
    """Owners change the first three; the phone fields are accepted only when unchanged."""

    whatsapp_enabled: bool | None = None
    whatsapp_default_language: NoControlText | None = Field(default=None, min_length=2, max_length=8)
    enable_po_notifications: bool | None = None
    whatsapp_phone_number_id: NoControlText | None = Field(default=None, max_length=64)
    whatsapp_display_phone_number: NoControlText | None = Field(default=None, max_length=64)


class PhoneNumberOut(BaseModel):
    id: str
    display_phone_number: str
    verified_name: str | None = None
    quality_rating: str | None = None
    status: str | None = None
    messaging_limit: str | None = None
    throughput_level: str | None = None
    name_status: str | None = None
    assigned_tenant_id: uuid.UUID | None = None
    assigned_tenant_name: str | None = None


class TenantWhatsAppOut(BaseModel):
    tenant_id: uuid.UUID
    tenant_name: str
    whatsapp_enabled: bool
    phone_number_id: str | None
    display_phone_number: str | None
    whatsapp_default_language: str


class AssignPhoneRequest(StrictModel):
    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9]+$", examples=["200000000000001"])
    display_phone_number: NoControlText | None = Field(default=None, max_length=64, examples=["+34 612 345 678"])


class AssignmentResult(TenantWhatsAppOut):
    changed: bool
    message: str


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    tenant_id: uuid.UUID
    tenant_name: str | None = None
    old_phone_number_id: str | None = None
    new_phone_number_id: str | None = None
    old_display_phone_number: str | None = None
    new_display_phone_number: str | None = None


class PhoneOwnerOut(BaseModel):
    phone_number_id: str
    tenant_id: uuid.UUID
    tenant_name: str
    display_phone_number: str
    waba_id: str
