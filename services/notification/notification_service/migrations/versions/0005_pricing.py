"""Pricing (issue 15): the rate card loaded by the admin (``rate_card_rates``, laid over the shipped card) and
Meta's pricing analytics per number, day, country, category and type (``meta_pricing_analytics``).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_card_rates",
        sa.Column("market", sa.String(8), primary_key=True),
        sa.Column("category", sa.String(48), primary_key=True),
        sa.Column("effective_from", sa.Date(), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("rate", sa.Numeric(12, 6), nullable=False),
        sa.Column("source", sa.Text(), nullable=False, server_default=""),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(128), nullable=True),
    )
    op.create_table(
        "meta_pricing_analytics",
        sa.Column("phone_number", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("country", sa.String(8), primary_key=True),
        sa.Column("pricing_category", sa.String(48), primary_key=True),
        sa.Column("pricing_type", sa.String(48), primary_key=True),
        sa.Column("phone_number_id", sa.String(64), nullable=True),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(14, 6), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_meta_pricing_analytics_day", "meta_pricing_analytics", ["day"])


def downgrade() -> None:
    op.drop_index("ix_meta_pricing_analytics_day", table_name="meta_pricing_analytics")
    op.drop_table("meta_pricing_analytics")
    op.drop_table("rate_card_rates")
