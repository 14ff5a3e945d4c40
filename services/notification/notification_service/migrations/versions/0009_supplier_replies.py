"""What suppliers write back (issue 16): inbound messages, their decisions on purchase orders, opt-outs.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime, UUIDStr

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", UUIDStr(), primary_key=True),
        sa.Column("wamid", sa.String(256), nullable=False),
        sa.Column("phone_number_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", UUIDStr(), nullable=True),
        sa.Column("from_phone", sa.String(32), nullable=True),
        sa.Column("from_user_id", sa.String(160), nullable=True),
        sa.Column("supplier_phone", sa.String(32), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("button_payload", sa.String(256), nullable=True),
        sa.Column("button_text", sa.String(256), nullable=True),
        sa.Column("context_wamid", sa.String(256), nullable=True),
        sa.Column("message_id", UUIDStr(), nullable=True),
        sa.Column("purchase_order_id", sa.String(200), nullable=True),
        sa.Column("purchase_order_number", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("outcome_detail", sa.String(500), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("webhook_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )
    op.create_index("ix_inbound_messages_wamid", "inbound_messages", ["wamid"], unique=True)
    op.create_index("ix_inbound_messages_message", "inbound_messages", ["message_id"])
    op.create_index("ix_inbound_messages_tenant_received", "inbound_messages", ["tenant_id", "received_at"])
    op.create_index("ix_inbound_messages_window", "inbound_messages", ["phone_number_id", "supplier_phone", "sent_at"])
    op.create_table(
        "supplier_decisions",
        sa.Column("message_id", UUIDStr(), primary_key=True),
        sa.Column("tenant_id", UUIDStr(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("inbound_wamid", sa.String(256), nullable=False),
        sa.Column("ack_message_id", UUIDStr(), nullable=True),
        sa.Column("ack_skipped_reason", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "supplier_opt_outs",
        sa.Column("tenant_id", UUIDStr(), primary_key=True),
        sa.Column("supplier_key", sa.String(170), primary_key=True),
        sa.Column("supplier_phone", sa.String(32), nullable=True),
        sa.Column("supplier_user_id", sa.String(160), nullable=True),
        sa.Column("word", sa.String(64), nullable=False),
        sa.Column("inbound_wamid", sa.String(256), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_supplier_opt_outs_phone", "supplier_opt_outs", ["tenant_id", "supplier_phone"])


def downgrade() -> None:
    op.drop_table("supplier_opt_outs")
    op.drop_table("supplier_decisions")
    op.drop_table("inbound_messages")
