"""Webhook events and statuses, phone-number and template state, pricing and cost per message.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime, UUIDStr

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("pricing_category", sa.String(48), nullable=True))
        batch.add_column(sa.Column("pricing_type", sa.String(48), nullable=True))
        batch.add_column(sa.Column("billable", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("cost_eur", sa.Numeric(14, 6), nullable=True))
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("fields", sa.String(300), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("process_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("body_sha256", name="uq_webhook_events_body_sha256"),
    )
    op.create_index("ix_webhook_events_unprocessed", "webhook_events", ["processed_at", "received_at"])
    op.create_table(
        "webhook_statuses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_at", UTCDateTime(), nullable=True),
        sa.Column("phone_number_id", sa.String(64), nullable=True),
        sa.Column("message_id", UUIDStr(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webhook_statuses_wamid", "webhook_statuses", ["wamid"])
    op.create_index("ix_webhook_statuses_event", "webhook_statuses", ["event_id"])
    op.create_table(
        "phone_numbers",
        sa.Column("phone_number_id", sa.String(64), primary_key=True),
        sa.Column("display_phone_number", sa.String(32), nullable=True),
        sa.Column("verified_name", sa.String(256), nullable=True),
        sa.Column("quality_rating", sa.String(16), nullable=True),
        sa.Column("messaging_limit_tier", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("throughput_level", sa.String(32), nullable=True),
        sa.Column("last_event", sa.String(64), nullable=True),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("admin_override", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("override_by", sa.String(128), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_phone_numbers_display", "phone_numbers", ["display_phone_number"])
    op.create_table(
        "message_templates",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("language", sa.String(16), primary_key=True),
        sa.Column("template_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("message_templates")
    op.drop_index("ix_phone_numbers_display", table_name="phone_numbers")
    op.drop_table("phone_numbers")
    op.drop_index("ix_webhook_statuses_event", table_name="webhook_statuses")
    op.drop_index("ix_webhook_statuses_wamid", table_name="webhook_statuses")
    op.drop_table("webhook_statuses")
    op.drop_index("ix_webhook_events_unprocessed", table_name="webhook_events")
    op.drop_table("webhook_events")
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("cost_eur")
        batch.drop_column("billable")
        batch.drop_column("pricing_type")
        batch.drop_column("pricing_category")
