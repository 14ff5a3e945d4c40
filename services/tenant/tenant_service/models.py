"""Tables of the tenant service (SQLAlchemy Core). Migrations live in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table, UniqueConstraint

from bakery_shared.db import JSONType, UTCDateTime, UUIDStr, make_metadata

metadata = make_metadata()

#: Settings categories: one JSON (JSONB on PostgreSQL) column each.
SETTINGS_CATEGORIES = ("general_settings", "notification_settings", "procurement_settings")

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUIDStr(), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", UUIDStr(), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("general_settings", JSONType, nullable=False),
    Column("notification_settings", JSONType, nullable=False),
    Column("procurement_settings", JSONType, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: One row per assigned number. The primary key stops a number going to two tenants, the unique
#: tenant_id stops a tenant holding two numbers: concurrent assigns cannot double-assign.
phone_assignments = Table(
    "whatsapp_phone_assignments",
    metadata,
    Column("phone_number_id", String(64), primary_key=True),
    Column("tenant_id", UUIDStr(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("display_phone_number", String(64), nullable=False),
    Column("waba_id", String(64), nullable=False, index=True),
    Column("assigned_by", String(200), nullable=False),
    Column("assigned_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id"),
)

audit_log = Table(
    "whatsapp_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("tenant_id", UUIDStr(), nullable=False, index=True),
    Column("old_phone_number_id", String(64), nullable=True),
    Column("new_phone_number_id", String(64), nullable=True),
    Column("old_display_phone_number", String(64), nullable=True),
    Column("new_display_phone_number", String(64), nullable=True),
)

#: The WhatsApp Business Accounts added by an admin (issue 18). The environment's account (``WHATSAPP_*``) is not
#: stored: it is always the first one. ``token_ref`` names where the token is read (``file:/path``, ``env:NAME``,
#: ``settings``), never the token itself.
whatsapp_accounts = Table(
    "whatsapp_accounts",
    metadata,
    Column("waba_id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("token_ref", String(520), nullable=False),
    Column("portfolio_id", String(64), nullable=False),
    Column("tenant_id", UUIDStr(), ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=True),
    Column("max_numbers", Integer, nullable=False),
    Column("daily_limit", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
    CheckConstraint("kind IN ('platform', 'tenant_owned')", name="kind"),
    CheckConstraint("status IN ('active', 'retired')", name="status"),
)

#: Changes to the accounts (add, retire, connect): the phone audit log is per bakery (its tenant_id is required and
#: its columns are the old and new number), so an account's history has its own table.
account_audit = Table(
    "whatsapp_account_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("waba_id", String(64), nullable=False, index=True),
    Column("detail", String(500), nullable=False),
)
