"""Events (outbox inbox), messages, attempts, holds and shared rate-limit state.

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
        "purchase_order_events",
        sa.Column("id", UUIDStr(), primary_key=True),
        sa.Column("tenant_id", UUIDStr(), nullable=False),
        sa.Column("event_id", UUIDStr(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_purchase_order_events_tenant_event"),
    )
    op.create_table(
        "whatsapp_messages",
        sa.Column("id", UUIDStr(), primary_key=True),
        sa.Column("tenant_id", UUIDStr(), nullable=False),
        sa.Column("event_id", UUIDStr(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient_phone", sa.String(32), nullable=False),
        sa.Column("template_name", sa.String(128), nullable=False),
        sa.Column("requested_language", sa.String(16), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("template_values", JSONType, nullable=False),
        sa.Column("template_parameters", JSONType, nullable=True),
        sa.Column("phone_number_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("hold_key", sa.String(128), nullable=True),
        sa.Column("wamid", sa.String(256), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("transient_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("throttle_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("possible_duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_details", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("awaiting_webhook_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_whatsapp_messages_tenant_event"),
    )
    op.create_index("ix_whatsapp_messages_status_due", "whatsapp_messages", ["status", "due_at"])
    op.create_index("ix_whatsapp_messages_tenant_created", "whatsapp_messages", ["tenant_id", "created_at"])
    op.create_index("ix_whatsapp_messages_created", "whatsapp_messages", ["created_at"])
    op.create_index("ix_whatsapp_messages_wamid", "whatsapp_messages", ["wamid"], unique=True)
    op.create_index("ix_whatsapp_messages_hold_key", "whatsapp_messages", ["hold_key"])
    op.create_table(
        "whatsapp_message_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "message_id",
            UUIDStr(),
            sa.ForeignKey(
                "whatsapp_messages.id",
                ondelete="CASCADE",
                name="fk_whatsapp_message_attempts_message_id_whatsapp_messages",
            ),
            nullable=False,
        ),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("dispatcher_id", sa.String(64), nullable=False),
        sa.Column("phone_number_id", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("wamid", sa.String(256), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
    )
    op.create_index("ix_whatsapp_message_attempts_message", "whatsapp_message_attempts", ["message_id", "attempt_no"])
    op.create_table(
        "sending_holds",
        sa.Column("id", UUIDStr(), primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("scope_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("probe_phone_number_id", sa.String(64), nullable=True),
        sa.Column("probe_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_probe_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("scope", "scope_key", "kind", name="uq_sending_holds_scope_key_kind"),
    )
    op.create_table(
        "rate_limit_state",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tat", UTCDateTime(), nullable=True),
        sa.Column("counter", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "tenant_daily_recipients",
        sa.Column("tenant_id", UUIDStr(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("recipient_phone", sa.String(32), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_daily_recipients")
    op.drop_table("rate_limit_state")
    op.drop_table("sending_holds")
    op.drop_index("ix_whatsapp_message_attempts_message", table_name="whatsapp_message_attempts")
    op.drop_table("whatsapp_message_attempts")
    for name in (
        "ix_whatsapp_messages_hold_key",
        "ix_whatsapp_messages_wamid",
        "ix_whatsapp_messages_created",
        "ix_whatsapp_messages_tenant_created",
        "ix_whatsapp_messages_status_due",
    ):
        op.drop_index(name, table_name="whatsapp_messages")
    op.drop_table("whatsapp_messages")
    op.drop_table("purchase_order_events")
