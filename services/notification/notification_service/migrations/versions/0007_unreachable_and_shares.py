"""Unreachable suppliers per bakery (Meta error 131026) and each bakery's configured share of the portfolio's
daily new-recipient budget (issue 15).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime, UUIDStr

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unreachable_recipients",
        sa.Column("tenant_id", UUIDStr(), primary_key=True),
        sa.Column("recipient_phone", sa.String(32), primary_key=True),
        sa.Column("error_code", sa.String(32), nullable=False),
        sa.Column("error_message", sa.String(500), nullable=True),
        sa.Column("message_id", UUIDStr(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("first_marked_at", UTCDateTime(), nullable=False),
        sa.Column("marked_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "tenant_recipient_shares",
        sa.Column("tenant_id", UUIDStr(), primary_key=True),
        sa.Column("daily_new_recipients", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tenant_recipient_shares")
    op.drop_table("unreachable_recipients")
