"""Holds probe with one real send: the message chosen as the probe of a hold.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UUIDStr

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sending_holds") as batch:
        batch.add_column(sa.Column("probe_message_id", UUIDStr(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sending_holds") as batch:
        batch.drop_column("probe_message_id")
