"""WhatsApp Business Accounts as data (issue 18) and their audit trail.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime, UUIDStr

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_accounts",
        sa.Column("waba_id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_ref", sa.String(520), nullable=False),
        sa.Column("portfolio_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", UUIDStr(), sa.ForeignKey("tenants.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("max_numbers", sa.Integer(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('platform', 'tenant_owned')", name="ck_whatsapp_accounts_kind"),
        sa.CheckConstraint("status IN ('active', 'retired')", name="ck_whatsapp_accounts_status"),
    )
    op.create_table(
        "whatsapp_account_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
    )
    op.create_index("ix_whatsapp_account_audit_at", "whatsapp_account_audit", ["at"])
    op.create_index("ix_whatsapp_account_audit_waba_id", "whatsapp_account_audit", ["waba_id"])
    op.create_index("ix_whatsapp_phone_assignments_waba_id", "whatsapp_phone_assignments", ["waba_id"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_phone_assignments_waba_id", table_name="whatsapp_phone_assignments")
    op.drop_table("whatsapp_account_audit")
    op.drop_table("whatsapp_accounts")
