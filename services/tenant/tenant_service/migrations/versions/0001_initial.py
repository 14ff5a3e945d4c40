"""Tenants, settings categories, phone assignments and the audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import JSONType, UTCDateTime, UUIDStr

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", UUIDStr(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", UUIDStr(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("general_settings", JSONType, nullable=False),
        sa.Column("notification_settings", JSONType, nullable=False),
        sa.Column("procurement_settings", JSONType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "whatsapp_phone_assignments",
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", UUIDStr(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("display_phone_number", sa.String(64), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", name="uq_whatsapp_phone_assignments_tenant_id"),
    )
    op.create_table(
        "whatsapp_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("tenant_id", UUIDStr(), nullable=False),
        sa.Column("old_phone_number_id", sa.String(64), nullable=True),
        sa.Column("new_phone_number_id", sa.String(64), nullable=True),
        sa.Column("old_display_phone_number", sa.String(64), nullable=True),
        sa.Column("new_display_phone_number", sa.String(64), nullable=True),
    )
    op.create_index("ix_whatsapp_audit_log_at", "whatsapp_audit_log", ["at"])
    op.create_index("ix_whatsapp_audit_log_tenant_id", "whatsapp_audit_log", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_audit_log_tenant_id", table_name="whatsapp_audit_log")
    op.drop_index("ix_whatsapp_audit_log_at", table_name="whatsapp_audit_log")
    op.drop_table("whatsapp_audit_log")
    op.drop_table("whatsapp_phone_assignments")
    op.drop_table("tenant_settings")
    op.drop_table("tenants")
