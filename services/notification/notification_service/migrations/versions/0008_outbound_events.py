"""The outbox of events for the platform (issue 16): supplier decisions, replies and opt-outs, one delivery state
per destination (signed HTTP, RabbitMQ).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import JSONType, UTCDateTime, UUIDStr

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", UUIDStr(), nullable=False, unique=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("tenant_id", UUIDStr(), nullable=False),
        sa.Column("ordering_key", sa.String(200), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("http_status", sa.String(16), nullable=False),
        sa.Column("http_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("http_next_at", UTCDateTime(), nullable=True),
        sa.Column("http_last_error", sa.String(500), nullable=True),
        sa.Column("http_delivered_at", UTCDateTime(), nullable=True),
        sa.Column("amqp_status", sa.String(16), nullable=False),
        sa.Column("amqp_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("amqp_next_at", UTCDateTime(), nullable=True),
        sa.Column("amqp_last_error", sa.String(500), nullable=True),
        sa.Column("amqp_delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_outbound_events_http_due", "outbound_events", ["http_status", "http_next_at"])
    op.create_index("ix_outbound_events_amqp_due", "outbound_events", ["amqp_status", "amqp_next_at"])
    op.create_index("ix_outbound_events_ordering", "outbound_events", ["ordering_key", "seq"])
    op.create_index("ix_outbound_events_tenant", "outbound_events", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("outbound_events")
