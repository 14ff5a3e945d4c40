"""Data contracts shared between services (request/response shapes, not business rules)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

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
    #: the account (WABA) the assigned number belongs to, and where its token comes from (issue 18); empty when no
    #: number is assigned; ``settings`` is the account of the environment's ``WHATSAPP_*`` variables
    waba_id: str = ""
    token_ref: str = ""
    #: the business portfolio whose messaging limit the account shares (its own WABA id when none is set)
    portfolio_id: str = ""
    account_kind: Literal["platform", "tenant_owned"] = "platform"


AccountKind = Literal["platform", "tenant_owned"]


class WhatsAppAccount(BaseModel):
    """One WhatsApp Business Account the platform sends through (issue 18), as the tenant service keeps it and
    tells the notification service: the token's *reference*, never the token."""

    waba_id: str
    display_name: str
    kind: AccountKind = "platform"
    #: ``settings``, ``file:/path`` or ``env:NAME`` (bakery_shared.accounts)
    token_ref: str
    portfolio_id: str
    #: the bakery a tenant-owned account belongs to (its messages are billed to it)
    tenant_id: uuid.UUID | None = None
    #: Meta's cap on registered numbers in the portfolio (20 verified, 2 before verification)
    max_numbers: int = 20
    #: business-initiated conversations per rolling 24 h shared by the portfolio; ``None`` = unlimited
    daily_limit: int | None = None
    status: Literal["active", "retired"] = "active"
    #: ``environment`` for the account of the ``WHATSAPP_*`` variables, ``database`` for one added by an admin
    source: Literal["environment", "database"] = "database"


class PhoneNumberOwner(BaseModel):
    phone_number_id: str
    tenant_id: uuid.UUID
    tenant_name: str
