"""Request and response bodies of the tenant service's API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from bakery_shared.accounts import TokenRefError, parse_token_ref
from bakery_shared.contracts import MAX_STAFF_NUMBERS, AccountKind, StrictModel, WhatsAppAccount
from bakery_shared.phone import InvalidPhoneNumber, normalize_e164
from bakery_shared.text import CleanText, NoControlText, refuse_control_characters


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


#: the message kinds a staff number may receive (the notification service's registry, domain/kinds.py)
StaffKind = Literal["inventory_alert", "production_alert"]


class StaffNumberIn(StrictModel):
    """One of the bakery's own people who receives alerts (issue 17)."""

    phone: str = Field(max_length=40, examples=["+34612345678"], description="E.164 (without a country code: Spain)")
    name: CleanText = Field(default="", max_length=80)
    kinds: list[StaffKind] = Field(default_factory=list, max_length=2, description="the alert kinds it receives")

    @field_validator("phone", mode="after")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalize_e164(refuse_control_characters(value))
        except InvalidPhoneNumber as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("kinds", mode="after")
    @classmethod
    def _distinct_kinds(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class NotificationSettingsUpdate(StrictModel):
    """Owners change the switches, the language and the staff numbers; the phone fields are accepted only when
    unchanged."""

    whatsapp_enabled: bool | None = None
    whatsapp_default_language: NoControlText | None = Field(default=None, min_length=2, max_length=8)
    enable_po_notifications: bool | None = None
    enable_inventory_alerts: bool | None = None
    enable_production_alerts: bool | None = None
    staff_numbers: list[StaffNumberIn] | None = Field(
        default=None, max_length=MAX_STAFF_NUMBERS, description=f"at most {MAX_STAFF_NUMBERS}, each number once"
    )
    whatsapp_phone_number_id: NoControlText | None = Field(default=None, max_length=64)
    whatsapp_display_phone_number: NoControlText | None = Field(default=None, max_length=64)

    @field_validator("staff_numbers", mode="after")
    @classmethod
    def _distinct_numbers(cls, value: list[StaffNumberIn] | None) -> list[StaffNumberIn] | None:
        seen: set[str] = set()
        for staff in value or []:
            if staff.phone in seen:
                raise ValueError(f"{staff.phone} is listed twice; keep each staff number once")
            seen.add(staff.phone)
        return value


class AccountNumberOut(BaseModel):
    id: str
    display_phone_number: str
    verified_name: str | None = None
    quality_rating: str | None = None
    status: str | None = None
    messaging_limit: str | None = None
    throughput_level: str | None = None
    assigned_tenant_id: uuid.UUID | None = None
    assigned_tenant_name: str | None = None


class PhoneNumberOut(AccountNumberOut):
    name_status: str | None = None
    #: the account (WABA) the number belongs to (issue 18)
    waba_id: str | None = None
    account_name: str | None = None


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


DIGITS = r"^[0-9]{1,64}$"


def _token_ref(value: str) -> str:
    try:
        return str(parse_token_ref(refuse_control_characters(value)))
    except TokenRefError as exc:
        raise ValueError(str(exc)) from exc


class AccountCreate(StrictModel):
    """An account to add (issue 18). ``token_ref`` says where the token is read, never the token."""

    waba_id: str = Field(pattern=DIGITS, examples=["100000000000002"], description="the WhatsApp Business Account id")
    display_name: CleanText = Field(min_length=1, max_length=200, examples=["Portfolio EU 2"])
    token_ref: str = Field(
        max_length=520,
        examples=["file:/run/secrets/waba-eu-2", "env:WABA_EU_2_TOKEN"],
        description="file:/absolute/path, env:NAME or settings (the environment's token) — never the token",
    )
    kind: AccountKind = "platform"
    tenant_id: uuid.UUID | None = Field(default=None, description="the bakery a tenant_owned account belongs to")
    portfolio_id: str | None = Field(default=None, pattern=DIGITS, description="defaults to the waba_id")
    max_numbers: int = Field(default=20, ge=1, le=10_000)
    daily_limit: int | None = Field(default=None, ge=1, description="business-initiated conversations per 24 h")

    @field_validator("token_ref", mode="after")
    @classmethod
    def _valid_ref(cls, value: str) -> str:
        return _token_ref(value)


class AccountProblem(BaseModel):
    code: str
    detail: str


class AccountOut(WhatsAppAccount):
    created_at: datetime | None = None
    created_by: str | None = None
    retired_at: datetime | None = None
    numbers: list[AccountNumberOut] = Field(default_factory=list)
    assigned_count: int = 0
    #: why the numbers could not be read (a token or Meta problem); the other accounts are listed all the same
    error: AccountProblem | None = None


class RetireResult(AccountOut):
    changed: bool
    message: str


class InternalAccounts(BaseModel):
    accounts: list[WhatsAppAccount]


class EmbeddedSignupRequest(StrictModel):
    """What Meta's Embedded Signup hands back to the Tech Provider, plus the bakery it is for."""

    code: str = Field(min_length=1, max_length=4096, pattern=r"^[^\s]+$", description="the one-time code")
    waba_id: str = Field(pattern=DIGITS)
    phone_number_id: str = Field(pattern=DIGITS)
    tenant_id: uuid.UUID
    pin: str = Field(pattern=r"^[0-9]{6}$", description="the number's two-step verification PIN (6 digits)")
    display_name: CleanText | None = Field(default=None, min_length=1, max_length=200)


class EmbeddedSignupResult(BaseModel):
    account: AccountOut
    assignment: AssignmentResult


class AccountAuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    waba_id: str
    detail: str
