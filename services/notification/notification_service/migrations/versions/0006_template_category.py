"""Template categories (issue 15): what Meta changed a template translation's category from and when, and the
category an admin accepted by releasing the hold placed when it became MARKETING.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_templates") as batch:
        batch.add_column(sa.Column("previous_category", sa.String(32), nullable=True))
        batch.add_column(sa.Column("category_changed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("accepted_category", sa.String(32), nullable=True))
        batch.add_column(sa.Column("accepted_by", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_templates") as batch:
        batch.drop_column("accepted_by")
        batch.drop_column("accepted_category")
        batch.drop_column("category_changed_at")
        batch.drop_column("previous_category")
